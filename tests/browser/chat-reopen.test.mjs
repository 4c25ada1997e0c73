// @ts-check
/**
 * E4/E5/E6 in real Chromium:
 * - closing and reopening the browser (saved storage state, new context, sign in again) →
 *   the history decrypts from the keys kept in localStorage;
 * - Refresh keys → both sides show "Keys changed" in real time, new messages work both ways,
 *   and after reopening both browsers every message, old and new, still decrypts.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  aliceWritesToBob, assertChatClean, bubble, bubbleTexts, openFromList, reopen, sendMessage, shot, systemTexts,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';

const fx = useBrowserFixture();
/** @type {import('./chat-flows.mjs').Person} */
let alice;
/** @type {import('./chat-flows.mjs').Person} */
let bob;

const BEFORE = ['first from alice', 'first from bob ✨', 'second from alice — ünïcode', 'second from bob'];
const AFTER = ['after refresh from alice 🔁', 'after refresh from bob'];

/**
 * @param {import('./harness.mjs').PageHandle} handle
 * @param {RegExp} re
 */
const logged = (handle, re) => handle.console.some((m) => re.test(m.text));

describe('reopen and refresh', { timeout: 90_000 }, () => {
  before(async () => {
    ({ alice, bob } = await aliceWritesToBob(fx.browser, fx.server, /** @type {string} */ (BEFORE[0])));
    for (const [i, text] of BEFORE.entries()) {
      if (i === 0) continue;
      const [from, to] = i % 2 ? [bob, alice] : [alice, bob];
      await sendMessage(from.handle.page, text);
      await bubble(to.handle.page, text, 'theirs').waitFor();
    }
  });

  test('reopening the browser: the history decrypts', async () => {
    alice = await reopen(fx.browser, fx.server, alice);
    await openFromList(alice.handle.page, bob.account.username);
    assert.deepEqual(await bubbleTexts(alice.handle.page), BEFORE);
    assert.deepEqual(await systemTexts(alice.handle.page), ['Secure session started']);
    // E9: shown again, so logged as "reopen", not as a new decryption.
    assert.ok(logged(alice.handle, /^\[parley\] reopen +ks=\S+ salt=1 .*pt="first from bob ✨"/), 'reopen line in the console');
    await shot(alice.handle.page, 'reopen-history');
    await assertChatClean(alice);
  });

  test('Refresh keys: "Keys changed" on both sides, new messages work, everything decrypts after reopening', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    await a.getByRole('button', { name: 'Refresh keys' }).click();
    await a.locator('.timeline-list .sys[data-kind="keys"]', { hasText: 'Keys changed' }).waitFor();
    await b.locator('.timeline-list .sys[data-kind="keys"]', { hasText: 'Keys changed' }).waitFor();
    assert.ok(logged(alice.handle, /^\[parley\] change-send +ks=\S+→\S+ salt=2 .*mac_old=made mac_new=made/), 'change-send logged');
    assert.ok(logged(bob.handle, /^\[parley\] change-recv +ks=\S+→\S+ salt=2 .*mac_old=ok mac_new=ok accepted/), 'change-recv logged');

    await sendMessage(a, /** @type {string} */ (AFTER[0]));
    await bubble(b, /** @type {string} */ (AFTER[0]), 'theirs').waitFor();
    await sendMessage(b, /** @type {string} */ (AFTER[1]));
    await bubble(a, /** @type {string} */ (AFTER[1]), 'theirs').waitFor();
    // The new messages use the new key set (salt 2) with IVs starting again at 1.
    assert.ok(logged(alice.handle, /^\[parley\] encrypt +ks=\S+ salt=2 .*iv=000000000000000000000001 pt="after refresh from alice/), 'IV 1 under salt 2');
    for (const p of [a, b]) assert.deepEqual(await systemTexts(p), ['Secure session started', 'Keys changed']);
    await shot(a, 'refresh-alice');
    await shot(b, 'refresh-bob');
    await assertChatClean(alice, bob);

    // Both browsers closed and reopened: old (salt 1) and new (salt 2) messages all decrypt.
    alice = await reopen(fx.browser, fx.server, alice);
    bob = await reopen(fx.browser, fx.server, bob);
    for (const [person, peer] of /** @type {const} */ ([[alice, bob], [bob, alice]])) {
      const page = person.handle.page;
      await openFromList(page, peer.account.username);
      assert.deepEqual(await bubbleTexts(page), [...BEFORE, ...AFTER]);
      assert.deepEqual(await systemTexts(page), ['Secure session started', 'Keys changed']);
      assert.equal(await page.locator('.timeline-list .sys[data-kind="warn"], .timeline-list .sys[data-kind="lost"]').count(), 0, 'nothing failed');
      assert.ok(logged(person.handle, /^\[parley\] reopen +ks=\S+ salt=1 /) && logged(person.handle, /^\[parley\] reopen +ks=\S+ salt=2 /), 'both key sets used');
      await assertChatClean(person);
    }
    await shot(bob.handle.page, 'refresh-reopened');
  });
});
