// @ts-check
/**
 * Outside vectors for the browser module's primitives (issue 8; E1, E2, E3, X5): the Wycheproof
 * subsets the protocol uses — AES-256-GCM (96-bit IV, 128-bit tag), ECDH P-384 with points,
 * HKDF-SHA256, HMAC-SHA256 (256-bit tag) — and RFC 5869's HKDF-SHA256 cases, exported to
 * tests/protocol/wycheproof/*.json by crates/protocol/tests/wycheproof.rs (docs/protocol.md §14).
 *
 * ECDH runs through the module (`publicKeyBytes`, `importPublicKey`, `importPrivateJwk`,
 * `sharedSecret`), so its point validation is what is tested. AES-GCM, HKDF and HMAC run through
 * WebCrypto with exactly the parameters the module passes it (crypto.js), and the module's
 * `hkdf` is tied to that HKDF. Valid vectors must give the expected bytes, invalid ones must be
 * refused.
 */

import assert from 'node:assert/strict';
import { createECDH } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import * as P from '../../web/protocol.js';

const subtle = globalThis.crypto.subtle;

/** @param {string} name @returns {{ tests: any[] }} */
const load = (name) => JSON.parse(readFileSync(new URL(`./wycheproof/${name}`, import.meta.url), 'utf8'));
/** @param {string} h */
const unhex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
/** @param {ArrayBuffer | Uint8Array} b */
const hex = (b) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');
/** @param {any} t */
const name = (t) => `tc ${t.tc_id ?? t.case} (${t.comment ?? ''})`;
/** @param {Uint8Array} b */
const b64url = (b) => Buffer.from(b).toString('base64url');

describe('Wycheproof and RFC 5869 vectors against the browser module (issue 8, X5)', () => {
  it('AES-256-GCM, 96-bit IV, 128-bit tag: valid vectors encrypt and decrypt, invalid ones are refused', async () => {
    const { tests } = load('aes_256_gcm.json');
    assert.ok(tests.length >= 40);
    let refused = 0;
    for (const t of tests) {
      // The module's parameters (crypto.js encryptDetailed / decrypt).
      const key = await subtle.importKey('raw', unhex(t.key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
      const params = { name: 'AES-GCM', iv: unhex(t.iv), additionalData: unhex(t.aad), tagLength: 128 };
      const sealed = hex(unhex(t.ct)) + hex(unhex(t.tag));
      let opened = null;
      try {
        opened = hex(await subtle.decrypt(params, key, unhex(sealed)));
      } catch {
        opened = null;
      }
      if (t.result === 'invalid') {
        assert.equal(opened, null, `${name(t)} must be refused`);
        refused += 1;
      } else {
        assert.equal(opened, t.msg, `${name(t)} decrypts`);
        assert.equal(hex(await subtle.encrypt(params, key, unhex(t.msg))), sealed, `${name(t)} encrypts`);
      }
    }
    assert.ok(refused > 0);
  });

  it('ECDH P-384 (points): the module derives the shared secret of every valid vector and refuses every invalid or compressed key', async () => {
    const { tests } = load('ecdh_p384_ecpoint.json');
    assert.ok(tests.length >= 100);
    let valid = 0;
    let refused = 0;
    for (const t of tests) {
      const pub = P.toB64(unhex(t.public));
      let shared = null;
      try {
        // The private scalar as a JWK (x, y computed by node:crypto, outside the module).
        const d = unhex(t.private.replace(/^(00)+/, '').padStart(96, '0'));
        const ecdh = createECDH('secp384r1');
        ecdh.setPrivateKey(d);
        const point = ecdh.getPublicKey();
        const priv = await P.importPrivateJwk({ kty: 'EC', crv: 'P-384', x: b64url(point.subarray(1, 49)), y: b64url(point.subarray(49)), d: b64url(d) });
        shared = hex(await P.sharedSecret(priv, pub));
      } catch (e) {
        assert.ok(e instanceof P.ProtocolError, `${name(t)}: refused by the module's check, not by accident (${e})`);
        shared = null;
      }
      if (t.result === 'valid') {
        assert.equal(shared, t.shared, name(t));
        assert.ok(P.publicKeyBytes(pub), `${name(t)}: a valid point`);
        valid += 1;
      } else {
        // invalid, and acceptable (a compressed point): the protocol takes 97-byte points only (§2).
        assert.equal(shared, null, `${name(t)} must be refused`);
        assert.equal(P.publicKeyBytes(pub), null, `${name(t)}: not a key`);
        await assert.rejects(P.importPublicKey(pub), /bad_public_key|point/);
        refused += 1;
      }
    }
    assert.ok(valid > 0 && refused > 0);
  });

  /**
   * HKDF-SHA256 through WebCrypto as the module calls it (crypto.js hkdf).
   * @param {Uint8Array} ikm @param {Uint8Array} salt @param {Uint8Array} info @param {number} size
   */
  const hkdf = async (ikm, salt, info, size) => {
    const key = await subtle.importKey('raw', new Uint8Array(ikm), 'HKDF', false, ['deriveBits']);
    return hex(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(salt), info: new Uint8Array(info) }, key, size * 8));
  };

  it('HKDF-SHA256: valid vectors give the expected output, an output over 255 × 32 bytes is refused', async () => {
    const { tests } = load('hkdf_sha256.json');
    assert.ok(tests.length >= 40);
    for (const t of tests) {
      let okm = null;
      try {
        okm = await hkdf(unhex(t.ikm), unhex(t.salt), unhex(t.info), t.size);
      } catch {
        okm = null;
      }
      if (t.result === 'invalid') assert.equal(okm, null, `${name(t)} must be refused`);
      else assert.equal(okm, t.okm, name(t));
    }
  });

  it('RFC 5869 A.1–A.3 (HKDF-SHA256), and the module\'s hkdf is that HKDF with salt u64be(salt) ‖ nonce', async () => {
    const { tests } = load('rfc5869_hkdf_sha256.json');
    assert.equal(tests.length, 3);
    for (const t of tests) assert.equal(await hkdf(unhex(t.ikm), unhex(t.salt), unhex(t.info), t.size), t.okm, name(t));
    const z = new Uint8Array(48).fill(7);
    const info = 'CHAT_KEY_USER3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4ctoc5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9';
    const nonce = unhex('000102030405060708090a0b0c0d0e0f');
    for (const salt of [1, 2, 7, Number.MAX_SAFE_INTEGER]) {
      assert.equal(hex(await P.hkdf(z, salt, info)), await hkdf(z, P.u64be(salt), P.utf8(info), 32), `legacy salt ${salt}`);
      const salted = new Uint8Array([...P.u64be(salt), ...nonce]);
      assert.equal(hex(await P.hkdf(z, salt, info, nonce)), await hkdf(z, salted, P.utf8(info), 32), `salt ${salt} with a nonce`);
    }
  });

  it('HMAC-SHA256, 256-bit tag: valid tags verify, modified ones are refused', async () => {
    const { tests } = load('hmac_sha256.json');
    assert.ok(tests.length >= 40);
    for (const t of tests) {
      // The module's HMAC parameters (crypto.js: { name: 'HMAC', hash: 'SHA-256' }).
      const key = await subtle.importKey('raw', unhex(t.key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      const ok = await subtle.verify('HMAC', key, unhex(t.tag), unhex(t.msg));
      assert.equal(ok, t.result !== 'invalid', name(t));
      if (t.result === 'valid') assert.equal(hex(await subtle.sign('HMAC', key, unhex(t.msg))), t.tag, name(t));
    }
  });
});
