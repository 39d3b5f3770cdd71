/**
 * predict.mjs, shipped in every bundle: the smallest complete example of running the model outside Loupe, with
 * Node, @tensorflow/tfjs and sharp. It mirrors Loupe's preprocessing (electron/core/images/model-input.ts) for
 * 8-bit images; `loupe predict` remains the reference (it also checks the bundle's hashes and scales 16-bit
 * images by their own range).
 */
export const SAMPLE_SCRIPT = `// Runs this model bundle on images with Node.js.
//   npm install @tensorflow/tfjs sharp
//   node predict.mjs image1.png [image2.jpg ...]
// Prints one line per image: file, predicted class, confidence. \`loupe predict\` does the same and also verifies
// the bundle's checksums and handles 16-bit images exactly as Loupe does.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));
const read = (name) => readFileSync(join(here, name));
const labels = JSON.parse(read('labels.json'));
const pre = JSON.parse(read('preprocessing.json'));
const modelJson = JSON.parse(read('model.json'));
const weights = Buffer.concat(modelJson.weightsManifest.flatMap((group) => group.paths.map(read)));
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }),
);

const fit = { squash: 'fill', letterbox: 'contain', 'center-crop': 'cover' }[pre.resize];
const size = pre.imageSize;
const channels = pre.channels;
const { mean, std } = pre.normalization;

/** The file as the model's input: oriented, resized, in the model's colours, (byte / 255 - mean) / std. */
async function input(file) {
  let image = sharp(file, { autoOrient: true })
    .resize(size, size, { fit, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } })
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  const x = new Float32Array(size * size * channels);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < channels; c++) {
      const byte = data[i * info.channels + Math.min(c, info.channels - 1)];
      x[i * channels + c] = (byte / 255 - mean[c]) / std[c];
    }
  }
  return x;
}

for (const file of process.argv.slice(2)) {
  const x = await input(file);
  const probs = tf.tidy(() => model.predict(tf.tensor4d(x, [1, size, size, channels])).dataSync());
  let best = 0;
  for (let c = 1; c < probs.length; c++) if (probs[c] > probs[best]) best = c;
  console.log(\`\${file}\\t\${labels[best]}\\t\${probs[best].toFixed(4)}\`);
}
`;
