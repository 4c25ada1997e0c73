// @ts-check
/**
 * The primitives of web/protocol.js: key separation (E2), encryption and its failure modes (E3),
 * UTF-8 (E8), change verification (E6), safety numbers (X3), encodings and IV reservation (X4).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  MAX_PLAINTEXT_BYTES, ProtocolError, classifyIv, decrypt, deriveKeySet, encrypt, exportPublicKey, fromB64,
  generateIdentityKeyPair, importPublicKey, ivCounter, makeChange, readCounter, reserveIv, safetyNumber, storageKeys,
  toB64, toHex, u96be, verifyChange,
} from '../../web/protocol.js';
import { ALICE, BOB, MemoryStorage } from './helpers.mjs';

/** @typedef {import('../../web/protocol.js').KeySet} KeySet */

async function identity() {
  const pair = await generateIdentityKeyPair();
  return { priv: pair.privateKey, pub: await exportPublicKey(pair.publicKey) };
}

const a = await identity();
const b = await identity();

/** @param {number} salt @returns {Promise<{ ka: KeySet, kb: KeySet }>} */
async function sets(salt) {
  return {
    ka: await deriveKeySet({ ownPrivate: a.priv, ownId: ALICE, ownPublic: a.pub, peerId: BOB, peerPublic: b.pub, salt }),
    kb: await deriveKeySet({ ownPrivate: b.priv, ownId: BOB, ownPublic: b.pub, peerId: ALICE, peerPublic: a.pub, salt }),
  };
}

const { ka, kb } = await sets(1);

/** @param {KeySet} ks */
const four = (ks) => [ks.send.enc, ks.send.mac, ks.recv.enc, ks.recv.mac].map(toHex);

/**
 * @param {string} b64 @param {number} index @param {number} [mask]
 * @returns {string}
 */
function flip(b64, index, mask = 1) {
  const bytes = /** @type {Uint8Array} */ (fromB64(b64));
  bytes[(index + bytes.length) % bytes.length] ^= mask;
  return toB64(bytes);
}

describe('E2 key schedule', () => {
  it('derives four distinct 256-bit keys', () => {
    const keys = four(ka);
    assert.equal(new Set(keys).size, 4);
    for (const k of keys) assert.equal(k.length, 64);
  });

  it('both sides derive the same keys, mirrored by direction', () => {
    assert.equal(ka.id, kb.id);
    assert.deepEqual(four(ka), [kb.recv.enc, kb.recv.mac, kb.send.enc, kb.send.mac].map(toHex));
  });

  it('a different salt gives four different keys and a different key-set id', async () => {
    const { ka: ka2 } = await sets(2);
    assert.notEqual(ka2.id, ka.id);
    assert.equal(ka2.pair, ka.pair);
    const before = new Set(four(ka));
    for (const k of four(ka2)) assert.ok(!before.has(k));
  });

  it('a different identity key gives different keys and another pair', async () => {
    const c = await identity();
    const other = await deriveKeySet({ ownPrivate: c.priv, ownId: ALICE, ownPublic: c.pub, peerId: BOB, peerPublic: b.pub, salt: 1 });
    assert.notEqual(other.pair, ka.pair);
    assert.notEqual(other.id, ka.id);
    const before = new Set(four(ka));
    for (const k of four(other)) assert.ok(!before.has(k));
  });

  it('direction matters: a message decrypts only in its own direction', async () => {
    const p = await encrypt(ka, 'to bob', 1);
    assert.deepEqual(await decrypt(kb, p, { from: ALICE }), { ok: true, text: 'to bob', iv: 1 });
    const asIfFromBob = await decrypt(ka, p, { from: BOB });
    assert.equal(asIfFromBob.ok, false);
    assert.equal(!asIfFromBob.ok && asIfFromBob.reason, 'bad_mac');
  });

  it('rejects a salt below 1', async () => {
    await assert.rejects(deriveKeySet({ ownPrivate: a.priv, ownId: ALICE, ownPublic: a.pub, peerId: BOB, peerPublic: b.pub, salt: 0 }), ProtocolError);
  });
});

describe('E3 messages', () => {
  it('round trip; ciphertext is text + 16-byte tag; IV is the counter', async () => {
    const p = await encrypt(ka, 'hello', 7);
    assert.equal(/** @type {Uint8Array} */ (fromB64(p.ciphertext)).length, 5 + 16);
    assert.equal(ivCounter(/** @type {Uint8Array} */ (fromB64(p.iv))), 7);
    assert.equal(toHex(/** @type {Uint8Array} */ (fromB64(p.iv))), '000000000000000000000007');
    assert.equal(/** @type {Uint8Array} */ (fromB64(p.mac)).length, 32);
    assert.deepEqual(await decrypt(kb, p, { from: ALICE, lastIv: 6 }), { ok: true, text: 'hello', iv: 7 });
  });

  it('same text, different IVs → different ciphertexts', async () => {
    const p1 = await encrypt(ka, 'same', 1);
    const p2 = await encrypt(ka, 'same', 2);
    assert.notEqual(p1.ciphertext, p2.ciphertext);
  });

  it('rejects tampered ciphertext, tag, IV, MAC and key_set (bad_mac, before any decryption)', async () => {
    const p = await encrypt(ka, 'attack at dawn', 3);
    const cases = {
      'first ciphertext byte': { ...p, ciphertext: flip(p.ciphertext, 0) },
      'middle ciphertext byte': { ...p, ciphertext: flip(p.ciphertext, 7) },
      'tag (last byte)': { ...p, ciphertext: flip(p.ciphertext, -1) },
      'tag (first byte)': { ...p, ciphertext: flip(p.ciphertext, -16) },
      'truncated ciphertext': { ...p, ciphertext: toB64(/** @type {Uint8Array} */ (fromB64(p.ciphertext)).subarray(0, 20)) },
      'IV raised to 4': { ...p, iv: toB64(u96be(4)) },
      'IV high byte': { ...p, iv: flip(p.iv, 8) },
      'MAC first byte': { ...p, mac: flip(p.mac, 0) },
      'MAC last bit': { ...p, mac: flip(p.mac, -1, 0x80) },
    };
    for (const [name, bad] of Object.entries(cases)) {
      const r = await decrypt(kb, bad, { from: ALICE });
      assert.equal(r.ok ? 'accepted' : r.reason, 'bad_mac', name);
    }
    const relabelled = await decrypt(kb, { ...p, key_set: 'another' }, { from: ALICE });
    assert.equal(relabelled.ok ? 'accepted' : relabelled.reason, 'unknown_key_set');
  });

  it('rejects a replayed or lower IV (E3), accepts a higher one', async () => {
    const p5 = await encrypt(ka, 'five', 5);
    for (const lastIv of [5, 6, 100]) {
      const r = await decrypt(kb, p5, { from: ALICE, lastIv });
      assert.equal(r.ok ? 'accepted' : r.reason, 'replay', `last ${lastIv}`);
    }
    assert.ok((await decrypt(kb, p5, { from: ALICE, lastIv: 4 })).ok);
  });

  it('rejects malformed payloads without throwing', async () => {
    const p = await encrypt(ka, 'x', 1);
    const cases = [
      null, 42, 'msg', [], {}, { ...p, v: 2 }, { ...p, type: 'ecdh' }, { ...p, iv: 'AAAA' }, { ...p, iv: 'not base64!' },
      { ...p, iv: toB64(u96be(0)) }, { ...p, iv: toB64(new Uint8Array(12).fill(255)) }, { ...p, mac: toB64(new Uint8Array(31)) },
      { ...p, ciphertext: toB64(new Uint8Array(15)) }, { ...p, key_set: 'a b' }, { ...p, key_set: 'x'.repeat(129) },
      { ...p, mac: p.mac.replace(/=+$/, '') },
    ];
    for (const bad of cases) {
      const r = await decrypt(kb, bad, { from: ALICE });
      assert.equal(r.ok ? 'accepted' : r.reason, 'malformed', JSON.stringify(bad));
    }
  });

  it('refuses to encrypt with IV 0 or beyond 2^53 − 1, or text over the size limit', async () => {
    await assert.rejects(encrypt(ka, 'x', 0), { code: 'bad_iv' });
    await assert.rejects(encrypt(ka, 'x', 2 ** 53), { code: 'bad_iv' });
    await assert.rejects(encrypt(ka, 'x'.repeat(MAX_PLAINTEXT_BYTES + 1), 1), { code: 'too_long' });
    const max = await encrypt(ka, 'x'.repeat(MAX_PLAINTEXT_BYTES), 1);
    assert.equal(/** @type {Uint8Array} */ (fromB64(max.ciphertext)).length, 48 * 1024);
  });
});

describe('E8 UTF-8', () => {
  const samples = {
    arabic: 'مرحبا بالعالم، كيف حالك؟',
    chinese: '你好，世界！今天天气很好。',
    hindi: 'नमस्ते दुनिया, आप कैसे हैं?',
    cyrillic: 'Привет, мир! Съешь же ещё этих мягких французских булок.',
    emoji: '👩‍💻👨‍👩‍👧‍👦🏳️‍🌈🧑🏽‍🚀 ❤️‍🔥 🇺🇦🇯🇵',
    mixed: 'Hello مرحبا 你好 नमस्ते Привет 👋🏾 — “quotes” ‘\u200d’ \u0000 tab\tnewline\n',
    combining: 'é vs e\u0301, Å vs A\u030a, 한국어, ελληνικά, עברית',
    astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 🀄',
  };
  it('round-trips several scripts and emoji with ZWJ sequences exactly', async () => {
    let iv = 0;
    for (const [name, text] of Object.entries(samples)) {
      iv += 1;
      const p = await encrypt(ka, text, iv);
      const r = await decrypt(kb, p, { from: ALICE, lastIv: iv - 1 });
      assert.deepEqual(r, { ok: true, text, iv }, name);
      assert.equal(r.ok && [...r.text].length, [...text].length);
    }
  });

  it('ciphertext length is the UTF-8 length + 16 (not UTF-16 units)', async () => {
    const text = '👩‍💻';
    const p = await encrypt(ka, text, 1);
    assert.equal(/** @type {Uint8Array} */ (fromB64(p.ciphertext)).length, new TextEncoder().encode(text).length + 16);
  });
});

describe('E6 change verification', () => {
  it('accepts a genuine change and derives the same new key set', async () => {
    const { ka: na } = await sets(2);
    const p = await makeChange(ka, na, 9);
    const r = await verifyChange(kb, p, b.priv, ALICE);
    assert.ok(r.ok);
    assert.equal(r.ok && r.newSet.id, na.id);
    assert.equal(r.ok && r.lastIv, 9);
  });

  it('rejects a bad old MAC first, a bad new MAC after deriving; nothing is returned', async () => {
    const { ka: na } = await sets(2);
    const p = await makeChange(ka, na, 9);
    const badOld = await verifyChange(kb, { ...p, mac_old: flip(p.mac_old, 3) }, b.priv, ALICE);
    assert.deepEqual(badOld, { ok: false, reason: 'bad_mac_old' });
    const badNew = await verifyChange(kb, { ...p, mac_new: flip(p.mac_new, 3) }, b.priv, ALICE);
    assert.deepEqual(badNew, { ok: false, reason: 'bad_mac_new' });
    const badIv = await verifyChange(kb, { ...p, last_iv: toB64(u96be(10)) }, b.priv, ALICE);
    assert.deepEqual(badIv, { ok: false, reason: 'bad_mac_old' });
    const wrongDirection = await verifyChange(ka, p, a.priv, BOB);
    assert.deepEqual(wrongDirection, { ok: false, reason: 'bad_mac_old' });
  });

  it('makeChange refuses a salt that does not grow', async () => {
    await assert.rejects(makeChange(ka, ka, 1), { code: 'bad_salt' });
  });
});

describe('X3 safety number', () => {
  it('is 12 groups of 5 digits, the same on both sides, and changes with a key', async () => {
    const sa = await safetyNumber(ALICE, a.pub, BOB, b.pub);
    const sb = await safetyNumber(BOB, b.pub, ALICE, a.pub);
    assert.match(sa, /^(\d{5} ){11}\d{5}$/);
    assert.equal(sa, sb);
    const c = await identity();
    assert.notEqual(await safetyNumber(ALICE, c.pub, BOB, b.pub), sa);
  });
});

describe('public keys and encodings', () => {
  it('exports 97-byte uncompressed points and rejects anything else', async () => {
    assert.equal(/** @type {Uint8Array} */ (fromB64(a.pub)).length, 97);
    await importPublicKey(a.pub);
    const raw = /** @type {Uint8Array} */ (fromB64(a.pub));
    const compressed = toB64(raw.subarray(0, 49));
    const wrongPrefix = toB64(Uint8Array.from([2, ...raw.subarray(1)]));
    const offCurve = toB64(Uint8Array.from([4, ...raw.subarray(1, 96), raw[96] ^ 1]));
    for (const bad of [compressed, wrongPrefix, offCurve, 'nope', '']) {
      await assert.rejects(importPublicKey(bad), { code: 'bad_public_key' }, bad);
    }
  });

  it('base64 is standard and padded; url-safe or unpadded input is refused', () => {
    assert.equal(toB64(Uint8Array.from([251, 255])), '+/8=');
    assert.deepEqual(fromB64('+/8='), Uint8Array.from([251, 255]));
    assert.equal(fromB64('-_8='), null);
    assert.equal(fromB64('+/8'), null);
  });
});

describe('X4 IV reservation', () => {
  it('reserveIv counts from 1 through the storage and stops when closed', () => {
    const s = new MemoryStorage();
    assert.deepEqual([reserveIv(s, ALICE, 'ks1'), reserveIv(s, ALICE, 'ks1'), reserveIv(s, ALICE, 'ks1')], [1, 2, 3]);
    assert.equal(reserveIv(s, ALICE, 'ks2'), 1);
    assert.deepEqual(JSON.parse(/** @type {string} */ (s.getItem(storageKeys.counter(ALICE, 'ks1')))), { iv: 3, closed: false });
    s.setItem(storageKeys.counter(ALICE, 'ks1'), JSON.stringify({ iv: 3, closed: true }));
    assert.equal(reserveIv(s, ALICE, 'ks1'), null);
    assert.deepEqual(readCounter(s, ALICE, 'ks1'), { iv: 3, closed: true });
  });

  it('the replay rule keeps IV order equal to server order', () => {
    /** @type {Array<[number, number]>} */
    const acc = [[1, 10], [2, 12], [3, 15]];
    assert.equal(classifyIv(acc, 4, 16), 'new');
    assert.equal(classifyIv(acc, 2, 12), 'again');
    assert.equal(classifyIv(acc, 2, 20), 'replay');
    assert.equal(classifyIv(acc, 3, 16), 'replay');
    assert.equal(classifyIv(acc, 1, 9), 'replay');
    assert.equal(classifyIv(acc, 5, 11), 'replay');
    assert.equal(classifyIv([[5, 30]], 2, 10), 'new');
  });
});
