// @ts-check
/**
 * Chat in real Chromium, two people in two isolated contexts registered through the real
 * sign-up flow (X1, E8, E10):
 * - messages both ways in real time without a reload; delivery ticks go sent → delivered → read;
 *   unread badge; UTF-8 in several scripts and emoji; Shift+Enter makes a new line;
 * - an XSS payload is shown as inert text (no dialog, no element, no CSP violation);
 * - start-a-chat errors (no such user, yourself); phone-sized layout without horizontal scroll.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  aliceAndBob, assertChatClean, bubble, bubbleTexts, openChat, openFromList, sendMessage, shot, systemTexts,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { horizontalOverflow } from './flows.mjs';

const fx = useBrowserFixture();
/** @type {import('./chat-flows.mjs').Person} */
let alice;
/** @type {import('./chat-flows.mjs').Person} */
let bob;

const SCRIPTS = 'Привет, Алиса! こんにちは 你好 مرحبا שלום नमस्ते Ελληνικά 🎉🔐👩🏽‍💻';

describe('chat in real time', { timeout: 60_000 }, () => {
  before(async () => {
    [alice, bob] = await aliceAndBob(fx.browser, fx.server);
    // Marks that survive only as long as no page reloads.
    for (const p of [alice, bob]) await p.handle.page.evaluate(() => Object.assign(window, { __noReload: true }));
  });

  test('start-a-chat errors: unknown user, yourself', async () => {
    const page = alice.handle.page;
    await page.getByLabel('Start a chat').fill('nobody_here_42');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByText('No user is called “nobody_here_42”').waitFor();
    await page.getByLabel('Start a chat').fill(alice.account.username.toUpperCase());
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByText('That is you. Type the username of someone else.').waitFor();
    await shot(page, 'start-errors');
  });

  test('messages both ways in real time, with delivery ticks and UTF-8', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    await openChat(a, bob.account.username);
    await a.getByText('No messages yet.').waitFor();

    // Bob stays on his list: Alice's message is delivered (acknowledged) but not read.
    await sendMessage(a, 'Hello Bob 👋');
    const first = bubble(a, 'Hello Bob 👋', 'mine');
    await first.locator('.msg-status[data-state="delivered"]').waitFor();
    assert.match(await first.locator('.msg-status').innerText(), /✓✓\s*Delivered/);
    await b.locator('.conv-item', { hasText: alice.account.username }).locator('.badge.unread', { hasText: '1' }).waitFor();
    await shot(a, 'realtime-1-delivered');
    await shot(b, 'realtime-2-unread');

    // Bob opens it: read receipt reaches Alice.
    await openFromList(b, alice.account.username);
    await bubble(b, 'Hello Bob 👋', 'theirs').waitFor();
    assert.deepEqual(await systemTexts(b), ['Secure session started']);
    await first.locator('.msg-status[data-state="read"]').waitFor();
    assert.equal(await b.locator('.conv-item .badge.unread').count(), 0, 'no unread badge once open');

    // Bob answers in several scripts; a Shift+Enter new line stays in the message.
    await sendMessage(b, SCRIPTS);
    const box = b.getByRole('textbox', { name: 'Message' });
    await box.fill('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    await box.press('Enter');
    await bubble(b, 'line one\nline two', 'mine').waitFor();
    await bubble(a, SCRIPTS, 'theirs').waitFor();
    await bubble(a, 'line one\nline two', 'theirs').waitFor();
    await bubble(b, SCRIPTS, 'mine').locator('.msg-status[data-state="read"]').waitFor();

    await sendMessage(a, 'Ünïcödé → ✓ and 🦀 crabs');
    await bubble(b, 'Ünïcödé → ✓ and 🦀 crabs', 'theirs').waitFor();

    const expected = ['Hello Bob 👋', SCRIPTS, 'line one\nline two', 'Ünïcödé → ✓ and 🦀 crabs'];
    assert.deepEqual(await bubbleTexts(a), expected);
    assert.deepEqual(await bubbleTexts(b), expected);
    // Sender and time on every bubble.
    const senders = await a.locator('.timeline-list .msg .msg-sender').allTextContents();
    assert.deepEqual(senders, ['You', bob.account.username, bob.account.username, 'You']);
    assert.equal(await a.locator('.timeline-list .msg time').count(), 4);

    for (const p of [a, b]) assert.equal(await p.evaluate(() => /** @type {any} */ (window).__noReload), true, 'no reload');
    await shot(a, 'realtime-3-alice');
    await shot(b, 'realtime-4-bob');
    await assertChatClean(alice, bob);
  });

  test('an XSS payload is shown as inert text', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    /** @type {string[]} */
    const dialogs = [];
    for (const p of [a, b]) p.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const payloads = [
      '<img src=x onerror=alert(1)>',
      '<script>alert(2)</script>',
      '"><svg onload=alert(3)><a href="javascript:alert(4)">click</a>',
    ];
    for (const text of payloads) await sendMessage(a, text);
    for (const text of payloads) await bubble(b, text, 'theirs').waitFor();
    for (const p of [a, b]) {
      assert.equal(await p.locator('.timeline-list img, .timeline-list script, .timeline-list svg, .timeline-list a').count(), 0, 'no element made from a message');
      assert.equal(await p.evaluate(() => document.querySelectorAll('img[src="x"], svg[onload]').length), 0);
    }
    assert.deepEqual(dialogs, [], 'no dialog opened');
    await shot(b, 'xss-inert');
    await assertChatClean(alice, bob);
  });

  test('phone-sized screen: one pane at a time, no horizontal scroll', async () => {
    const b = bob.handle.page;
    await b.setViewportSize({ width: 390, height: 760 });
    await b.locator('.conv-title').waitFor();
    assert.equal(await b.locator('.chat-list').isVisible(), false, 'the list is hidden while a chat is open');
    assert.ok((await horizontalOverflow(b)) <= 0, 'no horizontal scroll (conversation)');
    await shot(b, 'phone-conversation');
    await b.getByRole('button', { name: '‹ Chats' }).click();
    await b.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
    assert.equal(await b.locator('.chat-conv').isVisible(), false);
    assert.ok((await horizontalOverflow(b)) <= 0, 'no horizontal scroll (list)');
    await shot(b, 'phone-list');
    await assertChatClean(bob);
  });
});
