// @ts-check
/**
 * Generates tests/protocol/vectors.json, the protocol's test vectors (docs/protocol.md §14), from
 * fixed inputs with web/protocol.js. Every step of the computation is deterministic (fixed private
 * keys, salts, IVs), so the file is the same on every run; vectors.test.mjs checks that it is.
 *
 *   node tests/protocol/make-vectors.mjs          write the file
 *   node tests/protocol/make-vectors.mjs --check  exit 1 if the file is not what the code makes
 */

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import {
  changeMacInput, deriveKeySet, encryptDetailed, fromB64, hkdf, importPrivateJwk, keyInfo, keySetId, keySetIdInput,
  macInfo, makeChange, msgLabel, msgMacInput, pairId, pairInput, publicKeyFromJwk, safetyNumber,
  sharedSecret, toB64, toHex, u64be, u96be, utf8,
} from '../../web/protocol.js';

export const VECTORS_PATH = fileURLToPath(new URL('./vectors.json', import.meta.url));

/** Fixed identities (generated once with WebCrypto; test-only keys, never use them for anything else). */
export const USERS = {
  alice: {
    id: '3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c',
    private_jwk: {
      kty: 'EC', crv: 'P-384',
      x: '_olBOh-ss_QMZOADaDKVdSRbEsR7TrLRoc9ZiJj4Hkdpi_aM2TPHG1jZhGhHpghQ',
      y: 'sAoE8xru8mVgqo1AKZWrmkwT0GWKUGegVd7Jb4V3SpgCE-TbXLR2epQF9gA9bU88',
      d: 'jYnO8ONVNhky9Vmr-gyoiaUFb4_O4BaucYgvWFR3VGWkSAAZ6faWG9t8RfL96lmr',
    },
  },
  bob: {
    id: 'c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9',
    private_jwk: {
      kty: 'EC', crv: 'P-384',
      x: 'TMCrPULXowft0EvAdQAhBoYiKzB1DGbqdAObPIRUSOpcFIPPI2phphu0HHft4pvm',
      y: 'UQhknXun-Cr2RSTWQiJCNJkURm7t5X8t920ERVYpiXiAqDwLMfwFq6Qt2qBLthgk',
      d: 'rQYH2r6_PsNnTlTqhJ2c_ErMH_L6wiKM1GFzB2rlpWpZkJxRz5UVv14Tt-u-uHs6',
    },
  },
};

/** The texts of the message vectors: ASCII, several scripts, emoji with ZWJ sequences, empty. */
export const TEXTS = {
  ascii: 'Hello, Bob!',
  scripts: 'مرحبا · 你好 · नमस्ते · Привет',
  emoji: '👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 ✋🏽',
  empty: '',
};

const FORMAT = {
  encodings: '*_hex: lowercase hex of bytes; *_b64 and all payload fields: standard base64 with padding (RFC 4648 §4); ids: 32 lowercase hex characters; texts: JSON strings (UTF-8 on the wire).',
  users: 'Fixed identities: id, private key as a JWK (P-384, base64url coordinates as JWK requires), public key = uncompressed point 0x04‖X‖Y (97 bytes).',
  shared_secret_hex: 'Z = ECDH(own private, peer public): the 48-byte x-coordinate; the same from both sides.',
  pair: 'input_hex = utf8(id_lo) ‖ raw(pk_lo) ‖ utf8(id_hi) ‖ raw(pk_hi) (user ids in string order); id = hex(SHA-256(utf8("PARLEY_PAIR_V1") ‖ 0x00 ‖ input))[0..32].',
  safety_number: 'libsignal NumericFingerprint per user: h = SHA-512(0x0000 ‖ raw(pk) ‖ utf8(id) ‖ raw(pk)), then 5199 times h = SHA-512(h ‖ raw(pk)); 30 digits = the first 30 bytes of h as six 5-byte big-endian integers, each mod 100000, zero-padded to 5 digits. The two users\' 30 digits sorted as strings and concatenated: 60 digits, 12 groups of 5 joined by spaces.',
  key_sets: 'Per salt: hkdf_salt_hex = u64be(salt); id_input_hex = utf8("PARLEY_KEY_SET_V1") ‖ 0x00 ‖ pair.input ‖ u64be(salt); id = hex(SHA-256(id_input))[0..32]; keys[] = HKDF-SHA256(IKM = Z, salt = u64be(salt), info = utf8(info), L = 32) — kind "enc" is the AES-256-GCM key, "mac" the HMAC-SHA256 key of direction from→to.',
  messages: 'msg payloads: iv = u96be(iv_counter); aad = utf8("CHAT_MSG_USER" ‖ from ‖ "to" ‖ to); ciphertext_hex = AES-256-GCM(K_enc(from→to), iv, utf8(plaintext), aad) with the 16-byte tag appended; mac_input_hex = aad ‖ 0x00 ‖ utf8(key_set) ‖ 0x00 ‖ iv ‖ ciphertext; mac_hex = HMAC-SHA256(K_mac(from→to), mac_input). payload is exactly what is posted.',
  ecdh: 'The ecdh payload from → to announcing key set salt 1, in the legacy form (no nonce, no confirm: the key sets of these vectors are legacy key sets, which old history still uses; docs/protocol.md §4.2).',
  change: 'A Refresh from key set salt 1 to salt 2 by `from` after using IVs up to last_iv_counter: input_hex = utf8("CHAT_CHANGE_USER" ‖ from ‖ "to" ‖ to) ‖ 0x00 ‖ utf8(old key_set) ‖ 0x00 ‖ utf8(new key_set) ‖ 0x00 ‖ u64be(salt) ‖ u96be(last_iv) ‖ utf8("change"); mac_old_hex / mac_new_hex = HMAC-SHA256 under K_mac(from→to) of the old / new key set.',
  rejections: 'Payloads a receiver MUST reject, with the reason (docs/protocol.md §6.2) — one vector at least for each of the 12 reasons. For kind "msg": check as the receiver `to` would, with the key set named by verify_with_key_set and last accepted IV last_iv for direction from→to (and, where retired_after is given, the last IV the sender announced in an accepted change); checks in the order sender in the key set → shape → key set → MAC → retired (IV > retired_after) → replay (IV ≤ last_iv) → AES-GCM → UTF-8. For kind "change": verify against old key set verify_with_key_set in the order mac_old → salt > old salt → derive new key set and compare new_key_set → mac_new. For kind "ecdh": shape (two keys named from and to, each a point on P-384, canonical base64, salt 1 … 2^53 − 1) → keys[to] must be the recipient\'s key (not_my_key) → the key_set must equal the id derived from keys and salt.',
};

/**
 * @param {unknown} v
 * @returns {any} a deep copy (payloads in the file are plain JSON)
 */
const copy = (v) => JSON.parse(JSON.stringify(v));

/** @param {string} b64 @returns {string} */
const b64hex = (b64) => toHex(/** @type {Uint8Array} */ (fromB64(b64)));

/**
 * @param {string} b64 @param {(bytes: Uint8Array) => void} edit
 * @returns {string}
 */
function tamper(b64, edit) {
  const bytes = /** @type {Uint8Array} */ (fromB64(b64));
  edit(bytes);
  return toB64(bytes);
}

/**
 * The same bytes with non-zero unused bits in the last base64 character (a second, non-canonical
 * encoding, which receivers reject: docs/protocol.md §2).
 * @param {string} b64
 * @returns {string}
 */
function nonCanonical(b64) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  if (pad === 0) throw new Error('no unused bits');
  const i = b64.length - pad - 1;
  return b64.slice(0, i) + alphabet[alphabet.indexOf(b64.charAt(i)) | 1] + b64.slice(i + 1);
}

/**
 * HMAC-SHA256 with raw key bytes (to build rejections that carry a valid MAC).
 * @param {Uint8Array<ArrayBuffer>} key @param {Uint8Array<ArrayBuffer>} data
 * @returns {Promise<string>} b64
 */
async function hmac(key, data) {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toB64(new Uint8Array(await crypto.subtle.sign('HMAC', k, data)));
}

/** @returns {Promise<Record<string, unknown>>} the whole vector file */
export async function buildVectors() {
  const A = USERS.alice;
  const B = USERS.bob;
  const aPub = publicKeyFromJwk(A.private_jwk);
  const bPub = publicKeyFromJwk(B.private_jwk);
  const aPriv = await importPrivateJwk(A.private_jwk);
  const bPriv = await importPrivateJwk(B.private_jwk);

  const z = await sharedSecret(aPriv, bPub);
  const zFromBob = await sharedSecret(bPriv, aPub);
  if (toHex(z) !== toHex(zFromBob)) throw new Error('ECDH disagrees');

  /** @param {number} salt */
  const setsFor = async (salt) => ({
    a: await deriveKeySet({ ownPrivate: aPriv, ownId: A.id, ownPublic: aPub, peerId: B.id, peerPublic: bPub, salt }),
    b: await deriveKeySet({ ownPrivate: bPriv, ownId: B.id, ownPublic: bPub, peerId: A.id, peerPublic: aPub, salt }),
  });
  const s1 = await setsFor(1);
  const s2 = await setsFor(2);
  const s7 = await setsFor(7);

  const keySets = [];
  for (const [salt, sets] of /** @type {const} */ ([[1, s1], [2, s2], [7, s7]])) {
    if (sets.a.id !== sets.b.id) throw new Error('key-set ids disagree');
    const keys = [];
    for (const [from, to] of [[A.id, B.id], [B.id, A.id]]) {
      for (const kind of /** @type {const} */ (['enc', 'mac'])) {
        const info = kind === 'enc' ? keyInfo(from, to) : macInfo(from, to);
        keys.push({ kind, from, to, info, hex: toHex(await hkdf(z, salt, info)) });
      }
    }
    keySets.push({ salt, hkdf_salt_hex: toHex(u64be(salt)), id_input_hex: toHex(keySetIdInput(A.id, aPub, B.id, bPub, salt)), id: sets.a.id, keys });
  }

  /**
   * @param {import('../../web/protocol.js').KeySet} ks the sender's key set
   * @param {number} iv @param {string} text @param {string} label
   */
  const message = async (ks, iv, text, label) => {
    const e = await encryptDetailed(ks, text, iv);
    const ivBytes = u96be(iv);
    return {
      name: label, key_set: ks.id, salt: ks.salt, from: ks.ownId, to: ks.peerId, iv_counter: iv, iv_hex: toHex(ivBytes),
      aad: msgLabel(ks.ownId, ks.peerId), plaintext: text, plaintext_hex: toHex(utf8(text)), ciphertext_hex: toHex(e.ciphertext),
      mac_input_hex: toHex(msgMacInput(ks.ownId, ks.peerId, ks.id, ivBytes, e.ciphertext)), mac_hex: toHex(e.mac), payload: e.payload,
    };
  };
  const messages = [
    await message(s1.a, 1, TEXTS.ascii, 'alice→bob, salt 1, iv 1, ASCII'),
    await message(s1.a, 2, TEXTS.scripts, 'alice→bob, salt 1, iv 2, Arabic, Chinese, Hindi, Cyrillic'),
    await message(s1.b, 1, TEXTS.emoji, 'bob→alice, salt 1, iv 1, emoji with ZWJ sequences, flags, skin tone'),
    await message(s1.b, 2, TEXTS.empty, 'bob→alice, salt 1, iv 2, empty text (ciphertext is the tag alone)'),
    await message(s2.a, 1, 'after refresh', 'alice→bob, salt 2, iv 1 (counters restart with the new keys)'),
    await message(s7.a, 4294967296, 'a large IV counter', 'alice→bob, salt 7, iv 2^32 (the counter spans more than 4 bytes)'),
  ];

  const lastIv = 2;
  const changePayload = await makeChange(s1.a, s2.a, lastIv);
  const changeInput = changeMacInput(A.id, B.id, s1.a.id, s2.a.id, 2, u96be(lastIv));

  // ---- rejections ----
  const good = messages[0].payload;
  const good2 = messages[1].payload;
  /** @type {object[]} */
  const rejections = [];
  /** @param {string} name @param {'msg' | 'change' | 'ecdh'} kind @param {object} payload @param {string} expected @param {object} [extra] */
  const reject = (name, kind, payload, expected, extra = {}) => rejections.push({ name, kind, from: A.id, to: B.id, ...extra, payload, expected });
  const msgCtx = { verify_with_key_set: s1.a.id, last_iv: 0 };
  reject('ciphertext byte flipped', 'msg', { ...good, ciphertext: tamper(good.ciphertext, (b) => { b[0] ^= 1; }) }, 'bad_mac', msgCtx);
  reject('GCM tag byte flipped', 'msg', { ...good, ciphertext: tamper(good.ciphertext, (b) => { b[b.length - 1] ^= 0x80; }) }, 'bad_mac', msgCtx);
  reject('IV changed to 7', 'msg', { ...good, iv: toB64(u96be(7)) }, 'bad_mac', msgCtx);
  reject('MAC byte flipped', 'msg', { ...good, mac: tamper(good.mac, (b) => { b[31] ^= 1; }) }, 'bad_mac', msgCtx);
  reject('MAC of the other message', 'msg', { ...good, mac: good2.mac }, 'bad_mac', msgCtx);
  reject('presented as the other direction (bob→alice)', 'msg', good, 'bad_mac', { ...msgCtx, from: B.id, to: A.id });
  reject('relabelled to key set salt 2', 'msg', { ...good, key_set: s2.a.id }, 'bad_mac', { ...msgCtx, verify_with_key_set: s2.a.id });
  {
    // A valid MAC over a broken GCM tag: only someone holding the MAC key could make it.
    const ct = /** @type {Uint8Array<ArrayBuffer>} */ (fromB64(good.ciphertext));
    ct[ct.length - 1] ^= 0x80;
    const mac = await hmac(s1.a.send.mac, msgMacInput(A.id, B.id, s1.a.id, u96be(1), ct));
    reject('broken GCM tag under a valid MAC', 'msg', { ...good, ciphertext: toB64(ct), mac }, 'bad_tag', msgCtx);
    const aadless = /** @type {Uint8Array<ArrayBuffer>} */ (fromB64(good.ciphertext));
    const mac2 = await hmac(s1.a.send.mac, msgMacInput(B.id, A.id, s1.a.id, u96be(1), aadless));
    reject('MAC input naming the wrong direction', 'msg', { ...good, mac: mac2 }, 'bad_mac', msgCtx);
  }
  reject('replay: IV 1 after IV 2 was accepted', 'msg', good, 'replay', { ...msgCtx, last_iv: 2 });
  reject('replay: the same IV again', 'msg', good, 'replay', { ...msgCtx, last_iv: 1 });
  reject('IV of 11 bytes', 'msg', { ...good, iv: toB64(u96be(1).subarray(1)) }, 'malformed', msgCtx);
  reject('IV counter 0', 'msg', { ...good, iv: toB64(u96be(0)) }, 'malformed', msgCtx);
  reject('ciphertext shorter than a tag', 'msg', { ...good, ciphertext: toB64(new Uint8Array(15)) }, 'malformed', msgCtx);
  reject('v is 2', 'msg', { ...good, v: 2 }, 'malformed', msgCtx);
  // Issue 8: one vector per failure reason, malformed and over-range fields, non-canonical base64.
  const STRANGER = '0123456789abcdef0123456789abcdef';
  reject('sender is not one of the key set\'s two users', 'msg', good, 'wrong_conversation', { ...msgCtx, from: STRANGER });
  reject('checked against another key set (not in this browser)', 'msg', good, 'unknown_key_set', { ...msgCtx, verify_with_key_set: s2.a.id });
  reject('IV above the last IV announced by a change', 'msg', good2, 'retired_key', { ...msgCtx, retired_after: 1 });
  {
    // Invalid UTF-8 (0xff 0xfe) encrypted and MACed with the real keys: only UTF-8 decoding fails.
    const ivBytes = u96be(3);
    const aes = await crypto.subtle.importKey('raw', s1.a.send.enc, 'AES-GCM', false, ['encrypt']);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: ivBytes, additionalData: utf8(msgLabel(A.id, B.id)), tagLength: 128 }, aes, new Uint8Array([0x68, 0x69, 0xff, 0xfe])));
    const mac = await hmac(s1.a.send.mac, msgMacInput(A.id, B.id, s1.a.id, ivBytes, ct));
    reject('invalid UTF-8 under a valid MAC and tag', 'msg', { ...good, iv: toB64(ivBytes), ciphertext: toB64(ct), mac }, 'malformed', msgCtx);
    // The largest counter plus one, with a valid MAC: out of range before anything else.
    const big = new Uint8Array(12);
    big[5] = 0x20; // 2^53
    const mac53 = await hmac(s1.a.send.mac, msgMacInput(A.id, B.id, s1.a.id, big, /** @type {Uint8Array<ArrayBuffer>} */ (fromB64(good.ciphertext))));
    reject('IV counter 2^53 (above 2^53 - 1) under a valid MAC', 'msg', { ...good, iv: toB64(big), mac: mac53 }, 'malformed', msgCtx);
  }
  reject('ciphertext over 48 KiB', 'msg', { ...good, ciphertext: toB64(new Uint8Array(48 * 1024 + 1)) }, 'malformed', msgCtx);
  reject('non-canonical base64: non-zero trailing bits in the MAC', 'msg', { ...good, mac: nonCanonical(good.mac) }, 'malformed', msgCtx);

  const chCtx = { verify_with_key_set: s1.a.id };
  reject('change: mac_old flipped', 'change', { ...changePayload, mac_old: tamper(changePayload.mac_old, (b) => { b[0] ^= 1; }) }, 'bad_mac_old', chCtx);
  reject('change: mac_new flipped', 'change', { ...changePayload, mac_new: tamper(changePayload.mac_new, (b) => { b[0] ^= 1; }) }, 'bad_mac_new', chCtx);
  reject('change: last_iv altered', 'change', { ...changePayload, last_iv: toB64(u96be(9)) }, 'bad_mac_old', chCtx);
  reject('change: mac_old and mac_new swapped', 'change', { ...changePayload, mac_old: changePayload.mac_new, mac_new: changePayload.mac_old }, 'bad_mac_old', chCtx);
  {
    // Valid mac_old, but the salt does not grow.
    const input = changeMacInput(A.id, B.id, s1.a.id, s1.a.id, 1, u96be(lastIv));
    reject('change: salt not greater than the old salt', 'change', { ...changePayload, new_key_set: s1.a.id, salt: 1, mac_old: await hmac(s1.a.send.mac, input) }, 'bad_salt', chCtx);
    // Valid mac_old, but new_key_set is not the id of (keys, salt 2).
    const wrongId = s7.a.id;
    const input2 = changeMacInput(A.id, B.id, s1.a.id, wrongId, 2, u96be(lastIv));
    reject('change: new_key_set not derived from the salt', 'change', { ...changePayload, new_key_set: wrongId, mac_old: await hmac(s1.a.send.mac, input2) }, 'bad_key_set', chCtx);
    // Valid mac_old, mac_new made with the old key (not the new one).
    reject('change: mac_new made under the old MAC key', 'change', { ...changePayload, mac_new: await hmac(s1.a.send.mac, changeInput) }, 'bad_mac_new', chCtx);
  }
  /** @type {import('../../web/protocol.js').EcdhPayload} the legacy form (no nonce, no confirm) */
  const ecdhPayload = { v: 1, type: 'ecdh', key_set: s1.a.id, salt: 1, keys: { [A.id]: aPub, [B.id]: bPub } };
  reject('ecdh: key_set of another salt', 'ecdh', { ...ecdhPayload, key_set: s2.a.id }, 'bad_key_set');
  reject('ecdh: salt changed, key_set kept', 'ecdh', { ...ecdhPayload, salt: 2 }, 'bad_key_set');
  {
    const keys = /** @type {Record<string, string>} */ (ecdhPayload.keys);
    const raw = /** @type {Uint8Array} */ (fromB64(bPub));
    raw[96] ^= 1; // Y off the curve
    reject('ecdh: a key that is not a point on P-384', 'ecdh', { ...ecdhPayload, keys: { ...keys, [B.id]: toB64(raw) } }, 'malformed');
    reject('ecdh: non-canonical base64 of a key', 'ecdh', { ...ecdhPayload, keys: { ...keys, [B.id]: nonCanonical(bPub) } }, 'malformed');
    reject('ecdh: three keys', 'ecdh', { ...ecdhPayload, keys: { ...keys, [STRANGER]: aPub } }, 'malformed');
    reject('ecdh: salt 2^53 (above 2^53 - 1)', 'ecdh', { ...ecdhPayload, salt: 2 ** 53 }, 'malformed');
    reject('ecdh: from = to', 'ecdh', { ...ecdhPayload, keys: { [A.id]: aPub } }, 'malformed', { to: A.id });
    // Well-formed, its key_set right for the keys it names, but made for a key Bob does not hold.
    const notBob = { ...ecdhPayload, keys: { [A.id]: aPub, [B.id]: aPub }, key_set: await keySetId(A.id, aPub, B.id, aPub, 1) };
    reject('ecdh: made for a key that is not the recipient\'s', 'ecdh', notBob, 'not_my_key');
  }
  reject('change: sender is not one of the key set\'s two users', 'change', changePayload, 'wrong_conversation', { ...chCtx, from: STRANGER });
  reject('change: old key set not in this browser', 'change', changePayload, 'unknown_key_set', { verify_with_key_set: s7.a.id });
  reject('change: salt 2^53 (above 2^53 - 1)', 'change', { ...changePayload, salt: 2 ** 53 }, 'malformed', chCtx);
  reject('change: non-canonical base64 in mac_old', 'change', { ...changePayload, mac_old: nonCanonical(changePayload.mac_old) }, 'malformed', chCtx);

  return {
    name: 'Parley end-to-end encryption protocol v1: test vectors',
    spec: 'docs/protocol.md (§14)',
    generated_by: 'node tests/protocol/make-vectors.mjs (from web/protocol.js); checked by tests/protocol/vectors.test.mjs',
    format: FORMAT,
    users: [
      { name: 'alice', id: A.id, private_jwk: A.private_jwk, public_key_b64: aPub, public_key_hex: b64hex(aPub) },
      { name: 'bob', id: B.id, private_jwk: B.private_jwk, public_key_b64: bPub, public_key_hex: b64hex(bPub) },
    ],
    shared_secret_hex: toHex(z),
    pair: { input_hex: toHex(pairInput(A.id, aPub, B.id, bPub)), id: await pairId(A.id, aPub, B.id, bPub) },
    safety_number: await safetyNumber(A.id, aPub, B.id, bPub),
    key_sets: keySets,
    messages,
    ecdh: { from: A.id, to: B.id, payload: copy(ecdhPayload) },
    change: {
      from: A.id, to: B.id, old_key_set: s1.a.id, new_key_set: s2.a.id, salt: 2, last_iv_counter: lastIv,
      input_hex: toHex(changeInput), mac_old_hex: b64hex(changePayload.mac_old), mac_new_hex: b64hex(changePayload.mac_new),
      payload: copy(changePayload),
    },
    rejections: copy(rejections),
  };
}

/** @returns {Promise<string>} the file's text */
export async function vectorsText() {
  return `${JSON.stringify(await buildVectors(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await vectorsText();
  if (process.argv.includes('--check')) {
    const onDisk = await readFile(VECTORS_PATH, 'utf8').catch(() => '');
    if (onDisk !== text) {
      console.error(`${VECTORS_PATH} is stale: run node tests/protocol/make-vectors.mjs`);
      process.exit(1);
    }
    console.log('vectors.json is up to date');
  } else {
    await writeFile(VECTORS_PATH, text);
    console.log(`wrote ${VECTORS_PATH}`);
  }
}
