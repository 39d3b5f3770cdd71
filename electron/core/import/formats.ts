/** File kinds Loupe considers at import. Content decides in the end (see probe.ts); extensions are a first cut. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.tif', '.tiff', '.webp', '.gif', '.bmp', '.dib']);

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

export function hasImageExtension(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extensionOf(name));
}
