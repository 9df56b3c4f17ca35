// Manifest signatures made by the server's own signing code (server/signing.ts), checked by the
// device's verifier with Node's WebCrypto Ed25519 and with the @noble/ed25519 fallback.
import { describe, expect, test } from 'vitest';
import {
  describePublicKey,
  generateSigningKey,
  loadSigningKey,
  signBytes,
} from '../../../../server/signing.ts';
import {
  importManifestKey,
  type SignatureBackend,
} from '../../../../src/rollout/manifest/signature.ts';

const key = loadSigningKey(generateSigningKey());
const other = loadSigningKey(generateSigningKey());
const publicKey = describePublicKey(key).raw;
const body = new TextEncoder().encode('{"protocol":1,"revision":7,"versions":[]}');
const signature = signBytes(key, body);

function flipBase64(text: string, at: number): string {
  const bytes = Buffer.from(text, 'base64');
  bytes[at] ^= 0x01;
  return bytes.toString('base64');
}

describe.each<SignatureBackend>(['webcrypto', 'noble'])('manifest verifier (%s)', (backend) => {
  test('uses the backend asked for', async () => {
    expect((await importManifestKey(publicKey, { backend })).backend).toBe(backend);
  });

  test('accepts the server signature of the exact bytes', async () => {
    const verifier = await importManifestKey(publicKey, { backend });
    expect(await verifier.verify(body, signature)).toBe(true);
  });

  test('refuses changed bytes, another key, and garbled or missing signatures', async () => {
    const verifier = await importManifestKey(publicKey, { backend });
    const changed = body.slice();
    changed[10] ^= 0x20;
    expect(await verifier.verify(changed, signature)).toBe(false);
    expect(await verifier.verify(body.subarray(0, body.length - 1), signature)).toBe(false);
    expect(await verifier.verify(body, signBytes(other, body))).toBe(false);
    expect(await verifier.verify(body, flipBase64(signature, 0))).toBe(false);
    expect(await verifier.verify(body, flipBase64(signature, 63))).toBe(false);
    for (const garbled of [null, '', 'not base64!', signature.slice(0, -4), `${signature}AAAA`]) {
      expect(await verifier.verify(body, garbled)).toBe(false);
    }
    // 64 bytes that are no signature at all (the scalar part out of range).
    expect(await verifier.verify(body, Buffer.alloc(64, 0xff).toString('base64'))).toBe(false);
  });
});

describe('manifest key', () => {
  test('the default picks WebCrypto in Node 20', async () => {
    expect((await importManifestKey(publicKey)).backend).toBe('webcrypto');
  });

  test.each([
    ['empty', ''],
    ['not base64', '!'.repeat(44)],
    ['31 bytes', Buffer.alloc(31, 1).toString('base64')],
    ['33 bytes', Buffer.alloc(33, 1).toString('base64')],
    ['the SPKI PEM instead of the raw key', describePublicKey(key).spki],
  ])('%s is a BAD_CONFIG', async (_name, raw) => {
    await expect(importManifestKey(raw)).rejects.toMatchObject({ code: 'BAD_CONFIG' });
    await expect(importManifestKey(raw, { backend: 'noble' })).rejects.toMatchObject({
      code: 'BAD_CONFIG',
    });
  });

  test('a 32-byte string that is not a curve point is a BAD_CONFIG for noble', async () => {
    // y = 2 is not the y coordinate of any point on edwards25519.
    const notAPoint = Buffer.alloc(32);
    notAPoint[0] = 2;
    await expect(
      importManifestKey(notAPoint.toString('base64'), { backend: 'noble' }),
    ).rejects.toMatchObject({ code: 'BAD_CONFIG' });
  });
});
