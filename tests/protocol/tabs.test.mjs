// @ts-check
/**
 * X4: two tabs of one user share localStorage and a lock (Web Locks in browsers; here the
 * module's in-realm lock). They must never reuse an IV, and IV order must be server order, so
 * the peer never mistakes a message for a replay. A control run without the lock shows why the
 * lock has to cover the POST.
 */

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';

import { createIdentity, fromB64, ivCounter, memoryLock } from '../../web/protocol.js';
import { ALICE, BOB, Client, Clock, FakeServer, MemoryStorage, ivsStrictlyIncrease, kinds, texts } from './helpers.mjs';

/** @typedef {import('../../web/protocol.js').LockFn} LockFn */
/** @typedef {import('../../web/protocol.js').StoredMessage} StoredMessage */

/**
 * Alice in two tabs (one storage, one identity) and Bob.
 * @param {LockFn} lock
 */
async function twoTabs(lock) {
  const clock = new Clock();
  const server = new FakeServer(clock);
  const storage = new MemoryStorage();
  const identity = await createIdentity(storage, ALICE);
  server.publish(ALICE, identity.publicKey);
  const bob = await Client.create(server, clock, BOB, ALICE);
  const tab1 = new Client({ server, clock, me: ALICE, peer: BOB, identity, storage, lock });
  const tab2 = new Client({ server, clock, me: ALICE, peer: BOB, identity, storage, lock });
  return { clock, server, storage, bob, tab1, tab2 };
}

/**
 * A `post` that takes `delay()` ms before the server stores the payload (network latency).
 * @param {FakeServer} server @param {() => number} delay
 */
function slowPoster(server, delay) {
  /** @param {import('../../web/protocol.js').Payload} payload */
  return async (payload) => {
    await sleep(delay());
    return server.store(ALICE, BOB, payload);
  };
}

/** @param {StoredMessage[]} msgs */
function ivsOf(msgs) {
  return msgs.map((m) => {
    const p = /** @type {any} */ (m.payload);
    return { id: m.id, key: p.key_set, iv: ivCounter(/** @type {Uint8Array} */ (fromB64(p.iv))) };
  });
}

describe('X4 two tabs', () => {
  it('sending at once from two tabs never reuses an IV; IVs climb in server order; the peer accepts all', async () => {
    const { server, bob, tab1, tab2 } = await twoTabs(memoryLock);
    let n = 0;
    tab1.post = slowPoster(server, () => ((n += 7) % 13) + 1);
    tab2.post = slowPoster(server, () => ((n += 5) % 11) + 1);
    await tab1.fetchPeerKeys();
    await tab2.fetchPeerKeys();
    const sends = [];
    for (let i = 0; i < 20; i += 1) {
      sends.push(tab1.conv.send(`tab1 #${i}`, tab1.post));
      sends.push(tab2.conv.send(`tab2 #${i}`, tab2.post));
    }
    const results = await Promise.all(sends);
    const exchanges = results.flat().filter((e) => e.kind === 'exchange');
    assert.equal(exchanges.length, 1, 'one exchange for both tabs');

    const msgs = server.messages.filter((m) => /** @type {any} */ (m.payload).type === 'msg');
    assert.equal(msgs.length, 40);
    const ivs = ivsOf(msgs);
    assert.equal(new Set(ivs.map((x) => `${x.key}/${x.iv}`)).size, 40, 'no IV used twice under a key');
    assert.deepEqual(ivs.map((x) => x.iv), Array.from({ length: 40 }, (_, i) => i + 1), 'IV order = server order');

    const atBob = await bob.sync();
    assert.equal(texts(atBob).length, 40);
    assert.equal(kinds(atBob).filter((k) => k !== 'message' && k !== 'exchange').length, 0, 'no replay, no failure');

    // A tab fed every message by the push (the other tab's and its own echoes) shows all 40 as its
    // user's own, none as a replay.
    const atTab2 = await tab2.sync();
    assert.equal(atTab2.filter((e) => e.kind === 'message' && e.mine).length, 40);
    assert.equal(kinds(atTab2).filter((k) => k === 'replay_rejected').length, 0);

    for (const tab of [tab1, tab2]) {
      const check = ivsStrictlyIncrease(tab.lines);
      assert.ok(check.ok, check.problem);
    }
  });

  it('a Refresh in one tab moves the other tab to the new keys (counters shared, old one closed)', async () => {
    const { server, bob, tab1, tab2 } = await twoTabs(memoryLock);
    await tab1.send('one');
    await tab2.send('two');
    await bob.sync();
    const old = tab2.conv.currentKeySetId();
    await tab1.refresh();
    assert.notEqual(tab2.conv.currentKeySetId(), old, 'tab2 reads the new state from storage');
    await tab2.send('three');
    const last = ivsOf(server.messages.filter((m) => /** @type {any} */ (m.payload).type === 'msg')).pop();
    assert.deepEqual([last?.key === old, last?.iv], [false, 1]);
    assert.deepEqual(kinds(await bob.sync()), ['keys_changed', 'message']);
  });

  it('control: without a lock spanning the POST, IV order and server order diverge and the peer sees replays', async () => {
    /** @type {LockFn} */
    const noLock = (_name, fn) => fn();
    const { server, bob, tab1, tab2 } = await twoTabs(noLock);
    await tab1.send('first');
    tab1.post = slowPoster(server, () => 30);
    tab2.post = slowPoster(server, () => 1);
    await Promise.all([tab1.conv.send('slow', tab1.post), tab2.conv.send('fast', tab2.post)]);
    const events = await bob.sync();
    assert.ok(kinds(events).includes('replay_rejected'), 'a legitimate message rejected as a replay');

    const { server: s2, bob: bob2, tab1: t1, tab2: t2 } = await twoTabs(memoryLock);
    await t1.send('first');
    t1.post = slowPoster(s2, () => 30);
    t2.post = slowPoster(s2, () => 1);
    await Promise.all([t1.conv.send('slow', t1.post), t2.conv.send('fast', t2.post)]);
    assert.deepEqual(texts(await bob2.sync()), ['first', 'slow', 'fast'], 'with the lock: all accepted');
  });
});
