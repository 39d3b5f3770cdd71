/** The training recipes of issue 13's goals, as `loupe train` flags: bench:train times them, bench:infer trains its models with them. */
export const RECIPES: Record<string, { description: string; flags: string[] }> = {
  lenet: {
    description: 'LeNet-5, 28 px grey, batch 64, SGD lr 0.01 momentum 0.9, no dropout, no augmentation',
    flags: ['--arch', 'lenet5', '--image-size', '28', '--channels', '1', '--batch', '64', '--optimizer', 'sgd', '--lr', '0.01', '--momentum', '0.9', '--dropout', '0', '--augment', 'none', '--schedule', 'constant', '--no-early-stop'],
  },
  resnet: {
    description: 'compact ResNet width 16 depth 2, 64 px grey, batch 64, Adam lr 0.001, no augmentation',
    flags: ['--arch', 'resnet', '--width', '16', '--depth', '2', '--image-size', '64', '--channels', '1', '--batch', '64', '--optimizer', 'adam', '--lr', '0.001', '--augment', 'none', '--schedule', 'constant', '--no-early-stop'],
  },
  defaults: {
    description: 'the one-click defaults (training:suggest, augmentation on); PyTorch: same config, torchvision augmentations, DataLoader of 2 workers',
    flags: [],
  },
};
