// @ts-check
/**
 * Issue 8, "migrate existing stored conversations; old history must still decrypt": the
 * localStorage of two browsers and the server's messages as the module before issue 8 left them
 * (fixtures/legacy-v1.json, recorded once with that module: legacy key sets without nonces, a
 * Refresh, a verified contact) are opened with the current module.
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import { Conversation, loadIdentity, memoryLock } from '../../web/protocol.js';
import { ALICE, BOB, Clock, FakeServer, MemoryStorage, kinds, texts } from './helpers.mjs';

const fixture = JSON.parse(await readFile(new URL('./fixtures/legacy-v1.json', import.meta.url), 'utf8'));

/** @param {Record<string, string>} items */
function storageOf(items) {
  const s = new MemoryStorage();
  for (const [k, v] of Object.entries(items)) s.setItem(k, v);
  return s;
}

async function open() {
  const clock = new Clock();
  clock.advance(3600); // the upgrade happens later: nothing in the fixture is fresh
  const server = new FakeServer(clock);
  server.messages = JSON.parse(JSON.stringify(fixture.messages));
  server.nextId = Math.max(...server.messages.map((/** @type {{ id: number }} */ m) => m.id)) + 1;
  for (const [user, list] of Object.entries(fixture.keys)) server.keys.set(user, list);
  /** @param {string} me @param {string} peer @param {MemoryStorage} storage */
  const conv = async (me, peer, storage) => {
    const identity = await loadIdentity(storage, me);
    assert.ok(identity, 'the old identity loads');
    return new Conversation({ me, peer, identity, storage, now: clock.now, lock: memoryLock, lastIv: async (ks) => server.lastIv(me, ks) });
  };
  const aliceStorage = storageOf(fixture.alice.storage);
  const bobStorage = storageOf(fixture.bob.storage);
  return { clock, server, alice: await conv(ALICE, BOB, aliceStorage), bob: await conv(BOB, ALICE, bobStorage) };
}

describe('stored conversations from before issue 8', () => {
  it('old history still decrypts on both sides, with no new key warning and the verification kept', async () => {
    const { server, alice, bob } = await open();
    assert.deepEqual(texts(await alice.loadHistory(server.between(ALICE, BOB))), fixture.texts);
    assert.deepEqual(texts(await bob.loadHistory(server.between(ALICE, BOB))), fixture.texts);
    assert.equal(alice.keyWarning(), null);
    assert.equal(bob.keyWarning(), null);
    assert.equal(alice.isVerified(), true, 'Alice had verified Bob: still verified');
    for (const c of [alice, bob]) {
      const events = await c.setPeerKeys(server.keysOf(c === alice ? BOB : ALICE));
      assert.deepEqual(kinds(events), [], 'the known key raises no warning');
    }
  });

  it('a legacy key set is never sent with: the next send starts a new exchange with a nonce, which the other side reads', async () => {
    const { server, alice, bob } = await open();
    await alice.loadHistory(server.between(ALICE, BOB));
    assert.equal(alice.exchangeReason(), 'legacy_key_set');
    const before = server.messages.length;
    const events = await alice.send('first message after the upgrade', server.poster(ALICE, BOB));
    assert.deepEqual(kinds(events), ['exchange', 'message']);
    const ecdh = /** @type {any} */ (server.messages[before]).payload;
    assert.equal(ecdh.type, 'ecdh');
    assert.equal(typeof ecdh.nonce, 'string');
    assert.equal(typeof ecdh.confirm, 'string');
    assert.ok(ecdh.salt > 2, `the counter continues above the legacy salts (${ecdh.salt})`);
    const got = [];
    for (const m of server.messages.slice(before)) got.push(...(await bob.receive(m)));
    assert.deepEqual(texts(got), ['first message after the upgrade']);
    assert.equal(bob.keyWarning(), null);
    await bob.send('and back', server.poster(BOB, ALICE));
    const back = [];
    for (const m of server.messages.slice(-1)) back.push(...(await alice.receive(m)));
    assert.deepEqual(texts(back), ['and back']);
    // Old history still decrypts after the new exchange.
    assert.deepEqual(texts(await bob.loadHistory(server.between(ALICE, BOB))), [...fixture.texts, 'first message after the upgrade', 'and back']);
  });
});
