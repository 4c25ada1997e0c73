// @ts-check
/**
 * E5/E7/X3 in real Chromium: Alice's localStorage is cleared (her keys are gone).
 * - Alice sees the E5 warning and a per-message notice for every earlier message, never a
 *   blank or a crash;
 * - Bob sees a loud "alice's security key changed" warning in real time (X3);
 * - Alice's next message starts a fresh exchange; new messages work both ways;
 * - both see the same safety number; Bob marks it verified.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  aliceWritesToBob, assertChatClean, bubble, bubbleTexts, openFromList, sendMessage, shot, systemTexts, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';

const fx = useBrowserFixture();

const E5 = "This browser no longer has the keys for earlier messages — they can't be decrypted here. New messages are encrypted with new keys.";

describe('localStorage cleared', { timeout: 60_000 }, () => {
  test('the warning, a new exchange, new messages both ways, the key-change warning and safety number', async () => {
    const { alice, bob, a, b } = await aliceWritesToBob(fx.browser, fx.server, 'before the wipe, from alice');
    await sendMessage(b, 'before the wipe, from bob');
    await bubble(a, 'before the wipe, from bob', 'theirs').waitFor();

    // Alice's browser loses its storage; the session cookie survives a reload.
    const oldKeys = await a.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley:')).length);
    assert.ok(oldKeys >= 4, 'identity, conversation, key set, counter and seen items were stored');
    await a.evaluate(() => localStorage.clear());
    await a.reload();
    await waitForChatReady(a);

    // E5: the page says so at once, and the conversation shows it above the unreadable messages.
    await a.locator('.chat-banners .message[data-kind="warn"]', { hasText: E5 }).waitFor();
    await openFromList(a, bob.account.username);
    await a.locator('.timeline-list .sys.e5', { hasText: E5 }).waitFor();
    assert.deepEqual(await bubbleTexts(a), [], 'no earlier message can be shown');
    // Issue 14 item 4: the two unreadable messages in a row are one notice with a count.
    const lost = await a.locator('.timeline-list .sys[data-kind="lost"] .sys-text').allTextContents();
    assert.deepEqual(
      lost.filter((t) => t.includes('can’t be decrypted')),
      ['2 messages can’t be decrypted in this browser (their keys are gone)'],
      'one notice with a count for the run of earlier messages',
    );
    await shot(a, 'cleared-1-alice-warning');

    // X3: Bob is told, in real time, that Alice's key changed.
    await b.locator('.timeline-list .sys[data-kind="alert"]', { hasText: `${alice.account.username}'s security key changed` }).waitFor();
    await shot(b, 'cleared-2-bob-key-changed');

    // E7: Alice's next message starts a fresh exchange; both directions work.
    await sendMessage(a, 'after the wipe, from alice 🧹');
    await bubble(b, 'after the wipe, from alice 🧹', 'theirs').waitFor();
    await sendMessage(b, 'after the wipe, from bob');
    await bubble(a, 'after the wipe, from bob', 'theirs').waitFor();
    assert.deepEqual(await bubbleTexts(a), ['after the wipe, from alice 🧹', 'after the wipe, from bob']);
    assert.deepEqual(await bubbleTexts(b), ['before the wipe, from alice', 'before the wipe, from bob', 'after the wipe, from alice 🧹', 'after the wipe, from bob']);
    const bobSystem = await systemTexts(b);
    assert.equal(bobSystem.filter((t) => t === 'Secure session started').length, 2, 'the first and the fresh exchange');
    assert.equal(await b.locator('.timeline-list .sys[data-kind="warn"], .timeline-list .sys[data-kind="lost"]').count(), 0, 'Bob lost nothing');
    await shot(a, 'cleared-3-alice-after');
    await shot(b, 'cleared-4-bob-after');

    // X3: both see the same safety number; Bob marks Alice verified.
    await b.getByRole('button', { name: 'Safety number', exact: true }).click();
    const bobNumber = (await b.locator('dialog .safety-number').innerText()).replace(/\s+/g, ' ').trim();
    assert.match(bobNumber, /^(\d{5} ){11}\d{5}$/);
    await shot(b, 'cleared-5-safety-number');
    await b.getByRole('button', { name: 'Mark as verified' }).click();
    await b.locator('dialog .safety-status', { hasText: 'Verified' }).waitFor();
    await b.getByRole('button', { name: 'Close' }).click();
    await b.locator('.conv-who .badge.verified', { hasText: '✓ Verified' }).waitFor();
    await a.getByRole('button', { name: 'Safety number', exact: true }).click();
    const aliceNumber = (await a.locator('dialog .safety-number').innerText()).replace(/\s+/g, ' ').trim();
    assert.equal(aliceNumber, bobNumber, 'the same number on both sides');
    await a.getByRole('button', { name: 'Close' }).click();

    await assertChatClean(alice, bob);
  });
});
