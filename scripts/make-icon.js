// Renders resources/icon.svg to resources/icon.png (512x512), the icon electron-builder turns into the
// AppImage/deb, NSIS and dmg icons. Run after editing the SVG: `node scripts/make-icon.js`.
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';

const svg = fileURLToPath(new URL('../resources/icon.svg', import.meta.url));
const png = fileURLToPath(new URL('../resources/icon.png', import.meta.url));
const info = await sharp(svg, { density: 144 }).resize(512, 512).png({ compressionLevel: 9 }).toFile(png);
console.log(`Wrote ${png} (${info.width}x${info.height}, ${info.size} bytes)`);
