// @ts-check
/**
 * The test vectors (docs/protocol.md §14, X5): tests/protocol/vectors.json is recomputed here
 * from its inputs with WebCrypto directly — an independent second implementation of the key
 * schedule, ids, MACs and ciphertexts — then checked against web/protocol.js (every message
 * decrypts, the change verifies, every rejection is rejected for the stated reason), and finally
 * regenerated and compared byte for byte.
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import {
  decrypt, deriveKeySet, importPrivateJwk, keySetId, parseExchange, publicKeyFromJwk, verifyChange,
} from '../../web/protocol.js';
import { VECTORS_PATH, vectorsText } from './make-vectors.mjs';

const subtle = globalThis.crypto.subtle;
const text = await readFile(VECTORS_PATH, 'utf8');
const V = JSON.parse(text);

/** @param {string} hex */
const hx = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
/** @param {Uint8Array} b */
const toHex = (b) => Buffer.from(b).toString('hex');
/** @param {string} s */
const u8 = (s) => new TextEncoder().encode(s);
/** @param {...Uint8Array} parts */
const cat = (...parts) => Uint8Array.from(Buffer.concat(parts));
/** @param {bigint} n @param {number} width */
const be = (n, width) => hx(n.toString(16).padStart(width * 2, '0'));
/** @param {Uint8Array<ArrayBuffer>} data */
const sha256 = async (data) => new Uint8Array(await subtle.digest('SHA-256', data));
/** @param {Uint8Array<ArrayBuffer>} key @param {Uint8Array<ArrayBuffer>} data */
const hmac = async (key, data) =>
  new Uint8Array(await subtle.sign('HMAC', await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']), data));

const [alice, bob] = V.users;
/** @param {string} id */
const userById = (id) => V.users.find((/** @type {{ id: string }} */ u) => u.id === id);
/** @param {string} id */
const keySetById = (id) => V.key_sets.find((/** @type {{ id: string }} */ k) => k.id === id);
/** @param {any} ks @param {'enc' | 'mac'} kind @param {string} from */
const keyOf = (ks, kind, from) => hx(ks.keys.find((/** @type {any} */ k) => k.kind === kind && k.from === from).hex);

describe('test vectors, recomputed independently with WebCrypto', () => {
  it('public keys are the uncompressed points of the JWKs', async () => {
    for (const u of V.users) {
      const key = await subtle.importKey('jwk', { ...u.private_jwk, d: undefined }, { name: 'ECDH', namedCurve: 'P-384' }, true, []);
      const raw = new Uint8Array(await subtle.exportKey('raw', key));
      assert.equal(raw.length, 97);
      assert.equal(toHex(raw), u.public_key_hex);
      assert.equal(Buffer.from(raw).toString('base64'), u.public_key_b64);
    }
  });

  it('ECDH gives the same 48-byte secret from both sides', async () => {
    const curve = { name: 'ECDH', namedCurve: 'P-384' };
    const aPriv = await subtle.importKey('jwk', alice.private_jwk, curve, false, ['deriveBits']);
    const bPriv = await subtle.importKey('jwk', bob.private_jwk, curve, false, ['deriveBits']);
    const aPub = await subtle.importKey('raw', hx(alice.public_key_hex), curve, false, []);
    const bPub = await subtle.importKey('raw', hx(bob.public_key_hex), curve, false, []);
    const z1 = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: bPub }, aPriv, 384));
    const z2 = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: aPub }, bPriv, 384));
    assert.equal(z1.length, 48);
    assert.equal(toHex(z1), V.shared_secret_hex);
    assert.equal(toHex(z2), V.shared_secret_hex);
  });

  it('pair input, pair id and safety number', async () => {
    const [lo, hi] = [alice, bob].sort((x, y) => (x.id < y.id ? -1 : 1));
    const input = cat(u8(lo.id), hx(lo.public_key_hex), u8(hi.id), hx(hi.public_key_hex));
    assert.equal(toHex(input), V.pair.input_hex);
    assert.equal(toHex(await sha256(cat(u8('PARLEY_PAIR_V1'), new Uint8Array(1), input))).slice(0, 32), V.pair.id);
    // libsignal's NumericFingerprint (§3.3): 30 digits per user from 5200 × SHA-512, sorted.
    /** @param {{ id: string, public_key_hex: string }} u */
    const half = async (u) => {
      const key = hx(u.public_key_hex);
      let h = new Uint8Array(await subtle.digest('SHA-512', cat(new Uint8Array(2), key, u8(u.id), key)));
      for (let i = 1; i < 5200; i += 1) h = new Uint8Array(await subtle.digest('SHA-512', cat(h, key)));
      let out = '';
      for (let i = 0; i < 6; i += 1) out += (BigInt(`0x${toHex(h.subarray(5 * i, 5 * i + 5))}`) % 100000n).toString().padStart(5, '0');
      return out;
    };
    const digits = [await half(alice), await half(bob)].sort().join('');
    assert.equal(V.safety_number, digits.match(/.{5}/g)?.join(' '));
    assert.match(V.safety_number, /^(\d{5} ){11}\d{5}$/);
  });

  it('key sets: HKDF-SHA256 keys, salt encoding and ids', async () => {
    const ikm = await subtle.importKey('raw', hx(V.shared_secret_hex), 'HKDF', false, ['deriveBits']);
    for (const ks of V.key_sets) {
      assert.equal(ks.hkdf_salt_hex, toHex(be(BigInt(ks.salt), 8)));
      assert.equal(ks.id_input_hex, toHex(cat(u8('PARLEY_KEY_SET_V1'), new Uint8Array(1), hx(V.pair.input_hex), be(BigInt(ks.salt), 8))));
      assert.equal(ks.id, toHex(await sha256(hx(ks.id_input_hex))).slice(0, 32));
      assert.equal(ks.keys.length, 4);
      for (const k of ks.keys) {
        assert.equal(k.info, `${k.kind === 'enc' ? 'CHAT_KEY_USER' : 'CHAT_MAC_USER'}${k.from}to${k.to}`);
        const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: hx(ks.hkdf_salt_hex), info: u8(k.info) }, ikm, 256);
        assert.equal(toHex(new Uint8Array(bits)), k.hex, `${ks.salt} ${k.info}`);
      }
    }
  });

  it('messages: AES-256-GCM ciphertext with AAD and tag, HMAC over the stated input', async () => {
    for (const m of V.messages) {
      const ks = keySetById(m.key_set);
      assert.ok(ks, m.name);
      const iv = be(BigInt(m.iv_counter), 12);
      assert.equal(m.iv_hex, toHex(iv));
      assert.equal(m.aad, `CHAT_MSG_USER${m.from}to${m.to}`);
      assert.equal(m.plaintext_hex, toHex(u8(m.plaintext)));
      const aes = await subtle.importKey('raw', keyOf(ks, 'enc', m.from), 'AES-GCM', false, ['encrypt']);
      const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: u8(m.aad), tagLength: 128 }, aes, u8(m.plaintext)));
      assert.equal(toHex(ct), m.ciphertext_hex, m.name);
      assert.equal(ct.length, u8(m.plaintext).length + 16);
      const input = cat(u8(m.aad), new Uint8Array(1), u8(m.key_set), new Uint8Array(1), iv, ct);
      assert.equal(toHex(input), m.mac_input_hex);
      assert.equal(toHex(await hmac(keyOf(ks, 'mac', m.from), input)), m.mac_hex);
      assert.deepEqual(m.payload, {
        v: 1, type: 'msg', key_set: m.key_set, iv: Buffer.from(iv).toString('base64'),
        ciphertext: Buffer.from(ct).toString('base64'), mac: Buffer.from(hx(m.mac_hex)).toString('base64'),
      });
    }
  });

  it('ecdh payload', () => {
    const p = V.ecdh.payload;
    assert.deepEqual(Object.keys(p).sort(), ['key_set', 'keys', 'salt', 'type', 'v']);
    assert.equal(p.key_set, V.key_sets[0].id);
    assert.equal(p.salt, 1);
    assert.deepEqual(p.keys, { [alice.id]: alice.public_key_b64, [bob.id]: bob.public_key_b64 });
  });

  it('change payload: last IV ‖ "change" under the old and the new MAC key', async () => {
    const c = V.change;
    const old = keySetById(c.old_key_set);
    const neu = keySetById(c.new_key_set);
    const input = cat(
      u8(`CHAT_CHANGE_USER${c.from}to${c.to}`), new Uint8Array(1), u8(c.old_key_set), new Uint8Array(1), u8(c.new_key_set), new Uint8Array(1),
      be(BigInt(c.salt), 8), be(BigInt(c.last_iv_counter), 12), u8('change'),
    );
    assert.equal(toHex(input), c.input_hex);
    assert.ok(toHex(input).endsWith(toHex(u8('change'))));
    assert.equal(toHex(await hmac(keyOf(old, 'mac', c.from), input)), c.mac_old_hex);
    assert.equal(toHex(await hmac(keyOf(neu, 'mac', c.from), input)), c.mac_new_hex);
    assert.deepEqual(c.payload, {
      v: 1, type: 'change', key_set: c.old_key_set, new_key_set: c.new_key_set, salt: c.salt,
      last_iv: Buffer.from(be(BigInt(c.last_iv_counter), 12)).toString('base64'),
      mac_old: Buffer.from(hx(c.mac_old_hex)).toString('base64'), mac_new: Buffer.from(hx(c.mac_new_hex)).toString('base64'),
    });
  });
});

describe('test vectors against web/protocol.js', () => {
  /** @param {any} user @param {number} salt */
  const setOf = async (user, salt) => {
    const peer = user === alice ? bob : alice;
    return deriveKeySet({
      ownPrivate: await importPrivateJwk(user.private_jwk), ownId: user.id, ownPublic: publicKeyFromJwk(user.private_jwk),
      peerId: peer.id, peerPublic: peer.public_key_b64, salt,
    });
  };

  it('derives the same key sets, in both directions', async () => {
    for (const ks of V.key_sets) {
      const a = await setOf(alice, ks.salt);
      const b = await setOf(bob, ks.salt);
      assert.equal(a.id, ks.id);
      assert.equal(b.id, ks.id);
      assert.equal(toHex(a.send.enc), toHex(keyOf(ks, 'enc', alice.id)));
      assert.equal(toHex(a.recv.mac), toHex(keyOf(ks, 'mac', bob.id)));
      assert.equal(toHex(b.send.enc), toHex(a.recv.enc));
      assert.equal(toHex(b.send.mac), toHex(a.recv.mac));
    }
  });

  it('the recipient decrypts every message', async () => {
    for (const m of V.messages) {
      const recipient = userById(m.to);
      const ks = await setOf(recipient, keySetById(m.key_set).salt);
      const r = await decrypt(ks, m.payload, { from: m.from, lastIv: m.iv_counter - 1 });
      assert.deepEqual(r, { ok: true, text: m.plaintext, iv: m.iv_counter }, m.name);
    }
  });

  it('the recipient accepts the change', async () => {
    const c = V.change;
    const recipient = userById(c.to);
    const old = await setOf(recipient, 1);
    const r = await verifyChange(old, c.payload, await importPrivateJwk(recipient.private_jwk), c.from);
    assert.ok(r.ok);
    assert.equal(r.ok && r.newSet.id, c.new_key_set);
    assert.equal(r.ok && r.lastIv, c.last_iv_counter);
  });

  it('the ecdh payload names the key set of its keys and salt', async () => {
    const x = parseExchange(V.ecdh.payload, V.ecdh.from, V.ecdh.to);
    assert.ok(x);
    assert.equal(await keySetId(V.ecdh.from, x.fromKey, V.ecdh.to, x.toKey, x.salt), x.keySet);
  });

  it('every rejection is rejected for the stated reason', async () => {
    assert.ok(V.rejections.length >= 20);
    const reasons = new Set();
    for (const r of V.rejections) {
      const recipient = userById(r.to);
      let got;
      if (r.kind === 'msg') {
        const ks = await setOf(recipient, keySetById(r.verify_with_key_set).salt);
        /** @param {number} iv */
        const gate = (iv) => (r.retired_after !== undefined && iv > r.retired_after ? 'retired_key' : iv <= r.last_iv ? 'replay' : null);
        const res = await decrypt(ks, r.payload, { from: r.from, gate });
        got = res.ok ? 'accepted' : res.reason;
      } else if (r.kind === 'change') {
        const old = await setOf(recipient, keySetById(r.verify_with_key_set).salt);
        const res = await verifyChange(old, r.payload, await importPrivateJwk(recipient.private_jwk), r.from);
        got = res.ok ? 'accepted' : res.reason;
      } else {
        const x = parseExchange(r.payload, r.from, r.to);
        if (!x) got = 'malformed';
        else if (x.toKey !== recipient.public_key_b64) got = 'not_my_key';
        else got = (await keySetId(r.from, x.fromKey, r.to, x.toKey, x.salt)) === x.keySet ? 'accepted' : 'bad_key_set';
      }
      assert.equal(got, r.expected, r.name);
      reasons.add(r.expected);
    }
    // Issue 8 finding 6: one vector at least for every failure reason of §6.2.
    const all = ['malformed', 'wrong_conversation', 'unknown_key_set', 'not_my_key', 'bad_mac', 'bad_tag', 'retired_key', 'replay', 'bad_mac_old', 'bad_mac_new', 'bad_salt', 'bad_key_set'];
    assert.deepEqual([...reasons].sort(), [...all].sort(), 'a vector for each of the 12 reasons');
  });

  it('vectors.json is exactly what make-vectors.mjs generates (no drift)', async () => {
    assert.equal(await vectorsText(), text);
  });
});
