/**
 * A fast, non-cryptographic content hash for detecting corrupt snapshots (a flipped bit on disk,
 * a half-written record, a record edited by hand). Typed arrays are hashed over their raw bytes,
 * so Float64 weights are covered exactly (including -0 and NaN payloads); everything else is
 * walked in a canonical order (object keys sorted), so the hash depends on content only.
 *
 * Two independent 32-bit MurmurHash3-style lanes give a 64-bit result: an accidental match is
 * ~2⁻⁶⁴. This is not a defence against deliberate tampering — nothing on the device can be.
 */
export function checksum(value: unknown): string {
  const hasher = new Hasher();
  hasher.value(value);
  return hasher.digest();
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

class Hasher {
  private h1 = 0x9747b28c;
  private h2 = 0x2f6a1e3d;
  private length = 0;
  private readonly scratch = new Float64Array(1);
  private readonly scratchWords = new Uint32Array(this.scratch.buffer);

  value(value: unknown): void {
    if (value === null) this.tag(1);
    else if (value === undefined) this.tag(2);
    else if (typeof value === 'boolean') this.tag(value ? 3 : 4);
    else if (typeof value === 'number') {
      this.tag(5);
      this.scratch[0] = value;
      this.word(this.scratchWords[0]);
      this.word(this.scratchWords[1]);
    } else if (typeof value === 'string') this.string(value, 6);
    else if (typeof value === 'bigint') this.string(value.toString(), 7);
    else if (typeof value !== 'object') throw new TypeError(`cannot hash a ${typeof value}`);
    else if (ArrayBuffer.isView(value)) {
      this.string(value.constructor.name, 8);
      this.bytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    } else if (value instanceof ArrayBuffer) {
      this.tag(9);
      this.bytes(new Uint8Array(value));
    } else if (Array.isArray(value)) {
      this.tag(10);
      this.word(value.length);
      for (const item of value) this.value(item);
    } else {
      const keys = Object.keys(value).sort();
      this.tag(11);
      this.word(keys.length);
      for (const key of keys) {
        this.string(key, 12);
        this.value((value as Record<string, unknown>)[key]);
      }
    }
  }

  digest(): string {
    const a = fmix(this.h1 ^ this.length) >>> 0;
    const b = fmix(this.h2 ^ this.length) >>> 0;
    return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
  }

  private tag(tag: number): void {
    this.word(0xfeed0000 | tag);
  }

  private string(text: string, tag: number): void {
    this.tag(tag);
    this.word(text.length);
    for (let i = 0; i < text.length; i++) this.word(text.charCodeAt(i));
  }

  private bytes(bytes: Uint8Array): void {
    this.word(bytes.length);
    const whole = bytes.length >>> 2;
    if (bytes.byteOffset % 4 === 0) {
      // Aligned: read 32-bit words straight from the buffer (the common case, and fast).
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole);
      for (let i = 0; i < whole; i++) this.word(words[i]);
    } else {
      for (let i = 0; i < whole; i++) {
        const o = i * 4;
        this.word(bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24));
      }
    }
    for (let i = whole * 4; i < bytes.length; i++) this.word(bytes[i]);
  }

  private word(k: number): void {
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    this.h1 ^= k;
    this.h1 = (this.h1 << 13) | (this.h1 >>> 19);
    this.h1 = (Math.imul(this.h1, 5) + 0xe6546b64) | 0;
    // Second lane: different rotation and constants, so the lanes do not collide together.
    this.h2 ^= Math.imul(k ^ (k >>> 16), 0x85ebca6b);
    this.h2 = (this.h2 << 17) | (this.h2 >>> 15);
    this.h2 = (Math.imul(this.h2, 9) + 0x52dce729) | 0;
    this.length = (this.length + 4) | 0;
  }
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
