/**
 * The server's Ed25519 key pair, which signs manifests. Devices are built with the public key
 * and run nothing whose manifest does not verify (design invariant 3). The private key lives
 * outside the database (a file or the environment, key_store.ts): whoever reads a backup or
 * the database must not be able to sign for the fleet.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import type { PublicKeyResponse } from '../src/protocol/index.ts';
import { manifestKeyId } from '../src/protocol/index.ts';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Stored form: PKCS#8 DER of the private key, base64. */
export function generateSigningKey(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
}

/** Throws for anything that is not a base64 PKCS#8 Ed25519 private key. */
export function loadSigningKey(pkcs8Base64: string): SigningKey {
  const privateKey = createPrivateKey({
    key: Buffer.from(pkcs8Base64.trim(), 'base64'),
    format: 'der',
    type: 'pkcs8',
  });
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new TypeError(`an ${privateKey.asymmetricKeyType} key, not Ed25519`);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Detached signature of exactly these bytes, base64. */
export function signBytes(key: SigningKey, bytes: Uint8Array): string {
  return sign(null, bytes, key.privateKey).toString('base64');
}

/** The raw public key, base64: what apps are built with. */
export function rawPublicKey(key: SigningKey): string {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}

/** The key's id (protocol.ts `manifestKeyId`), sent with every signature it makes. */
export function keyIdOf(key: SigningKey): string {
  return manifestKeyId(rawPublicKey(key));
}

/** `GET /v1/public-key`; `nextRaw` is the raw public key of a prepared next key. */
export function describePublicKey(key: SigningKey, nextRaw?: string): PublicKeyResponse {
  const raw = rawPublicKey(key);
  return {
    algorithm: 'Ed25519',
    raw,
    spki: key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: manifestKeyId(raw),
    ...(nextRaw ? { next: { raw: nextRaw, keyId: manifestKeyId(nextRaw) } } : {}),
  };
}
