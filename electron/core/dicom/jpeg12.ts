/**
 * 12-bit lossy JPEG (JPEG Extended, Process 4): the IJG libjpeg built for 12-bit samples, as dcmjs-codecs ships it
 * in its WebAssembly module. libjpeg-turbo's Cornerstone build is 8-bit only, so this one serves the 12-bit streams
 * alone, and is loaded (about 4 MB of WebAssembly plus dcmjs) only when the first such stream is met.
 *
 * The .wasm is read from the package folder on disk (the path is passed in, so the library never fetches it).
 */
import { createRequire } from 'node:module';
import type * as DcmjsCodecs from 'dcmjs-codecs';
import { DicomError } from './parse.ts';

const require = createRequire(import.meta.url);

let lib: typeof DcmjsCodecs | null = null;
let loading: Promise<void> | null = null;

async function codecs(): Promise<typeof DcmjsCodecs> {
  lib ??= require('dcmjs-codecs') as typeof DcmjsCodecs;
  const { NativeCodecs } = lib;
  // A loop, not an if: a failed decode may drop the instance while another caller waits for it (see below).
  while (!NativeCodecs.isInitialized()) {
    loading ??= NativeCodecs.initializeAsync({ webAssemblyModulePathOrUrl: require.resolve('dcmjs-codecs/build/dcmjs-native-codecs.wasm') })
      .finally(() => {
        loading = null;
      });
    await loading;
  }
  return lib;
}

export interface Jpeg12Frame {
  width: number;
  height: number;
  samples: number;
  /** Little-endian 16-bit samples holding the 12-bit values, pixel-interleaved. */
  bytes: Uint8Array;
}

/**
 * Decodes one 12-bit JPEG stream. Throws an Error whose message is libjpeg's reason (its "Decoder::ErrorExit::"
 * prefix dropped) when the stream is corrupt, a DicomError when the decoder cannot be loaded.
 */
export async function decodeJpeg12(data: Uint8Array, shape: { rows: number; columns: number; samples: number; photometric: string }): Promise<Jpeg12Frame> {
  let lib: typeof DcmjsCodecs;
  try {
    lib = await codecs();
    // Checked again right before the (synchronous) decode: another stream's failure may have dropped the instance
    // between codecs() returning and this line running.
    while (!lib.NativeCodecs.isInitialized()) lib = await codecs();
  } catch (e) {
    // An install without the package or its .wasm: the file is fine, the workstation is not.
    throw new DicomError(`the 12-bit JPEG decoder (dcmjs-codecs) could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { NativeCodecs, Context } = lib;
  const input = new Context({
    width: shape.columns,
    height: shape.rows,
    bitsAllocated: 16,
    bitsStored: 12,
    samplesPerPixel: shape.samples,
    // The stored bits come back as coded; the pixel reader sign-extends them for signed data, as for every codec.
    pixelRepresentation: 0,
    planarConfiguration: 0,
    photometricInterpretation: shape.photometric,
    encodedBuffer: data,
  });
  try {
    const out = NativeCodecs.decodeJpeg(input);
    return { width: out.getWidth() ?? 0, height: out.getHeight() ?? 0, samples: out.getSamplesPerPixel() ?? 0, bytes: out.getDecodedBuffer() ?? new Uint8Array(0) };
  } catch (e) {
    // libjpeg's error exit reaches JavaScript as a throw straight through the WebAssembly stack, which leaves the
    // instance's stack and heap mid-call: every later decode then fails ("memory access out of bounds"). So the
    // instance is dropped and the next 12-bit stream loads a fresh one.
    NativeCodecs.release();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.replace(/^(\w+::)+/, ''));
  }
}
