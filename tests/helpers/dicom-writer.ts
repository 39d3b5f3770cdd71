/**
 * A minimal DICOM writer for unit tests: explicit VR little endian (or implicit, or a bare data set), with the
 * elements given. Just enough to make headers that say what a test needs (huge sizes, odd tags, bad values).
 */
const LONG = new Set(['OB', 'OD', 'OF', 'OL', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);

export type Value = string | Uint8Array | { us: number[] } | { ss: number[] } | { ul: number[] } | { items: El[][] };
export interface El { tag: number; vr: string; value: Value }

function bytesOf(v: Value, explicit = true): Uint8Array {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'latin1');
    return b.length % 2 ? Buffer.concat([b, Buffer.from(' ')]) : b;
  }
  if (v instanceof Uint8Array) return v.length % 2 ? Buffer.concat([v, Buffer.alloc(1)]) : v;
  if ('us' in v) return new Uint8Array(Uint16Array.from(v.us).buffer);
  if ('ss' in v) return new Uint8Array(Int16Array.from(v.ss).buffer);
  if ('items' in v) {
    // Items of defined length (FFFE,E000), each a nested data set.
    return Buffer.concat(
      v.items.map((els) => {
        const body = dataSet(els, explicit);
        const head = Buffer.alloc(8);
        head.writeUInt16LE(0xfffe, 0);
        head.writeUInt16LE(0xe000, 2);
        head.writeUInt32LE(body.length, 4);
        return Buffer.concat([head, body]);
      }),
    );
  }
  return new Uint8Array(Uint32Array.from(v.ul).buffer);
}

function element(e: El, explicit: boolean): Buffer {
  const value = bytesOf(e.value, explicit);
  const head = Buffer.alloc(explicit && LONG.has(e.vr) ? 12 : 8);
  head.writeUInt16LE(e.tag >>> 16, 0);
  head.writeUInt16LE(e.tag & 0xffff, 2);
  if (!explicit) head.writeUInt32LE(value.length, 4);
  else if (LONG.has(e.vr)) {
    head.write(e.vr, 4, 'latin1');
    head.writeUInt32LE(value.length, 8);
  } else {
    head.write(e.vr, 4, 'latin1');
    head.writeUInt16LE(value.length, 6);
  }
  return Buffer.concat([head, value]);
}

export function dataSet(elements: El[], explicit = true): Buffer {
  return Buffer.concat([...elements].sort((a, b) => a.tag - b.tag).map((e) => element(e, explicit)));
}

/** A Part 10 file: preamble, DICM, meta header with the transfer syntax, then the data set. */
export function part10(elements: El[], syntax = '1.2.840.10008.1.2.1'): Buffer {
  const meta = dataSet([{ tag: 0x00020010, vr: 'UI', value: syntax }]);
  const group = dataSet([{ tag: 0x00020000, vr: 'UL', value: { ul: [meta.length] } }]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), group, meta, dataSet(elements, syntax !== '1.2.840.10008.1.2')]);
}

/** The pixel module tags of a monochrome image, overridable. */
export function pixelTags(o: { rows?: number; columns?: number; bits?: number; stored?: number; signed?: boolean; frames?: number; photometric?: string; samples?: number } = {}): El[] {
  const els: El[] = [
    { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
    { tag: 0x00080018, vr: 'UI', value: '1.2.3.4' },
    { tag: 0x00280002, vr: 'US', value: { us: [o.samples ?? 1] } },
    { tag: 0x00280004, vr: 'CS', value: o.photometric ?? 'MONOCHROME2' },
    { tag: 0x00280010, vr: 'US', value: { us: [o.rows ?? 2] } },
    { tag: 0x00280011, vr: 'US', value: { us: [o.columns ?? 2] } },
    { tag: 0x00280100, vr: 'US', value: { us: [o.bits ?? 16] } },
    { tag: 0x00280101, vr: 'US', value: { us: [o.stored ?? o.bits ?? 16] } },
    { tag: 0x00280102, vr: 'US', value: { us: [(o.stored ?? o.bits ?? 16) - 1] } },
    { tag: 0x00280103, vr: 'US', value: { us: [o.signed ? 1 : 0] } },
  ];
  if (o.frames !== undefined) els.push({ tag: 0x00280008, vr: 'IS', value: String(o.frames) });
  return els;
}

export function pixelData(bytes: Uint8Array, vr = 'OW'): El {
  return { tag: 0x7fe00010, vr, value: bytes };
}
