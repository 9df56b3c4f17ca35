/**
 * The server's Ed25519 key pair, which signs manifests. Devices are built with the public key
 * and run nothing whose manifest does not verify (design invariant 3), so the key is made once
 * and kept in the database: every server process sharing the database signs with the same key.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import type { PublicKeyResponse } from '../src/sync/protocol.ts';
import { manifestKeyId } from '../src/sync/protocol.ts';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Stored form: PKCS#8 DER of the private key, base64. */
export function generateSigningKey(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
}

export function loadSigningKey(pkcs8Base64: string): SigningKey {
  const privateKey = createPrivateKey({
    key: Buffer.from(pkcs8Base64, 'base64'),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Detached signature of exactly these bytes, base64. */
export function signBytes(key: SigningKey, bytes: Uint8Array): string {
  return sign(null, bytes, key.privateKey).toString('base64');
}

function rawPublicKey(key: SigningKey): string {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
}

/** The key's id (protocol.ts `manifestKeyId`), sent with every signature it makes. */
export function keyIdOf(key: SigningKey): string {
  return manifestKeyId(rawPublicKey(key));
}

export function describePublicKey(key: SigningKey, next?: SigningKey): PublicKeyResponse {
  const raw = rawPublicKey(key);
  return {
    algorithm: 'Ed25519',
    raw,
    spki: key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: manifestKeyId(raw),
    ...(next ? { next: { raw: rawPublicKey(next), keyId: keyIdOf(next) } } : {}),
  };
}
