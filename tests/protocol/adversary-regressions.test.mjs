// @ts-check
/**
 * Regression tests for the bugs the seeded adversarial runs (adversarial.test.mjs) found in the
 * issue 8 module; write-ups in docs/protocol.md §14 "Adversarial tests". Each failed before its fix.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as P from '../../web/protocol.js';
import { storageKeys, walkChain } from '../../web/protocol.js';
import { ALICE, BOB, Client, MemoryStorage, pair, pairAfter, texts } from './helpers.mjs';

/**
 * A P-384 key pair the server made itself, and a key set "from Bob" to Alice under it, with a
 * valid key confirmation (the server holds the private key).
 * @param {string} alicePublic @param {number} salt
 */
async function standIn(alicePublic, salt) {
  const kp = await P.generateIdentityKeyPair();
  const priv = await P.importPrivateJwk(await crypto.subtle.exportKey('jwk', kp.privateKey));
  const pub = await P.exportPublicKey(kp.publicKey);
  const ks = await P.deriveKeySet({ ownPrivate: priv, ownId: BOB, ownPublic: pub, peerId: ALICE, peerPublic: alicePublic, salt, nonce: P.newNonce() });
  return { ks, exchange: await P.makeExchange(ks) };
}

/** @param {import('./helpers.mjs').Client} c @returns {string | null} the head of the stored chain */
function head(c) {
  return walkChain(JSON.parse(/** @type {string} */ (c.storage.getItem(storageKeys.conversation(c.me, c.peer))))).head;
}

describe('adversary findings (seeded runs, issue 8)', () => {
  it('adversary finding A1 (seed 8): a stale ecdh of the same pair does not take the head back below a Refresh (a change keeps its pair)', async () => {
    const { alice, bob, server } = await pair();
    await alice.send('a1'); // ecdh salt 1
    await alice.refresh(); // change → salt 2
    const refreshed = /** @type {any} */ (server.messages.find((m) => /** @type {any} */ (m.payload).type === 'change')).payload.new_key_set;
    assert.equal(head(alice), refreshed);
    await bob.send('b1'); // Bob has seen nothing yet: his own ecdh at salt 1
    await alice.sync();
    assert.equal(head(alice), refreshed, 'the older-salt exchange is not admitted (it used to pass as a "new pair")');
    assert.equal(alice.conv.exchangeReason(), 'requested', 'Bob is behind: Alice brings him forward');
    await alice.send('a2');
    assert.deepEqual(texts(await bob.sync()), ['a1', 'a2']);
    await bob.send('b2');
    assert.deepEqual(texts(await alice.sync()), ['b2']);
  });

  it('adversary finding A2 (seed 147): a contact that missed a change and answers with an exchange of the same salt is brought forward at once', async () => {
    const { alice, bob, server } = await pair();
    await alice.send('a1'); // ecdh salt 1
    await bob.sync();
    await alice.refresh(); // change salt 2: the server drops it for Bob
    await alice.send('a2'); // under the salt-2 key set
    const [change, a2] = server.messages.slice(-2);
    assert.equal(/** @type {any} */ (change.payload).type, 'change');
    const got = await bob.conv.receive(a2);
    bob.delivered = a2.id;
    assert.deepEqual(got.map((e) => (e.kind === 'undecryptable' ? e.reason : e.kind)), ['unknown_key_set']);
    await bob.send('b1'); // a new ecdh at Bob's salt_max + 1 = 2: a tie with Alice's head
    assert.deepEqual(texts(await alice.sync()), ['b1']);
    assert.equal(alice.conv.exchangeReason(), 'requested', 'the tie with a change head asks for a new exchange');
    await alice.send('a3'); // before the fix: under the salt-2 key set Bob never got
    assert.deepEqual(texts(await bob.sync()), ['a3']);
    await bob.send('b2');
    assert.deepEqual(texts(await alice.sync()), ['b2']);
  });

  it('adversary finding A3 (seed 41): a message under a stand-in key the server sent before the user verified the real key raises the warning and blocks sending', async () => {
    const { alice, server, clock } = await pair();
    // The server's stand-in exchange reaches Alice first: trust on first use pins it.
    const m = await standIn(alice.identity.publicKey, 1);
    await alice.conv.receive({ id: server.nextId++, sender_id: BOB, recipient_id: ALICE, created_at: clock.now(), payload: m.exchange });
    // Alice opens the conversation (the directory has Bob's real key), compares safety numbers
    // with Bob and marks him verified.
    await alice.fetchPeerKeys();
    alice.conv.markVerified();
    assert.equal(alice.conv.isVerified(), true);
    // Later the server injects a message under its stand-in key set.
    const events = await alice.conv.receive({ id: server.nextId++, sender_id: BOB, recipient_id: ALICE, created_at: clock.now(), payload: await P.encrypt(m.ks, 'FORGED', 1) });
    assert.deepEqual(events.map((e) => e.kind), ['peer_key_changed', 'message'], 'the message is shown with the key-change warning');
    assert.equal(alice.conv.isVerified(), false, 'no longer shown as verified');
    assert.equal(alice.conv.sendBlocked(), true, 'sending waits until the user accepts');
  });

  it('adversary finding A4 (seed 58): a stand-in exchange with a salt near the bound does not push the real pair\'s salts beyond what the contact accepts', async () => {
    const { alice, bob, server, clock } = await pairAfter('a1');
    // The server's own exchange "from Bob", salt just inside Alice's bound (salt_max + 2^20).
    const m = await standIn(alice.identity.publicKey, 1 + P.MAX_SALT_STEP);
    await alice.conv.receive({ id: server.nextId++, sender_id: BOB, recipient_id: ALICE, created_at: clock.now(), payload: m.exchange });
    // Alice sends again: the directory gives Bob's real key, so she starts a new exchange with it.
    await alice.send('a2');
    const ecdh = /** @type {any} */ (server.messages.filter((x) => /** @type {any} */ (x.payload).type === 'ecdh').at(-1)).payload;
    assert.ok(ecdh.salt <= 2 + P.MAX_SALT_STEP, `the real pair's next salt (${ecdh.salt}) stays within Bob's bound`);
    assert.ok(ecdh.salt < 10, 'it follows the real pair\'s own counter');
    assert.deepEqual(texts(await bob.sync()), ['a2'], 'Bob reads it (before the fix: bad_salt, for good)');
    await alice.send('a3');
    assert.deepEqual(texts(await bob.sync()), ['a3']);
  });
  it('model observation (SPIN trail new-own-ecdh-pin): an own ecdh echoed after a restored localStorage does not re-pin the key it named', async () => {
    const { alice, bob, server, clock } = await pairAfter('a1');
    await alice.sync();
    /** @type {Map<string, string>} */
    const snapshot = new Map(alice.storage.keys().map((k) => [k, /** @type {string} */ (alice.storage.getItem(k))]));
    // The server lies in the key directory to Alice once; she sends to its key (an ecdh naming it).
    const kp = await P.generateIdentityKeyPair();
    const standInKey = await P.exportPublicKey(kp.publicKey);
    await alice.conv.setPeerKeys({ current: { public_key: standInKey } });
    await alice.conv.send('a2', alice.post);
    // Alice's profile is restored from the older copy; the tab reloads and the server is honest
    // again: the directory names Bob's real key, then the catch-up delivers everything, her own
    // ecdh to the stand-in key included.
    const storage = new MemoryStorage();
    for (const [k, v] of snapshot) storage.setItem(k, v);
    const restored = new Client({ server, clock, me: ALICE, peer: BOB, identity: alice.identity, storage });
    await restored.fetchPeerKeys();
    const real = restored.conv.peerKey();
    assert.notEqual(real, null);
    await restored.sync();
    assert.equal(restored.conv.peerKey(), real, 'the pin stays on the key the directory names (before the fix: the stand-in key)');
    // The UI fetches the contact's keys only when it has none (web/chat/outbox.js): Alice's next
    // message must reach Bob without another directory look-up.
    await restored.conv.send('a3', restored.post);
    assert.deepEqual(texts(await bob.sync()).filter((t) => t === 'a3'), ['a3'], 'Bob reads it (before the fix: sent to the stand-in key)');
  });
  it('model observation: a change delivered before the change it follows is rejected without effect; the next exchange heals, a reload shows what was missed', async () => {
    const { alice, bob, server } = await pairAfter('a1');
    await alice.refresh();
    await alice.refresh();
    await alice.send('a2');
    const [c1, c2, a2] = server.messages.slice(-3);
    // The server (or a racing catch-up) delivers the second change first.
    assert.deepEqual((await bob.conv.receive(c2)).map((e) => (e.kind === 'undecryptable' ? e.reason : e.kind)), ['unknown_key_set']);
    assert.deepEqual((await bob.conv.receive(c1)).map((e) => e.kind), ['keys_changed']);
    assert.deepEqual((await bob.conv.receive(a2)).map((e) => (e.kind === 'undecryptable' ? e.reason : e.kind)), ['unknown_key_set']);
    bob.delivered = a2.id;
    assert.equal(bob.conv.exchangeReason(), 'requested', 'the fresh, unusable change asked for a new exchange');
    await bob.send('b1');
    assert.deepEqual(texts(await alice.sync()), ['b1']);
    await alice.send('a3');
    assert.deepEqual(texts(await bob.sync()), ['a3'], 'both sides send and decrypt again');
    assert.deepEqual(texts(await bob.history()), ['a1', 'a2', 'b1', 'a3'], 'a reload (id order) shows the message under the missed key set');
  });
  it('model finding (SPIN, 2 user / 2 server steps): the directory moving a verified contact to a key seen before verification raises the warning and blocks sending', async () => {
    const { alice, bob, server, clock } = await pair();
    server.nextId = 10; // ids 1-9 stay free for the server's forgery "below everything"
    await bob.send('b1');
    assert.deepEqual(texts(await alice.sync()), ['b1']); // Bob's exchange (id 10) pins his real key
    // The server's stand-in exchange, with an id below the pin, reaches Alice before she verifies
    // Bob: its key is noted (with the warning, which she clears by verifying Bob's real key).
    const m = await standIn(alice.identity.publicKey, 1);
    const seen = await alice.conv.receive({ id: 1, sender_id: BOB, recipient_id: ALICE, created_at: clock.now(), payload: m.exchange });
    assert.deepEqual(seen.map((e) => e.kind), ['peer_key_changed', 'exchange']);
    assert.notEqual(alice.conv.peerKey(), m.ks.ownPublic, 'not pinned (id below the pin)');
    alice.conv.markVerified();
    assert.equal(alice.conv.isVerified(), true);
    // Later the key directory names the stand-in key (already seen): before the fix the pin moved
    // silently and the next message was encrypted to the server's key.
    const events = await alice.conv.setPeerKeys({ current: { public_key: m.ks.ownPublic } });
    assert.deepEqual(events.map((e) => e.kind), ['peer_key_changed'], 'the key change is announced');
    assert.equal(alice.conv.sendBlocked(), true, 'sending waits until the user accepts');
    const before = server.received.length;
    await assert.rejects(alice.conv.send('a2', alice.post), (e) => /** @type {any} */ (e).code === 'key_change_unconfirmed');
    assert.equal(server.received.length, before, 'nothing was posted');
  });
});
