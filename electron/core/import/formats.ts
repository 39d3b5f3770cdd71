/**
 * File kinds Loupe considers at import. Extensions are only a first cut (which files to look at); the content
 * decides (magic bytes here, then the decoder in probe.ts). A PNG named `.jpg` imports; a text file named `.png`
 * is an error "not an image".
 *
 * Files with no extension at all are sniffed by their first bytes and imported when they hold an image (scanners
 * and DICOM exporters often drop extensions). Files with any other extension (.txt, .csv, .json, …) are ignored
 * without being opened, so annotation files next to images cost nothing.
 */
import { basename } from 'node:path';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.tif', '.tiff', '.webp', '.gif', '.bmp', '.dib', '.dcm', '.dicom', '.dic']);

/** Operating-system clutter that never counts as an import candidate (counted as `ignored`). */
const SYSTEM_FILES = new Set(['thumbs.db', 'ehthumbs.db', 'desktop.ini', '.ds_store', 'icon\r']);
const SYSTEM_DIRS = new Set(['__macosx', '$recycle.bin', 'system volume information', '@eadir', 'lost+found']);

export type SniffedKind = 'jpeg' | 'png' | 'gif' | 'tiff' | 'webp' | 'bmp';

/** How many leading bytes `sniffFormat` needs. */
export const SNIFF_BYTES = 12;

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

/** The extensions above, for code that cannot call hasImageExtension (the folder browser's listing thread). */
export function imageExtensions(): string[] {
  return [...IMAGE_EXTENSIONS];
}

export function hasImageExtension(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extensionOf(name));
}

/** A name without any extension ("scan0001"): sniffed by content at scan time. */
export function hasNoExtension(name: string): boolean {
  return extensionOf(basename(name)) === '';
}

/** Dot-files (incl. macOS `._x` AppleDouble files) and OS clutter such as Thumbs.db. */
export function isHiddenOrSystemFile(name: string): boolean {
  return name.startsWith('.') || SYSTEM_FILES.has(name.toLowerCase());
}

/** Dot-folders (.git, .cache, …) and OS folders such as __MACOSX: never descended into. */
export function isHiddenOrSystemDir(name: string): boolean {
  return name.startsWith('.') || SYSTEM_DIRS.has(name.toLowerCase());
}

/** Recognizes an image by its magic bytes; null when the content is not an image Loupe knows. */
export function sniffFormat(head: Uint8Array): SniffedKind | null {
  const b = head;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a) {
    return 'png';
  }
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b.length >= 4 && b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) return 'tiff';
  if (b.length >= 4 && b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a) return 'tiff';
  // BigTIFF (version 43).
  if (b.length >= 4 && b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2b && b[3] === 0x00) return 'tiff';
  if (b.length >= 4 && b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2b) return 'tiff';
  if (
    b.length >= 12 &&
    b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50
  ) {
    return 'webp';
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return null;
}

/** The extension family a sniffed kind is usually stored under, to note a mismatch (e.g. PNG named .jpg). */
export function extensionMatches(kind: SniffedKind, name: string): boolean {
  const ext = extensionOf(name);
  if (ext === '') return true;
  switch (kind) {
    case 'jpeg':
      return ['.jpg', '.jpeg', '.jpe', '.jfif'].includes(ext);
    case 'png':
      return ext === '.png';
    case 'gif':
      return ext === '.gif';
    case 'tiff':
      return ext === '.tif' || ext === '.tiff';
    case 'webp':
      return ext === '.webp';
    case 'bmp':
      return ext === '.bmp' || ext === '.dib';
  }
}
