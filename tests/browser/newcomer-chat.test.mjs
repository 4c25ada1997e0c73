// @ts-check
/**
 * Issue 14 in real Chromium, the chat part of a newcomer's walk-through: two people, Alice and
 * Bob, each in an isolated browser context. The tests run in order on the same two people.
 *
 * - item 7: the welcome notice can be dismissed; after "Start a chat" the focus is in the
 *   composer.
 * - item 8: while Bob's tab is in the background, the title counts unread messages and a
 *   notification is shown (permission granted) — with the text only after he opted in.
 * - item 4: after Bob's storage is wiped, the run of messages he can no longer decrypt is one
 *   notice with a count.
 * - item 3: Alice deletes her account: her browser's key material is erased; Bob's open chat
 *   says so at once and disables the composer; after a reload the conversation is still in his
 *   list, marked deleted, with its history.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { SIZES } from './axe.mjs';
import {
  CHAT_ALLOWED, assertChatClean, bubble, newPerson, openChat, openFromList, sendMessage, shot, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { advanceClock } from './flows.mjs';
import { assertClean, screenshot } from './harness.mjs';

const fx = useBrowserFixture();
/** @type {import('./chat-flows.mjs').Person} */
let alice;
/** @type {import('./chat-flows.mjs').Person} */
let bob;

/**
 * Makes the page believe its tab went to the background (or came back): headless Chromium
 * keeps every page "visible", so the Page Visibility API is overridden in the page.
 * @param {import('playwright-core').Page} page
 * @param {'hidden' | 'visible'} state
 */
async function setVisibility(page, state) {
  await page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => s === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

describe('issue 14: a newcomer chatting', { timeout: 90_000 }, () => {
  before(async () => {
    [alice, bob] = await Promise.all([
      newPerson(fx.browser, fx.server, 'alice', { viewport: SIZES.desktop }),
      // Bob's browser has granted notifications to the site (as after "Turn on notifications").
      newPerson(fx.browser, fx.server, 'bob', { viewport: SIZES.desktop, permissions: ['notifications'] }),
    ]);
  });

  test('issue14 item 7: the welcome notice goes away; focus lands in the composer after starting a chat', async () => {
    const a = alice.handle.page;
    const welcome = a.locator('#app > .message.flash', { hasText: 'Welcome to Parley' });
    await welcome.waitFor();
    await a.getByRole('button', { name: 'Dismiss this notice' }).click();
    await welcome.waitFor({ state: 'detached' });
    assert.equal(await a.evaluate(() => document.activeElement?.textContent), 'Chats', 'focus goes to the heading, not the body');

    await openChat(a, bob.account.username);
    await a.waitForFunction(() => document.activeElement?.getAttribute('name') === 'message');
    await a.keyboard.type('typed straight away');
    await a.keyboard.press('Enter');
    await bubble(a, 'typed straight away', 'mine').waitFor();
    await shot(a, 'newcomer-7-focus-in-composer');
  });

  test('issue14 item 8: unread count in the title and notifications while in the background', async () => {
    const b = bob.handle.page;
    // Record what the app shows (the real Notification is still called).
    await b.evaluate(() => {
      const Real = window.Notification;
      /** @type {{ title: string, body: string | undefined }[]} */
      const shown = [];
      /** @type {any} */ (window).__shown = shown;
      const Spy = function (/** @type {string} */ title, /** @type {NotificationOptions} */ options) {
        shown.push({ title, body: options?.body });
        return new Real(title, options);
      };
      Object.defineProperty(Spy, 'permission', { get: () => Real.permission });
      /** @type {any} */ (window).Notification = Spy;
    });
    const prefs = b.locator('.notify-prefs');
    await prefs.getByText('On: you are told about new messages').waitFor();
    assert.equal(await prefs.getByRole('button', { name: 'Turn on notifications' }).isVisible(), false);
    const showText = prefs.getByLabel(/Show the message text in notifications/);
    assert.equal(await showText.isChecked(), false, 'no message text unless the user opts in');
    // Bob reads item 7's message first, and keeps the conversation open.
    await openFromList(b, alice.account.username);
    await bubble(b, 'typed straight away', 'theirs').waitFor();
    await b.waitForFunction(() => document.querySelector('.conv-item[aria-current="true"] .badge.unread') === null);

    await setVisibility(b, 'hidden');
    const a = alice.handle.page;
    await sendMessage(a, 'first while hidden');
    await b.waitForFunction(() => /** @type {any} */ (window).__shown.length === 1);
    await b.waitForFunction(() => document.title === '(1) Chat · Parley');
    const first = await b.evaluate(() => /** @type {any} */ (window).__shown[0]);
    assert.deepEqual(first, { title: 'Parley', body: `New message from ${alice.account.username}` }, 'no text by default');

    await showText.check();
    await sendMessage(a, 'second while hidden');
    await b.waitForFunction(() => /** @type {any} */ (window).__shown.length === 2);
    await b.waitForFunction(() => document.title === '(2) Chat · Parley');
    const second = await b.evaluate(() => /** @type {any} */ (window).__shown[1]);
    assert.deepEqual(second, { title: 'Parley', body: `${alice.account.username}: second while hidden` }, 'text after opting in');
    await showText.uncheck();

    await setVisibility(b, 'visible');
    await b.waitForFunction(() => document.title === 'Chat · Parley');
    await screenshot(b, 'newcomer-8-notification-prefs');
  });

  test('issue14 item 4: a run of undecryptable messages is one notice with a count', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    // Bob's browser loses its storage (the session cookie survives the reload).
    await b.evaluate(() => localStorage.clear());
    await b.reload();
    await waitForChatReady(b);
    await openFromList(b, alice.account.username);
    const run = b.locator('.timeline-list .sys[data-count]');
    await run.waitFor();
    const total = await b.evaluate(async () => {
      const id = document.querySelector('.conv-item[aria-current="true"]')?.getAttribute('data-peer');
      const r = await fetch(`/api/conversations/${id}/messages?limit=200`);
      return (await r.json()).messages.filter((/** @type {any} */ m) => m.kind === 'msg').length;
    });
    assert.equal(total, 3, 'three messages were written before the wipe');
    assert.equal(await run.getAttribute('data-count'), '3');
    assert.equal(await run.locator('.sys-text').innerText(), '3 messages can’t be decrypted in this browser (their keys are gone)');
    assert.equal(
      await b.locator('.timeline-list .sys .sys-text', { hasText: 'Message can’t be decrypted' }).count(),
      0,
      'no wall of identical lines',
    );
    await shot(b, 'newcomer-4-collapsed-warnings');

    // New messages still arrive and read normally.
    await sendMessage(a, 'after the wipe, from alice');
    await bubble(b, 'after the wipe, from alice', 'theirs').waitFor();
  });

  test('issue14 item 3: deleting an account wipes its keys; the peer keeps the history, marked deleted', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    assert.ok(
      (await a.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley:v1:')).length)) >= 4,
      'Alice has key material to lose',
    );
    await a.locator('.topbar').getByRole('link', { name: 'Account' }).click();
    await a.getByRole('heading', { name: 'Your account' }).waitFor();
    await advanceClock(fx.server, 30);
    alice.account.authenticator.clockOffset += 30;
    const danger = a.locator('#account-delete');
    await danger.getByLabel('Your password', { exact: true }).fill(alice.account.password);
    await danger.getByLabel('Code from your authenticator app').fill(await alice.account.authenticator.next());
    await danger.getByLabel(/I understand that my account/).check();
    await danger.getByRole('button', { name: 'Delete my account' }).click();
    await a.getByText('Your account has been deleted.').waitFor();
    assert.deepEqual(
      await a.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley:'))),
      [],
      'no key material left in the deleting browser',
    );

    // Bob, live: the notice, and no way to send.
    await b.locator('.conv-deleted', { hasText: `${alice.account.username} deleted their account` }).waitFor();
    const box = b.getByRole('textbox', { name: 'Message' });
    assert.equal(await box.isDisabled(), true, 'composer disabled');
    assert.equal(await b.getByRole('button', { name: 'Send', exact: true }).isDisabled(), true);
    await shot(b, 'newcomer-3-peer-deleted-live');

    // After a reload: still listed, marked, history readable, composer disabled.
    await b.reload();
    await waitForChatReady(b);
    const item = b.locator('.conv-item', { hasText: alice.account.username });
    await item.locator('.badge.deleted', { hasText: 'Deleted account' }).waitFor();
    await openFromList(b, alice.account.username);
    await bubble(b, 'after the wipe, from alice', 'theirs').waitFor();
    await b.locator('.conv-deleted').waitFor();
    assert.equal(await box.isDisabled(), true);
    await screenshot(b, 'newcomer-3-peer-deleted-desktop');
    await b.setViewportSize(SIZES.phone);
    await screenshot(b, 'newcomer-3-peer-deleted-phone');

    await assertChatClean(bob);
    await assertClean(alice.handle, { allow: [...CHAT_ALLOWED, /\/api\/me\b.*HTTP 401|status of 401/] });
  });
});
