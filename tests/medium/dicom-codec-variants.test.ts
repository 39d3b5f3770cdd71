/**
 * Compressed variants of uncompressed pydicom test files, made here with dcmtk (dcmcjpeg, dcmcjpls, dcmcrle) and
 * gdcm (gdcmconv --j2k), then decoded by Loupe and compared with Loupe's reading of the uncompressed original:
 * lossless syntaxes exactly; JPEG-LS near-lossless within its NEAR bound; JPEG baseline within a few levels.
 * CI installs dcmtk and libgdcm-tools: a missing tool fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrame, readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';
import { PYDICOM_FILES, concatValues } from '../helpers/dicom-reference.ts';
import { tempDir } from '../helpers/tmp.ts';

const dir = tempDir('loupe-dicom-variants-');

function image(path: string): DicomImage {
  const c = readDicom(readFileSync(path));
  assert.equal(c.kind, 'image', path);
  return c as DicomImage;
}

async function allValues(img: DicomImage): Promise<number[]> {
  const frames = [];
  for (let i = 0; i < img.pixel.frames; i++) frames.push((await decodeFrame(img, i)).values);
  return concatValues(frames);
}

/** Runs a converter; its absence is an error (CI installs it). */
function convert(tool: string, args: string[], input: string, name: string): string {
  const out = join(dir, name);
  execFileSync(tool, [...args, input, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

interface Variant {
  source: string;
  tool: string;
  args: string[];
  syntax: string;
  /** Largest allowed difference per value; 0 for lossless. */
  maxDiff: number;
  /** Largest allowed mean absolute difference (lossy JPEG). */
  meanDiff?: number;
  /** Uncompress the source first (dcmtk's JPEG encoders read native data only). */
  native?: boolean;
}

const VARIANTS: Variant[] = [
  { source: 'CT_small.dcm', tool: 'dcmcjpeg', args: ['+e1'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'CT_small.dcm', tool: 'dcmcjpeg', args: ['+el'], syntax: '1.2.840.10008.1.2.4.57', maxDiff: 0 },
  { source: 'CT_small.dcm', tool: 'dcmcjpls', args: ['+el'], syntax: '1.2.840.10008.1.2.4.80', maxDiff: 0 },
  { source: 'CT_small.dcm', tool: 'dcmcrle', args: [], syntax: '1.2.840.10008.1.2.5', maxDiff: 0 },
  { source: 'CT_small.dcm', tool: 'gdcmconv', args: ['--j2k'], syntax: '1.2.840.10008.1.2.4.90', maxDiff: 0 },
  { source: 'MR_small.dcm', tool: 'dcmcjpls', args: ['+el'], syntax: '1.2.840.10008.1.2.4.80', maxDiff: 0 },
  { source: 'MR_small.dcm', tool: 'gdcmconv', args: ['--j2k'], syntax: '1.2.840.10008.1.2.4.90', maxDiff: 0 },
  { source: 'SC_rgb_small_odd.dcm', tool: 'dcmcjpeg', args: ['+e1'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'SC_rgb_small_odd.dcm', tool: 'dcmcjpls', args: ['+el'], syntax: '1.2.840.10008.1.2.4.80', maxDiff: 0 },
  { source: 'SC_rgb_small_odd.dcm', tool: 'dcmcrle', args: [], syntax: '1.2.840.10008.1.2.5', maxDiff: 0 },
  // dcmcjpls refuses near-lossless for signed data; gdcmconv crashes on the odd-sized RGB file (double free).
  { source: 'image_dfl.dcm', tool: 'dcmcjpls', args: ['+en', '+md', '2'], syntax: '1.2.840.10008.1.2.4.81', maxDiff: 2 },
  { source: 'SC_rgb_rle.dcm', native: true, tool: 'dcmcjpls', args: ['+en', '+md', '2'], syntax: '1.2.840.10008.1.2.4.81', maxDiff: 2 },
  { source: 'SC_rgb_rle.dcm', tool: 'gdcmconv', args: ['--j2k'], syntax: '1.2.840.10008.1.2.4.90', maxDiff: 0 },
  { source: 'SC_rgb_small_odd.dcm', tool: 'dcmcjpeg', args: ['+eb'], syntax: '1.2.840.10008.1.2.4.50', maxDiff: 255, meanDiff: 4 },
  // Multi-frame, 32-bit: fifteen RT dose frames as RLE.
  { source: 'rtdose.dcm', tool: 'dcmcrle', args: [], syntax: '1.2.840.10008.1.2.5', maxDiff: 0 },
  // Multi-frame encapsulated data: with and without a Basic Offset Table, one or several fragments per frame.
  { source: 'SC_rgb_rle_2frame.dcm', native: true, tool: 'dcmcjpeg', args: ['+e1'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'SC_rgb_rle_2frame.dcm', native: true, tool: 'dcmcjpeg', args: ['+e1', '-ot'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'SC_rgb_rle_2frame.dcm', native: true, tool: 'dcmcjpeg', args: ['+e1', '+fs', '1'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'SC_rgb_rle_2frame.dcm', native: true, tool: 'dcmcjpeg', args: ['+e1', '+fs', '1', '-ot'], syntax: '1.2.840.10008.1.2.4.70', maxDiff: 0 },
  { source: 'SC_rgb_rle_2frame.dcm', native: true, tool: 'dcmcjpls', args: ['+fs', '1', '-ot'], syntax: '1.2.840.10008.1.2.4.80', maxDiff: 0 },
];

for (const [i, v] of VARIANTS.entries()) {
  test(`${v.tool} ${v.args.join(' ')} of ${v.source} decodes like the original (${v.maxDiff === 0 ? 'exactly' : `within ${v.meanDiff ?? v.maxDiff}`})`, async () => {
    const original = image(join(PYDICOM_FILES, v.source));
    const input = v.native ? convert('dcmdrle', [], join(PYDICOM_FILES, v.source), `n${i}.dcm`) : join(PYDICOM_FILES, v.source);
    const variant = image(convert(v.tool, v.args, input, `v${i}.dcm`));
    assert.equal(variant.parsed.syntax.uid, v.syntax, 'transfer syntax of the variant');
    assert.equal(variant.pixel.frames, original.pixel.frames);
    const a = await allValues(original);
    const b = await allValues(variant);
    assert.equal(b.length, a.length);
    let worst = 0;
    let sum = 0;
    for (let k = 0; k < a.length; k++) {
      const d = Math.abs(a[k]! - b[k]!);
      sum += d;
      if (d > worst) worst = d;
    }
    assert.ok(worst <= v.maxDiff, `largest difference ${worst}`);
    if (v.meanDiff !== undefined) assert.ok(sum / a.length <= v.meanDiff, `mean difference ${sum / a.length}`);
  });
}
