// Registers Loupe's training layers under tfjs's class names (BatchNormalization in batch-norm.ts; Conv2D and
// Dense in relu-bias.ts; Add in residual-add.ts; Activation in activation.ts): a model loaded in this process (a
// checkpoint, a gradient thread's copy, the GPU host page's) trains with their fused passes, as a freshly built one does.
import './batch-norm.ts';
import './activation.ts';
import './relu-bias.ts';
import './residual-add.ts';
