/**
 * Checks the detached Ed25519 signature (RFC 8032) the sync server puts on each manifest
 * (protocol.ts, SIGNATURE_HEADER) against the public key the app was built with (design
 * invariant 3: unverified bytes are never run).
 *
 * WebCrypto's Ed25519 is used where the runtime has it; elsewhere `@noble/ed25519` (audited,
 * ~5 kB) is loaded on first use, so runtimes with native support never download it. Both
 * verify RFC 8032 strictly (noble with `zip215: false`), so a signature is accepted or refused
 * the same way whichever one runs.
 */
import { describeError, LearnerError } from '../../errors.ts';
import { manifestKeyId } from '../../protocol/index.ts';

export type SignatureBackend = 'webcrypto' | 'noble';

export interface ManifestVerifier {
  /** Which implementation verifies (for diagnostics and tests). */
  readonly backend: SignatureBackend;
  /** The ids of the keys it verifies with (protocol.ts `manifestKeyId`). */
  readonly keyIds?: readonly string[];
  /**
   * Whether `signatureBase64` (standard base64, padded, 64 bytes) is a valid signature of
   * exactly `bytes`, by the key `keyId` when given (else by any key held). A missing, garbled
   * or wrong signature is `false`; this never throws.
   */
  verify(
    bytes: Uint8Array,
    signatureBase64: string | null,
    keyId?: string | null,
  ): Promise<boolean>;
}

/**
 * The verifier of several keys: the app's key set during a rotation (server/README.md,
 * "Rotating the signing key"). A signature names its key; without a name, any key may match.
 */
export async function importManifestKeys(
  rawKeys: readonly string[],
  options: ImportKeyOptions = {},
): Promise<ManifestVerifier> {
  if (!Array.isArray(rawKeys) || rawKeys.length === 0)
    throw new LearnerError('BAD_CONFIG', 'manifest keys: expected at least one public key');
  const keys = await Promise.all(
    rawKeys.map(async (raw) => ({
      id: manifestKeyId(raw),
      verifier: await importManifestKey(raw, options),
    })),
  );
  return {
    backend: keys[0].verifier.backend,
    keyIds: keys.map((k) => k.id),
    async verify(bytes, signatureBase64, keyId) {
      for (const key of keys) {
        if (keyId && key.id !== keyId) continue;
        if (await key.verifier.verify(bytes, signatureBase64)) return true;
      }
      return false;
    },
  };
}

export interface ImportKeyOptions {
  /** Force one implementation (tests exercise both); default: WebCrypto when available. */
  backend?: SignatureBackend;
}

const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
// 32 bytes → 44 characters ending in one '='; 64 bytes → 88 characters ending in '=='.
const KEY_PATTERN = /^[A-Za-z0-9+/]{43}=$/;
const SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{86}==$/;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The signature's bytes, or undefined when it cannot be one. */
function decodeSignature(signature: string | null): Uint8Array<ArrayBuffer> | undefined {
  if (typeof signature !== 'string') return undefined;
  const trimmed = signature.trim();
  if (!SIGNATURE_PATTERN.test(trimmed)) return undefined;
  const bytes = decodeBase64(trimmed);
  return bytes.length === SIGNATURE_BYTES ? bytes : undefined;
}

/**
 * Imports the server's raw public key (`PublicKeyResponse.raw`: 32 bytes, base64). A key that
 * is not 32 bytes of base64, or not a point on the curve, is a BAD_CONFIG: the app was built
 * wrong, and no manifest could ever verify.
 */
export async function importManifestKey(
  rawBase64: string,
  options: ImportKeyOptions = {},
): Promise<ManifestVerifier> {
  if (typeof rawBase64 !== 'string' || !KEY_PATTERN.test(rawBase64.trim()))
    throw new LearnerError(
      'BAD_CONFIG',
      'manifest key: expected the 32-byte raw Ed25519 public key in base64 (PublicKeyResponse.raw)',
    );
  const raw = decodeBase64(rawBase64.trim());
  if (raw.length !== KEY_BYTES)
    throw new LearnerError('BAD_CONFIG', `manifest key: ${raw.length} bytes, expected 32`);

  if (options.backend !== 'noble') {
    const native = await importNative(raw);
    if (native) return native;
    if (options.backend === 'webcrypto')
      throw new LearnerError('BAD_CONFIG', 'manifest key: this runtime has no WebCrypto Ed25519');
  }
  return importNoble(raw);
}

async function importNative(raw: Uint8Array<ArrayBuffer>): Promise<ManifestVerifier | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  let key: CryptoKey;
  try {
    key = await subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
  } catch (error) {
    // NotSupportedError: no Ed25519 here, use the library. Anything else: the key is bad.
    if ((error as { name?: string } | null)?.name === 'NotSupportedError') return undefined;
    throw new LearnerError('BAD_CONFIG', `manifest key: ${describeError(error)}`);
  }
  return {
    backend: 'webcrypto',
    keyIds: [manifestKeyId(btoa(String.fromCharCode(...raw)))],
    async verify(bytes, signatureBase64) {
      const signature = decodeSignature(signatureBase64);
      if (!signature) return false;
      try {
        return await subtle.verify(
          { name: 'Ed25519' },
          key,
          signature,
          bytes as Uint8Array<ArrayBuffer>,
        );
      } catch {
        return false;
      }
    },
  };
}

async function importNoble(raw: Uint8Array<ArrayBuffer>): Promise<ManifestVerifier> {
  const ed = await import('@noble/ed25519');
  try {
    ed.Point.fromBytes(raw);
  } catch (error) {
    throw new LearnerError(
      'BAD_CONFIG',
      `manifest key: not an Ed25519 point (${describeError(error)})`,
    );
  }
  return {
    backend: 'noble',
    keyIds: [manifestKeyId(btoa(String.fromCharCode(...raw)))],
    async verify(bytes, signatureBase64) {
      const signature = decodeSignature(signatureBase64);
      if (!signature) return false;
      try {
        return await ed.verifyAsync(signature, bytes, raw, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}
