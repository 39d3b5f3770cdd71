// Grey PNGs of two easily told classes (a bright disc vs a bright bar) for tiny training tests: grey, so models
// with 3 input channels exercise grey → RGB, and 40×40, so smaller inputs exercise resizing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export async function writeShapeImages(root: string, perClass: number): Promise<void> {
  for (const [cls, shape] of [['disc', 'circle'], ['bar', 'bar']] as const) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(40 * 40);
      for (let y = 0; y < 40; y++)
        for (let x = 0; x < 40; x++) {
          const inside = shape === 'circle' ? (x - 20) ** 2 + (y - 20) ** 2 < (8 + (i % 5)) ** 2 : Math.abs(x - 10 - i) < 3;
          px[y * 40 + x] = inside ? 220 : 30 + ((x * 7 + y * 3 + i) % 20);
        }
      writeFileSync(join(root, cls, `${i}.png`), await sharp(px, { raw: { width: 40, height: 40, channels: 1 } }).png().toBuffer());
    }
  }
}
