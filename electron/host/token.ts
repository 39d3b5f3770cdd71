/** The browser host's launch token: what a token given from outside (LOUPE_TOKEN, --token-file) must be. */
import { LoupeError } from '../../shared/contract.ts';

/**
 * A launch token must be unguessable by another local user: at least 32 characters of base64url, which is
 * 128 bits even if each character carried only a hex digit's worth (the host's own tokens carry 192).
 */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,512}$/;

/** Throws unless `token` is long enough, and of characters safe in a URL and a header, to guard the host. */
export function assertStrongToken(token: string): void {
  if (!TOKEN_PATTERN.test(token)) {
    throw new LoupeError('VALIDATION', 'A host token must be 32 to 512 characters of A-Z, a-z, 0-9, - and _ (at least 128 bits)');
  }
}
