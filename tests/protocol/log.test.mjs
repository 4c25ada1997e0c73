// @ts-check
/**
 * E9: every crypto operation logs one labelled line; IVs visibly climb per key, keys visibly
 * change on Refresh, failures are visible; without a logger nothing is printed.
 */

import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';

import { Conversation } from '../../web/protocol.js';
import { ALICE, BOB, IV_LINE, ivsStrictlyIncrease, pair, roundTrip } from './helpers.mjs';

describe('E9 console log', () => {
  it('a session: IVs strictly increase per key, keys change on Refresh, rejections are visible', async () => {
    const { alice, bob, server } = await pair();
    for (let i = 0; i < 3; i += 1) {
      await roundTrip(alice, bob, `ping ${i}`, `pong ${i}`);
    }
    await alice.refresh();
    await bob.sync();
    for (let i = 0; i < 3; i += 1) {
      await alice.send(`after ${i}`);
      await bob.sync();
    }
    server.store(ALICE, BOB, server.messages[1].payload); // a replay
    await bob.sync();
    await bob.history(); // a reload shows everything again

    for (const c of [alice, bob]) {
      const check = ivsStrictlyIncrease(c.lines);
      assert.ok(check.ok, check.problem);
      assert.ok(check.count >= 6, `${check.count} IV lines`);
    }
    const enc = alice.lines.filter((l) => l.startsWith('[parley] encrypt'));
    assert.equal(enc.length, 6);
    const keySets = new Set(enc.map((l) => /** @type {RegExpExecArray} */ (IV_LINE.exec(l))[2]));
    assert.equal(keySets.size, 2, 'the key set visibly changes after Refresh');
    assert.match(enc[0], /salt=1 .*iv=000000000000000000000001 pt="ping 0" ct=\S+…\(22B\) mac=/);
    assert.match(enc[3], /salt=2 .*iv=000000000000000000000001 pt="after 0"/);

    const derives = bob.lines.filter((l) => l.startsWith('[parley] derive'));
    assert.equal(derives.length, 2);
    assert.notEqual(derives[0].match(/enc=(\S+)/)?.[1], derives[1].match(/enc=(\S+)/)?.[1]);
    assert.ok(bob.lines.some((l) => /^\[parley\] change-recv .*mac_old=ok mac_new=ok accepted/.test(l)));
    assert.ok(bob.lines.some((l) => /^\[parley\] reject .*replay/.test(l)));
    assert.ok(bob.lines.some((l) => l.startsWith('[parley] reopen')), 'reloaded messages log as reopen');
    assert.ok(alice.lines.some((l) => l.startsWith('[parley] ecdh-send')));
    assert.ok(bob.lines.some((l) => /^\[parley\] ecdh-recv .*engaged/.test(l)));
    for (const line of [...alice.lines, ...bob.lines]) assert.doesNotMatch(line, /\n/);
  });

  it('is off without a logger: nothing reaches console.log', async () => {
    const { alice, bob, clock } = await pair();
    const spy = mock.method(console, 'log', () => {});
    try {
      const quiet = new Conversation({ me: BOB, peer: ALICE, identity: bob.identity, storage: bob.storage, now: clock.now });
      await alice.send('psst');
      await quiet.receive(alice.server.messages[0]);
      await quiet.receive(alice.server.messages[1]);
      assert.equal(spy.mock.callCount(), 0);
    } finally {
      spy.mock.restore();
    }
  });
});
