// @ts-check
/**
 * The protocol's primitives (docs/protocol.md §3–§5, §8): identity keys, the key schedule, the
 * three payload types and their verification. Stateless functions over WebCrypto; the state
 * machine (conversation.js) composes them.
 */

import { concat, fromB64, fromUtf8, ivCounter, own, toB64, toHex, u64be, u96be, utf8, MAX_COUNTER } from './bytes.js';
import {
  FIELD_BYTES, IV_BYTES, KEY_SET_ID_MAX_CHARS, MAC_BYTES, MAX_CIPHERTEXT_BYTES, MAX_PLAINTEXT_BYTES, NONCE_BYTES,
  PUBLIC_KEY_BYTES, TAG_BYTES, USER_ID_CHARS,
} from '../limits.js';

/** @typedef {import('./bytes.js').Bytes} Bytes */

/**
 * Why a payload was not accepted (docs/protocol.md §6.2). An `ecdh` whose key confirmation fails
 * is `bad_mac`; an exchange naming a key set this browser already holds is `replay` (§7.2).
 * @typedef {'malformed' | 'wrong_conversation' | 'unknown_key_set' | 'not_my_key' | 'bad_mac'
 *   | 'bad_tag' | 'retired_key' | 'replay' | 'bad_mac_old' | 'bad_mac_new' | 'bad_salt'
 *   | 'bad_key_set'} FailureReason
 */

/** @typedef {{ enc: Bytes, mac: Bytes }} DirectionKeys */

/**
 * The values of one key set (§4.4): what it was derived from and the four raw keys, `send` being
 * own→peer and `recv` peer→own. `nonce` is the b64 of the 16 random bytes of its HKDF salt (§4.2),
 * null for a legacy key set (made before the nonce existed: read-only, never sent with).
 * @typedef {{
 *   id: string, salt: number, nonce: string | null, pair: string,
 *   ownId: string, peerId: string, ownPublic: string, peerPublic: string,
 *   send: DirectionKeys, recv: DirectionKeys,
 * }} KeySetData
 */

/**
 * A key set ready for use: its values plus the imported WebCrypto keys.
 * @typedef {KeySetData & { keys: { sendEnc: CryptoKey, sendMac: CryptoKey, recvEnc: CryptoKey, recvMac: CryptoKey } }} KeySet
 */

/**
 * @typedef {{ v: 1, type: 'ecdh', key_set: string, salt: number, nonce?: string, keys: Record<string, string>,
 *   confirm?: string }} EcdhPayload
 */
/** @typedef {{ v: 1, type: 'msg', key_set: string, iv: string, ciphertext: string, mac: string }} MsgPayload */
/**
 * @typedef {{ v: 1, type: 'change', key_set: string, new_key_set: string, salt: number, nonce?: string,
 *   last_iv: string, mac_old: string, mac_new: string }} ChangePayload
 */
/** @typedef {EcdhPayload | MsgPayload | ChangePayload} Payload */

/** @typedef {{ ok: true, text: string, iv: number } | { ok: false, reason: FailureReason, iv?: number }} DecryptResult */

// The byte bounds are declared once, in web/limits.js (generated from crates/api/src/limits.rs).
export { MAX_PLAINTEXT_BYTES, NONCE_BYTES, PUBLIC_KEY_BYTES };
/** The 60-second rule (E6), in seconds. */
export const FRESH_SECONDS = 60;
export const USER_ID_RE = new RegExp(`^[0-9a-f]{${USER_ID_CHARS}}$`);
export const KEY_SET_RE = new RegExp(`^[A-Za-z0-9_-]{1,${KEY_SET_ID_MAX_CHARS}}$`);
/** A received salt may exceed the highest salt seen in the conversation by at most this (§7.2). */
export const MAX_SALT_STEP = 2 ** 20;
/** A `created_at` this many seconds in the future still counts as fresh (clock skew, §7.2). */
export const FUTURE_SKEW_SECONDS = 5;
/** libsignal's NumericFingerprint iteration count (§3.3). */
export const FINGERPRINT_ITERATIONS = 5200;

const CURVE = { name: 'ECDH', namedCurve: 'P-384' };
const HMAC = { name: 'HMAC', hash: 'SHA-256' };

/** An error of the caller's making (bad argument, missing key), with a stable code. */
export class ProtocolError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message ?? code);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

function subtle() {
  return globalThis.crypto.subtle;
}

// ---- labels (§4.3, §5) ----

/** @param {string} from @param {string} to */
export const keyInfo = (from, to) => `CHAT_KEY_USER${from}to${to}`;
/** @param {string} from @param {string} to */
export const macInfo = (from, to) => `CHAT_MAC_USER${from}to${to}`;
/** @param {string} from @param {string} to */
export const msgLabel = (from, to) => `CHAT_MSG_USER${from}to${to}`;
/** @param {string} from @param {string} to */
export const changeLabel = (from, to) => `CHAT_CHANGE_USER${from}to${to}`;
/** @param {string} from @param {string} to */
export const ecdhLabel = (from, to) => `CHAT_ECDH_USER${from}to${to}`;

// ---- identity keys (§3) ----

/** @returns {Promise<CryptoKeyPair>} an extractable P-384 ECDH key pair */
export async function generateIdentityKeyPair() {
  return /** @type {CryptoKeyPair} */ (await subtle().generateKey(CURVE, true, ['deriveBits']));
}

/**
 * @param {CryptoKey} publicKey
 * @returns {Promise<string>} b64 of the 97-byte uncompressed point
 */
export async function exportPublicKey(publicKey) {
  return toB64(new Uint8Array(await subtle().exportKey('raw', publicKey)));
}

// P-384 (FIPS 186-4 D.1.2.4): y² = x³ − 3x + b over GF(p). Cofactor 1: every point on the curve
// other than infinity (which has no 97-byte encoding) is in the prime-order group.
const P384_P = 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n;
const P384_B = 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn;

/** @param {Uint8Array} bytes @returns {bigint} */
function bigFrom(bytes) {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * The raw point is `0x04 ‖ X ‖ Y` with both coordinates below p and on the curve (§2).
 * @param {Uint8Array} raw
 * @returns {boolean}
 */
export function isOnCurve(raw) {
  if (raw.length !== PUBLIC_KEY_BYTES || raw[0] !== 0x04) return false;
  const x = bigFrom(raw.subarray(1, 1 + FIELD_BYTES));
  const y = bigFrom(raw.subarray(1 + FIELD_BYTES, PUBLIC_KEY_BYTES));
  if (x >= P384_P || y >= P384_P) return false;
  const rhs = (((x * x) % P384_P) * x - 3n * x + P384_B) % P384_P;
  return (y * y - rhs) % P384_P === 0n;
}

/**
 * The 97 bytes of a b64 public key, or null unless it is a valid uncompressed P-384 point (on the
 * curve, §2). Keys are compared as these bytes, never as strings (§3.4).
 * @param {unknown} b64
 * @returns {Bytes | null}
 */
export function publicKeyBytes(b64) {
  const raw = fromB64(b64);
  return raw && isOnCurve(raw) ? raw : null;
}

/**
 * The canonical b64 of a valid public key (the one encoding of its 97 bytes), or null.
 * @param {unknown} b64
 * @returns {string | null}
 */
export function canonicalKey(b64) {
  const raw = publicKeyBytes(b64);
  return raw ? toB64(raw) : null;
}

/**
 * Two public keys are the same point (§3.4).
 * @param {unknown} a @param {unknown} b
 * @returns {boolean}
 */
export function sameKey(a, b) {
  const x = canonicalKey(a);
  return x !== null && x === canonicalKey(b);
}

/**
 * @param {string} b64
 * @returns {Promise<CryptoKey>} throws ProtocolError('bad_public_key') for anything but a valid point
 */
export async function importPublicKey(b64) {
  const raw = publicKeyBytes(b64);
  if (!raw) throw new ProtocolError('bad_public_key', `not a ${PUBLIC_KEY_BYTES}-byte uncompressed P-384 point`);
  try {
    return await subtle().importKey('raw', raw, CURVE, true, []);
  } catch {
    throw new ProtocolError('bad_public_key', 'not a point on P-384');
  }
}

/**
 * @param {JsonWebKey} jwk a private P-384 JWK (kty, crv, x, y, d)
 * @returns {Promise<CryptoKey>} non-extractable, for deriveBits
 */
export async function importPrivateJwk(jwk) {
  /** @type {JsonWebKey} */
  const clean = { kty: String(jwk.kty), crv: String(jwk.crv), x: String(jwk.x), y: String(jwk.y), d: String(jwk.d) };
  return subtle().importKey('jwk', clean, CURVE, false, ['deriveBits']);
}

/**
 * The b64 raw public key of a P-384 JWK (public or private), without WebCrypto.
 * @param {JsonWebKey} jwk
 * @returns {string}
 */
export function publicKeyFromJwk(jwk) {
  /** @param {string | undefined} s */
  const b64url = (s) => {
    const std = String(s).replace(/-/g, '+').replace(/_/g, '/');
    return fromB64(std + '='.repeat((4 - (std.length % 4)) % 4));
  };
  const x = b64url(jwk.x);
  const y = b64url(jwk.y);
  if (jwk.crv !== 'P-384' || !x || !y || x.length !== FIELD_BYTES || y.length !== FIELD_BYTES) {
    throw new ProtocolError('bad_identity', 'not a P-384 JWK');
  }
  return toB64(concat(new Uint8Array([4]), x, y));
}

// ---- key schedule (§4) ----

/**
 * Z = ECDH(own private, peer public): the 48-byte x-coordinate.
 * @param {CryptoKey} ownPrivate
 * @param {string} peerPublic b64
 * @returns {Promise<Bytes>}
 */
export async function sharedSecret(ownPrivate, peerPublic) {
  const pub = await importPublicKey(peerPublic);
  return own(await subtle().deriveBits({ name: 'ECDH', public: pub }, ownPrivate, 384));
}

/**
 * The HKDF salt bytes (§4.2): `u64be(salt) ‖ nonce`, or `u64be(salt)` for a legacy key set.
 * @param {number} salt
 * @param {Uint8Array | null} [nonce]
 * @returns {Bytes}
 */
export function saltBytes(salt, nonce) {
  return nonce ? concat(u64be(salt), nonce) : u64be(salt);
}

/**
 * HKDF-SHA256(Z, salt = saltBytes(salt, nonce), info) → 32 bytes.
 * @param {Bytes} z
 * @param {number} salt
 * @param {string} info
 * @param {Uint8Array | null} [nonce]
 * @returns {Promise<Bytes>}
 */
export async function hkdf(z, salt, info, nonce) {
  const ikm = await subtle().importKey('raw', z, 'HKDF', false, ['deriveBits']);
  return own(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: saltBytes(salt, nonce), info: utf8(info) }, ikm, 256));
}

/** @returns {Bytes} 16 fresh random bytes for a new key set's salt (§4.2) */
export function newNonce() {
  return globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/** @param {Bytes} data @returns {Promise<Bytes>} */
async function sha256(data) {
  return own(await subtle().digest('SHA-256', data));
}

/**
 * utf8(id_lo) ‖ raw(pk_lo) ‖ utf8(id_hi) ‖ raw(pk_hi) — the two identities in id order.
 * @param {string} idA @param {string} pubA @param {string} idB @param {string} pubB
 * @returns {Bytes}
 */
export function pairInput(idA, pubA, idB, pubB) {
  if (!USER_ID_RE.test(idA) || !USER_ID_RE.test(idB) || idA === idB) throw new ProtocolError('bad_user_id');
  const a = publicKeyBytes(pubA);
  const b = publicKeyBytes(pubB);
  if (!a || !b) throw new ProtocolError('bad_public_key');
  return idA < idB ? concat(utf8(idA), a, utf8(idB), b) : concat(utf8(idB), b, utf8(idA), a);
}

/**
 * The hash input of a key-set id (§4.4); exported for the test vectors. With a nonce (every key
 * set made now) the label is `PARLEY_KEY_SET_V2` and the nonce follows the salt; without one
 * (legacy key sets of old history) it is `PARLEY_KEY_SET_V1`.
 * @param {string} idA @param {string} pubA @param {string} idB @param {string} pubB @param {number} salt
 * @param {Uint8Array | null} [nonce]
 * @returns {Bytes}
 */
export function keySetIdInput(idA, pubA, idB, pubB, salt, nonce) {
  const label = nonce ? 'PARLEY_KEY_SET_V2' : 'PARLEY_KEY_SET_V1';
  return concat(utf8(label), new Uint8Array(1), pairInput(idA, pubA, idB, pubB), saltBytes(salt, nonce));
}

/**
 * @param {string} idA @param {string} pubA @param {string} idB @param {string} pubB @param {number} salt
 * @param {Uint8Array | null} [nonce]
 * @returns {Promise<string>} 32 hex characters
 */
export async function keySetId(idA, pubA, idB, pubB, salt, nonce) {
  return toHex(await sha256(keySetIdInput(idA, pubA, idB, pubB, salt, nonce))).slice(0, 32);
}

/**
 * @param {string} idA @param {string} pubA @param {string} idB @param {string} pubB
 * @returns {Promise<string>} 32 hex characters naming the pair of identity keys
 */
export async function pairId(idA, pubA, idB, pubB) {
  return toHex(await sha256(concat(utf8('PARLEY_PAIR_V1'), new Uint8Array(1), pairInput(idA, pubA, idB, pubB)))).slice(0, 32);
}

/**
 * One party's 30 digits of the safety number: libsignal's NumericFingerprint (§3.3).
 * h = SHA-512(0x0000 ‖ key ‖ id ‖ key), then `iterations − 1` times h = SHA-512(h ‖ key); the first
 * 30 bytes as six 5-byte big-endian numbers, each mod 100000, as 5 digits.
 * @param {Uint8Array} key the identity public key's bytes (raw 97-byte point here)
 * @param {Uint8Array} id the stable identifier's bytes (utf8 of the user id here)
 * @param {number} [iterations]
 * @returns {Promise<string>}
 */
export async function fingerprintHalf(key, id, iterations = FINGERPRINT_ITERATIONS) {
  let h = own(await subtle().digest('SHA-512', concat(new Uint8Array(2), key, id, key)));
  for (let i = 1; i < iterations; i += 1) h = own(await subtle().digest('SHA-512', concat(h, key)));
  let digits = '';
  for (let i = 0; i < 6; i += 1) digits += (bigFrom(h.subarray(5 * i, 5 * i + 5)) % 100000n).toString().padStart(5, '0');
  return digits;
}

/**
 * The X3 safety number (§3.3): both parties' 30 digits, sorted, in 12 groups of 5 — the same on
 * both sides.
 * @param {string} idA @param {string} pubA @param {string} idB @param {string} pubB
 * @returns {Promise<string>}
 */
export async function safetyNumber(idA, pubA, idB, pubB) {
  if (!USER_ID_RE.test(idA) || !USER_ID_RE.test(idB) || idA === idB) throw new ProtocolError('bad_user_id');
  const a = publicKeyBytes(pubA);
  const b = publicKeyBytes(pubB);
  if (!a || !b) throw new ProtocolError('bad_public_key');
  const halves = [await fingerprintHalf(a, utf8(idA)), await fingerprintHalf(b, utf8(idB))].sort();
  return /** @type {string[]} */ (halves.join('').match(/.{5}/g)).join(' ');
}

/**
 * Import the four raw keys of a key set.
 * @param {KeySetData} data
 * @returns {Promise<KeySet>}
 */
export async function importKeySet(data) {
  /** @param {Bytes} raw */
  const aes = (raw) => subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  /** @param {Bytes} raw */
  const mac = (raw) => subtle().importKey('raw', raw, HMAC, false, ['sign', 'verify']);
  const [sendEnc, sendMac, recvEnc, recvMac] = await Promise.all([aes(data.send.enc), mac(data.send.mac), aes(data.recv.enc), mac(data.recv.mac)]);
  return { ...data, keys: { sendEnc, sendMac, recvEnc, recvMac } };
}

/**
 * Derive the key set of (own identity, peer identity, salt, nonce) (§4). `nonce` is the 16 random
 * bytes of a new key set (§4.2); null/absent only for a legacy key set of old history.
 * @param {{ ownPrivate: CryptoKey, ownId: string, ownPublic: string, peerId: string, peerPublic: string, salt: number,
 *   nonce?: Uint8Array | null }} p
 * @returns {Promise<KeySet>}
 */
export async function deriveKeySet({ ownPrivate, ownId, ownPublic, peerId, peerPublic, salt, nonce }) {
  if (!Number.isSafeInteger(salt) || salt < 1) throw new ProtocolError('bad_salt');
  if (nonce && nonce.length !== NONCE_BYTES) throw new ProtocolError('bad_nonce');
  const n = nonce ?? null;
  const z = await sharedSecret(ownPrivate, peerPublic);
  const [sendEnc, sendMac, recvEnc, recvMac, id, pair] = await Promise.all([
    hkdf(z, salt, keyInfo(ownId, peerId), n),
    hkdf(z, salt, macInfo(ownId, peerId), n),
    hkdf(z, salt, keyInfo(peerId, ownId), n),
    hkdf(z, salt, macInfo(peerId, ownId), n),
    keySetId(ownId, ownPublic, peerId, peerPublic, salt, n),
    pairId(ownId, ownPublic, peerId, peerPublic),
  ]);
  z.fill(0);
  return importKeySet({
    id, salt, nonce: n ? toB64(n) : null, pair, ownId, peerId, ownPublic, peerPublic,
    send: { enc: sendEnc, mac: sendMac },
    recv: { enc: recvEnc, mac: recvMac },
  });
}

// ---- messages (§5.2) ----

/**
 * The MAC input of a `msg` (§5.2).
 * @param {string} from @param {string} to @param {string} keySet @param {Bytes} iv @param {Bytes} ciphertext
 * @returns {Bytes}
 */
export function msgMacInput(from, to, keySet, iv, ciphertext) {
  const zero = new Uint8Array(1);
  return concat(utf8(msgLabel(from, to)), zero, utf8(keySet), zero, iv, ciphertext);
}

/**
 * @param {KeySet} ks @param {string} from
 * @returns {{ enc: CryptoKey, mac: CryptoKey, to: string } | null}
 */
function direction(ks, from) {
  if (from === ks.ownId) return { enc: ks.keys.sendEnc, mac: ks.keys.sendMac, to: ks.peerId };
  if (from === ks.peerId) return { enc: ks.keys.recvEnc, mac: ks.keys.recvMac, to: ks.ownId };
  return null;
}

/**
 * Encrypt `text` as a `msg` from own to peer with IV counter `iv` (§5.2).
 * @param {KeySet} ks
 * @param {string} text
 * @param {number} iv the IV counter, 1 … 2^53 − 1, never used before under this key
 * @returns {Promise<{ payload: MsgPayload, plaintext: Bytes, ciphertext: Bytes, mac: Bytes }>}
 */
export async function encryptDetailed(ks, text, iv) {
  if (!Number.isSafeInteger(iv) || iv < 1 || iv > MAX_COUNTER) throw new ProtocolError('bad_iv');
  const plaintext = utf8(text);
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new ProtocolError('too_long', `the text is longer than ${MAX_PLAINTEXT_BYTES} bytes`);
  const ivBytes = u96be(iv);
  const aad = utf8(msgLabel(ks.ownId, ks.peerId));
  const ciphertext = own(await subtle().encrypt({ name: 'AES-GCM', iv: ivBytes, additionalData: aad, tagLength: TAG_BYTES * 8 }, ks.keys.sendEnc, plaintext));
  const mac = own(await subtle().sign('HMAC', ks.keys.sendMac, msgMacInput(ks.ownId, ks.peerId, ks.id, ivBytes, ciphertext)));
  return {
    payload: { v: 1, type: 'msg', key_set: ks.id, iv: toB64(ivBytes), ciphertext: toB64(ciphertext), mac: toB64(mac) },
    plaintext,
    ciphertext,
    mac,
  };
}

/**
 * @param {KeySet} ks @param {string} text @param {number} iv
 * @returns {Promise<MsgPayload>}
 */
export async function encrypt(ks, text, iv) {
  return (await encryptDetailed(ks, text, iv)).payload;
}

/**
 * The fields of a `msg` payload, or null if it is not one (§6.1 step 1).
 * @param {unknown} p
 * @returns {{ keySet: string, iv: Bytes, counter: number, ciphertext: Bytes, mac: Bytes } | null}
 */
export function parseMsg(p) {
  if (!isObject(p) || p.v !== 1 || p.type !== 'msg' || typeof p.key_set !== 'string' || !KEY_SET_RE.test(p.key_set)) return null;
  const iv = fromB64(p.iv);
  const ciphertext = fromB64(p.ciphertext);
  const mac = fromB64(p.mac);
  if (!iv || iv.length !== IV_BYTES || !ciphertext || ciphertext.length < TAG_BYTES || ciphertext.length > MAX_CIPHERTEXT_BYTES || !mac || mac.length !== MAC_BYTES) return null;
  const counter = ivCounter(iv);
  if (counter === null || counter < 1) return null;
  return { keySet: p.key_set, iv, counter, ciphertext, mac };
}

/**
 * Verify and decrypt a `msg` (§6.1): shape → key set → MAC → `gate` (retired key, replay) →
 * AES-GCM → UTF-8. `lastIv` gives the plain E3 rule (IV must be greater); `gate` replaces it.
 * @param {KeySet} ks
 * @param {unknown} payload
 * @param {{ from: string, lastIv?: number, gate?: (iv: number) => FailureReason | null }} opts
 * @returns {Promise<DecryptResult>}
 */
export async function decrypt(ks, payload, opts) {
  const dir = direction(ks, opts.from);
  if (!dir) return { ok: false, reason: 'wrong_conversation' };
  const m = parseMsg(payload);
  if (!m) return { ok: false, reason: 'malformed' };
  if (m.keySet !== ks.id) return { ok: false, reason: 'unknown_key_set' };
  const macOk = await subtle().verify('HMAC', dir.mac, m.mac, msgMacInput(opts.from, dir.to, ks.id, m.iv, m.ciphertext));
  if (!macOk) return { ok: false, reason: 'bad_mac', iv: m.counter };
  const lastIv = opts.lastIv ?? 0;
  const gated = opts.gate ? opts.gate(m.counter) : m.counter <= lastIv ? 'replay' : null;
  if (gated) return { ok: false, reason: gated, iv: m.counter };
  let plaintext;
  try {
    plaintext = await subtle().decrypt({ name: 'AES-GCM', iv: m.iv, additionalData: utf8(msgLabel(opts.from, dir.to)), tagLength: TAG_BYTES * 8 }, dir.enc, m.ciphertext);
  } catch {
    return { ok: false, reason: 'bad_tag', iv: m.counter };
  }
  try {
    return { ok: true, text: fromUtf8(new Uint8Array(plaintext)), iv: m.counter };
  } catch {
    return { ok: false, reason: 'malformed', iv: m.counter };
  }
}

// ---- exchange (§5.1) ----

/**
 * What the key confirmation of an `ecdh` covers (§5.1).
 * @param {string} from @param {string} to @param {string} keySet @param {number} salt @param {Uint8Array} nonce
 * @param {string} fromKey @param {string} toKey
 * @returns {Bytes}
 */
export function ecdhConfirmInput(from, to, keySet, salt, nonce, fromKey, toKey) {
  const a = publicKeyBytes(fromKey);
  const b = publicKeyBytes(toKey);
  if (!a || !b) throw new ProtocolError('bad_public_key');
  const zero = new Uint8Array(1);
  return concat(utf8(ecdhLabel(from, to)), zero, utf8(keySet), zero, u64be(salt), nonce, a, b);
}

/**
 * The `ecdh` payload announcing a key set (own key, peer key, salt, nonce), with its key
 * confirmation: a MAC under the new key set's own→peer MAC key, which only a holder of one of the
 * two private keys can make (§5.1).
 * @param {KeySet} ks a key set with a nonce
 * @returns {Promise<EcdhPayload>}
 */
export async function makeExchange(ks) {
  const nonce = fromB64(ks.nonce);
  if (!nonce) throw new ProtocolError('legacy_key_set', 'a key set without a nonce is never announced');
  const input = ecdhConfirmInput(ks.ownId, ks.peerId, ks.id, ks.salt, nonce, ks.ownPublic, ks.peerPublic);
  const confirm = own(await subtle().sign('HMAC', ks.keys.sendMac, input));
  return {
    v: 1, type: 'ecdh', key_set: ks.id, salt: ks.salt, nonce: toB64(nonce),
    keys: { [ks.ownId]: ks.ownPublic, [ks.peerId]: ks.peerPublic }, confirm: toB64(confirm),
  };
}

/**
 * The fields of an `ecdh` between `from` and `to`, or null if malformed (§7.2 step 1b). Keys are
 * returned in canonical form; both must be points on P-384. `nonce`/`confirm` are null for a
 * legacy exchange (both absent); one without the other is malformed.
 * @param {unknown} p @param {string} from @param {string} to
 * @returns {{ keySet: string, salt: number, nonce: Bytes | null, confirm: Bytes | null, fromKey: string, toKey: string } | null}
 */
export function parseExchange(p, from, to) {
  if (!isObject(p) || p.v !== 1 || p.type !== 'ecdh' || typeof p.key_set !== 'string' || !KEY_SET_RE.test(p.key_set)) return null;
  if (from === to || !isSalt(p.salt) || !isObject(p.keys)) return null;
  const names = Object.keys(p.keys);
  if (names.length !== 2 || !names.includes(from) || !names.includes(to)) return null;
  const fromKey = canonicalKey(p.keys[from]);
  const toKey = canonicalKey(p.keys[to]);
  if (!fromKey || !toKey) return null;
  const legacy = p.nonce === undefined && p.confirm === undefined;
  const nonce = legacy ? null : fromB64(p.nonce);
  const confirm = legacy ? null : fromB64(p.confirm);
  if (!legacy && (!nonce || nonce.length !== NONCE_BYTES || !confirm || confirm.length !== MAC_BYTES)) return null;
  return { keySet: p.key_set, salt: /** @type {number} */ (p.salt), nonce, confirm, fromKey, toKey };
}

/**
 * Check the key confirmation of a parsed `ecdh` against the key set it announces (§7.2 step 4).
 * @param {KeySet} ks the derived key set (ks.id === x.keySet)
 * @param {{ keySet: string, salt: number, nonce: Bytes | null, confirm: Bytes | null, fromKey: string, toKey: string }} x
 * @param {string} from @param {string} to
 * @returns {Promise<boolean>}
 */
export async function verifyExchange(ks, x, from, to) {
  if (!x.nonce || !x.confirm) return false;
  const dir = direction(ks, from);
  if (!dir || dir.to !== to) return false;
  return subtle().verify('HMAC', dir.mac, x.confirm, ecdhConfirmInput(from, to, x.keySet, x.salt, x.nonce, x.fromKey, x.toKey));
}

// ---- change (§5.3, §8) ----

/**
 * The input both MACs of a `change` cover: last IV ‖ "change", in context (the new key set's
 * nonce after the salt; none for a legacy change).
 * @param {string} from @param {string} to @param {string} oldId @param {string} newId @param {number} salt @param {Bytes} lastIv
 * @param {Uint8Array | null} [nonce]
 * @returns {Bytes}
 */
export function changeMacInput(from, to, oldId, newId, salt, lastIv, nonce) {
  const zero = new Uint8Array(1);
  return concat(utf8(changeLabel(from, to)), zero, utf8(oldId), zero, utf8(newId), zero, saltBytes(salt, nonce), lastIv, utf8('change'));
}

/**
 * The `change` payload of a Refresh from `oldSet` to `newSet`, own side sending (§8.1).
 * @param {KeySet} oldSet
 * @param {KeySet} newSet
 * @param {number} lastIv the last IV counter used under oldSet (0 if none)
 * @returns {Promise<ChangePayload>}
 */
export async function makeChange(oldSet, newSet, lastIv) {
  if (newSet.pair !== oldSet.pair || newSet.salt <= oldSet.salt) throw new ProtocolError('bad_salt', 'the new key set must be of the same pair with a greater salt');
  const nonce = newSet.nonce === null ? null : fromB64(newSet.nonce);
  const lastIvBytes = u96be(lastIv);
  const input = changeMacInput(oldSet.ownId, oldSet.peerId, oldSet.id, newSet.id, newSet.salt, lastIvBytes, nonce);
  const [macOld, macNew] = await Promise.all([subtle().sign('HMAC', oldSet.keys.sendMac, input), subtle().sign('HMAC', newSet.keys.sendMac, input)]);
  /** @type {ChangePayload} */
  const payload = {
    v: 1, type: 'change', key_set: oldSet.id, new_key_set: newSet.id, salt: newSet.salt,
    last_iv: toB64(lastIvBytes), mac_old: toB64(new Uint8Array(macOld)), mac_new: toB64(new Uint8Array(macNew)),
  };
  if (nonce) payload.nonce = toB64(nonce);
  return payload;
}

/**
 * The fields of a `change`, or null if malformed. `nonce` is null for a legacy change.
 * @param {unknown} p
 * @returns {{ oldId: string, newId: string, salt: number, nonce: Bytes | null, lastIv: Bytes, lastIvCounter: number, macOld: Bytes, macNew: Bytes } | null}
 */
export function parseChange(p) {
  if (!isObject(p) || p.v !== 1 || p.type !== 'change') return null;
  if (typeof p.key_set !== 'string' || !KEY_SET_RE.test(p.key_set) || typeof p.new_key_set !== 'string' || !KEY_SET_RE.test(p.new_key_set)) return null;
  const lastIv = fromB64(p.last_iv);
  const macOld = fromB64(p.mac_old);
  const macNew = fromB64(p.mac_new);
  if (!isSalt(p.salt) || !lastIv || lastIv.length !== IV_BYTES || !macOld || macOld.length !== MAC_BYTES || !macNew || macNew.length !== MAC_BYTES) return null;
  const lastIvCounter = ivCounter(lastIv);
  if (lastIvCounter === null) return null;
  const nonce = p.nonce === undefined ? null : fromB64(p.nonce);
  if (p.nonce !== undefined && (!nonce || nonce.length !== NONCE_BYTES)) return null;
  return { oldId: p.key_set, newId: p.new_key_set, salt: /** @type {number} */ (p.salt), nonce, lastIv, lastIvCounter, macOld, macNew };
}

/**
 * Verify a `change` sent by `from` under `oldSet`, in the order E6 prescribes (§8.2): old MAC →
 * salt → derive → key-set id → new MAC. The new key set is returned only if everything holds.
 * @param {KeySet} oldSet
 * @param {unknown} payload
 * @param {CryptoKey} ownPrivate the private key of oldSet.ownPublic
 * @param {string} from the sender (server-stamped): oldSet.peerId, or oldSet.ownId for an own change
 * @returns {Promise<{ ok: true, newSet: KeySet, lastIv: number } | { ok: false, reason: FailureReason }>}
 */
export async function verifyChange(oldSet, payload, ownPrivate, from) {
  const dir = direction(oldSet, from);
  if (!dir) return { ok: false, reason: 'wrong_conversation' };
  const c = parseChange(payload);
  if (!c) return { ok: false, reason: 'malformed' };
  if (c.oldId !== oldSet.id) return { ok: false, reason: 'unknown_key_set' };
  const input = changeMacInput(from, dir.to, c.oldId, c.newId, c.salt, c.lastIv, c.nonce);
  if (!(await subtle().verify('HMAC', dir.mac, c.macOld, input))) return { ok: false, reason: 'bad_mac_old' };
  if (c.salt <= oldSet.salt) return { ok: false, reason: 'bad_salt' };
  const newSet = await deriveKeySet({ ownPrivate, ownId: oldSet.ownId, ownPublic: oldSet.ownPublic, peerId: oldSet.peerId, peerPublic: oldSet.peerPublic, salt: c.salt, nonce: c.nonce });
  if (newSet.id !== c.newId) return { ok: false, reason: 'bad_key_set' };
  const newMac = from === oldSet.ownId ? newSet.keys.sendMac : newSet.keys.recvMac;
  if (!(await subtle().verify('HMAC', newMac, c.macNew, input))) return { ok: false, reason: 'bad_mac_new' };
  return { ok: true, newSet, lastIv: c.lastIvCounter };
}

// ---- helpers ----

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>}
 */
export function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @param {unknown} v */
function isSalt(v) {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}
