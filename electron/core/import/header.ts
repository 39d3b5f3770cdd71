/**
 * Header facts of PNG and JPEG read straight from the bytes: the two formats most imports are made of. This saves
 * a second libvips open per file (sharp's metadata() costs about as much as a small PNG's thumbnail step), which
 * the import benchmark showed as the largest overhead over a bare sharp loop. Anything unusual (EXIF in a PNG,
 * CMYK or 12-bit JPEG, a header we cannot walk) returns null and the caller asks sharp instead.
 * The fields mirror sharp's Metadata so the two sources are interchangeable (a unit test compares them).
 */
export interface HeaderFacts {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  depth: 'uchar' | 'ushort';
  bitsPerSample: number;
  space: 'b-w' | 'grey16' | 'srgb' | 'rgb16';
  hasAlpha: boolean;
  orientation: number | undefined;
  pages: number | undefined;
  autoOrient: { width: number; height: number };
}

function oriented(width: number, height: number, orientation: number | undefined) {
  return orientation && orientation >= 5 ? { width: height, height: width } : { width, height };
}

export function pngHeader(b: Buffer): HeaderFacts | null {
  if (b.length < 33 || b.toString('latin1', 12, 16) !== 'IHDR') return null;
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const bitDepth = b[24]!;
  const colorType = b[25]!;
  if (width === 0 || height === 0) return null;
  let trns = false;
  // Walk the chunks before the pixel data: transparency adds an alpha band; EXIF may carry an orientation.
  let p = 8;
  while (p + 8 <= b.length) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'tRNS') trns = true;
    if (type === 'eXIf') return null;
    p += 12 + len;
  }
  const base = ({ 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (base === undefined) return null;
  const hasAlpha = colorType === 4 || colorType === 6 || trns;
  const channels = (base + (trns && (colorType === 0 || colorType === 2 || colorType === 3) ? 1 : 0)) as 1 | 2 | 3 | 4;
  const grey = colorType === 0 || colorType === 4;
  const deep = bitDepth === 16;
  return {
    format: 'png',
    width,
    height,
    channels,
    depth: deep ? 'ushort' : 'uchar',
    bitsPerSample: bitDepth,
    space: grey ? (deep ? 'grey16' : 'b-w') : deep ? 'rgb16' : 'srgb',
    hasAlpha,
    orientation: undefined,
    pages: undefined,
    autoOrient: { width, height },
  };
}

/** The EXIF orientation (tag 0x0112 in IFD0) of an APP1 'Exif' segment's TIFF block. */
function exifOrientation(b: Buffer, start: number, end: number): number | undefined {
  if (start + 8 > end) return undefined;
  const le = b.toString('latin1', start, start + 2) === 'II';
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return undefined;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return undefined;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : undefined;
    }
  }
  return undefined;
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

export function jpegHeader(b: Buffer): HeaderFacts | null {
  let p = 2;
  let orientation: number | undefined;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      p += 2;
      continue;
    }
    const len = b.readUInt16BE(p + 2);
    const seg = p + 4;
    if (marker === 0xe1 && len >= 14 && b.toString('latin1', seg, seg + 6) === 'Exif\0\0') {
      orientation = exifOrientation(b, seg + 6, Math.min(b.length, p + 2 + len));
    }
    if (SOF.has(marker)) {
      if (seg + 6 > b.length) return null;
      const precision = b[seg]!;
      const height = b.readUInt16BE(seg + 1);
      const width = b.readUInt16BE(seg + 3);
      const components = b[seg + 5]!;
      if (precision !== 8 || (components !== 1 && components !== 3) || width === 0 || height === 0) return null;
      return {
        format: 'jpeg',
        width,
        height,
        channels: components,
        depth: 'uchar',
        bitsPerSample: 8,
        space: components === 1 ? 'b-w' : 'srgb',
        hasAlpha: false,
        orientation,
        pages: undefined,
        autoOrient: oriented(width, height, orientation),
      };
    }
    if (marker === 0xda || marker === 0xd9) return null;
    p += 2 + len;
  }
  return null;
}
