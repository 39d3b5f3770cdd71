/**
 * A tag (gggg,eeee) as a 32-bit number and the spellings the DICOM code needs of it: dicom-parser's element key
 * ('xggggeeee'), the dictionary's ('GGGGEEEE'), and the label people read ('GGGG,EEEE'). One place, so that a key
 * built for a lookup always matches the parser's and a message always names the tag the dump shows.
 */

/** Eight hex digits, lower case, as dicom-parser spells them. */
function hex8(tag: number): string {
  return (tag >>> 0).toString(16).padStart(8, '0');
}

/** dicom-parser's key of `tag` in `DataSet.elements`: 'x' and eight lower-case hex digits. */
export function elementKey(tag: number): string {
  return `x${hex8(tag)}`;
}

/** The tag of a dicom-parser element key ('xggggeeee'). */
export function tagOfKey(key: string): number {
  return parseInt(key.slice(1), 16);
}

/** The dictionary's key of `tag` (dictionary-data.ts): eight upper-case hex digits. */
export function dictionaryKey(tag: number): string {
  return hex8(tag).toUpperCase();
}

/** `tag` as people read it in a dump or a message: 'GGGG,EEEE'. */
export function tagLabel(tag: number): string {
  const h = dictionaryKey(tag);
  return `${h.slice(0, 4)},${h.slice(4)}`;
}
