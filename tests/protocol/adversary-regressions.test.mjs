// @ts-check
/**
 * Regression tests for the bugs the seeded adversarial runs (adversarial.test.mjs) found in the
 * issue 8 module; write-ups in docs/protocol.md §14 "Adversarial tests". Each failed before its fix.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as P from '../../web/protocol.js';
import { storageKeys, walkChain } from '../../web/protocol.js';
import { ALICE, BOB, pair, texts } from './helpers.mjs';

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
    const { alice, bob, server, clock } = await pair();
    await alice.send('a1');
    await bob.sync();
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
});
