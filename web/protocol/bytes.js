// @ts-check
/**
 * Byte encodings of the protocol (docs/protocol.md §2): standard padded base64, lowercase hex,
 * UTF-8, big-endian counters. No crypto, no state.
 */

/** @typedef {Uint8Array<ArrayBuffer>} Bytes */

import { IV_BYTES, MAX_COUNTER } from '../limits.js';

/** Largest IV counter and salt used in v1 (exact in a JavaScript number): web/limits.js. */
export { MAX_COUNTER };

const encoder = new TextEncoder();

/**
 * @param {string} text
 * @returns {Bytes}
 */
export function utf8(text) {
  return own(encoder.encode(text));
}

/**
 * Strict UTF-8 decoding: invalid sequences throw.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function fromUtf8(bytes) {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
}

/**
 * @param {...Uint8Array} parts
 * @returns {Bytes}
 */
export function concat(...parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A copy of `bytes` that owns a plain ArrayBuffer (what WebCrypto's types ask for).
 * @param {ArrayBuffer | Uint8Array} bytes
 * @returns {Bytes}
 */
export function own(bytes) {
  const src = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const out = new Uint8Array(src.length);
  out.set(src);
  return out;
}

/**
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * @param {string} hex
 * @returns {Bytes}
 */
export function fromHex(hex) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Standard base64 with padding (RFC 4648 §4).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toB64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict standard base64 with padding (RFC 4648 §4), canonical only: the unused bits of the last
 * character must be zero (§3.5), so every byte string has exactly one accepted encoding
 * (docs/protocol.md §2). Returns null for anything else.
 * @param {unknown} text
 * @returns {Bytes | null}
 */
export function fromB64(text) {
  if (typeof text !== 'string' || !B64_RE.test(text)) return null;
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  // Non-canonical trailing bits (e.g. `AB==`) decode to the same bytes as the canonical form.
  if (toB64(out) !== text) return null;
  return out;
}

/**
 * `n` as `width` bytes big-endian (n ≤ 2^53 − 1).
 * @param {number} n
 * @param {number} width
 * @returns {Bytes}
 */
function bigEndian(n, width) {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('counter out of range');
  const out = new Uint8Array(width);
  let v = BigInt(n);
  for (let i = width - 1; i >= 0; i -= 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * The HKDF salt encoding: 8 bytes big-endian.
 * @param {number} n
 * @returns {Bytes}
 */
export function u64be(n) {
  return bigEndian(n, 8);
}

/**
 * An IV: the counter as 12 bytes big-endian.
 * @param {number} n
 * @returns {Bytes}
 */
export function u96be(n) {
  return bigEndian(n, IV_BYTES);
}

/**
 * The counter in a 12-byte IV, or null when it is not in 0 … 2^53 − 1.
 * @param {Uint8Array} iv
 * @returns {number | null}
 */
export function ivCounter(iv) {
  if (iv.length !== IV_BYTES) return null;
  let v = 0n;
  for (const b of iv) v = (v << 8n) | BigInt(b);
  return v <= BigInt(MAX_COUNTER) ? Number(v) : null;
}

/**
 * The 24-hex form of an IV counter, as the console log shows it.
 * @param {number} n
 * @returns {string}
 */
export function ivHex(n) {
  return toHex(u96be(n));
}
