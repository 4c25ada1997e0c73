// @ts-check
/**
 * The chat over time, in real Chromium:
 * - a long history opens on its latest page; scrolling up loads older pages (`before=`);
 * - a dropped WebSocket shows "Offline", disables the composer, reconnects with backoff and
 *   catches up on everything sent meanwhile (nothing lost, X1);
 * - a session ended elsewhere closes the socket (4001): the tab goes to the sign-in page with
 *   the session-ended notice.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  CHAT_ALLOWED, aliceAndBob, assertChatClean, bubble, bubbleTexts, openChat, openFromList, sendMessage, shot, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { assertClean } from './harness.mjs';

const fx = useBrowserFixture();
/** @type {import('./chat-flows.mjs').Person} */
let alice;
/** @type {import('./chat-flows.mjs').Person} */
let bob;

const COUNT = 64;

describe('history, reconnect and session end', { timeout: 60_000 }, () => {
  before(async () => {
    [alice, bob] = await aliceAndBob(fx.browser, fx.server);
  });

  test('a long history opens on the latest page; scrolling up loads the older ones', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    await openChat(a, bob.account.username);
    const box = a.getByRole('textbox', { name: 'Message' });
    const texts = Array.from({ length: COUNT }, (_, i) => `message number ${i + 1}`);
    for (const text of texts) {
      await box.fill(text);
      await box.press('Enter');
    }
    await bubble(a, /** @type {string} */ (texts.at(-1)), 'mine').waitFor();
    assert.equal(await a.locator('.timeline-list .msg.pending').count(), 0);

    // Bob's tab received everything live; a reload shows what a fresh page loads.
    await b.reload();
    await waitForChatReady(b);
    await openFromList(b, alice.account.username);
    await bubble(b, /** @type {string} */ (texts.at(-1)), 'theirs').waitFor();
    const firstPage = await bubbleTexts(b);
    assert.ok(firstPage.length < COUNT, `only the latest page at first (${firstPage.length})`);
    assert.deepEqual(firstPage, texts.slice(COUNT - firstPage.length));
    await b.getByRole('button', { name: 'Load older messages' }).waitFor();
    await shot(b, 'history-latest-page');

    await b.locator('.timeline').evaluate((el) => el.scrollTo(0, 0));
    await b.getByText('Beginning of the conversation').waitFor();
    assert.deepEqual(await bubbleTexts(b), texts, 'every message, in order');
    assert.equal(await b.getByRole('button', { name: 'Load older messages' }).isVisible(), false);
    await shot(b, 'history-all');
    await assertChatClean(alice, bob);
  });

  test('a dropped connection: Offline, composer disabled, reconnect, nothing lost', async () => {
    const a = alice.handle.page;
    const b = bob.handle.page;
    let blocked = false;
    /** @type {import('playwright-core').WebSocketRoute | null} */
    let live = null;
    await b.routeWebSocket(/\/api\/ws$/, (ws) => {
      if (blocked) {
        void ws.close({ code: 4000, reason: 'test: network down' });
        return;
      }
      live = ws;
      ws.connectToServer();
    });
    // Reconnect once so the socket goes through the route, then cut it.
    await b.reload();
    await waitForChatReady(b);
    await openFromList(b, alice.account.username);
    assert.ok(live, 'the socket goes through the test route');
    blocked = true;
    await /** @type {import('playwright-core').WebSocketRoute} */ (live).close({ code: 4000, reason: 'test: network down' });
    await b.locator('.chat-list .conn[data-state="offline"]').waitFor();
    assert.equal(await b.getByRole('textbox', { name: 'Message' }).isDisabled(), true, 'no sending while offline');
    await shot(b, 'offline');

    const missed = ['sent while Bob was offline', 'and another one 📴'];
    for (const text of missed) await sendMessage(a, text);
    blocked = false;
    await b.locator('.chat-list .conn[data-state="online"]').waitFor({ timeout: 20_000 });
    for (const text of missed) await bubble(b, text, 'theirs').waitFor();
    // Bob's ack after the reconnect reaches Alice.
    await bubble(a, /** @type {string} */ (missed[1]), 'mine').locator('.msg-status[data-state="read"]').waitFor();
    assert.equal(await b.getByRole('textbox', { name: 'Message' }).isDisabled(), false);
    await sendMessage(b, 'back online');
    await bubble(a, 'back online', 'theirs').waitFor();
    await assertChatClean(alice, bob);
  });

  test('a session ended elsewhere closes the socket and goes to sign-in', async () => {
    const b = bob.handle.page;
    // "Sign out everywhere" from outside this app instance (no BroadcastChannel nudge).
    const status = await b.evaluate(async () => {
      const me = await (await fetch('/api/me')).json();
      const r = await fetch('/api/sessions/revoke-all', { method: 'POST', headers: { 'X-CSRF-Token': me.csrf_token } });
      return r.status;
    });
    assert.equal(status, 204);
    await b.getByRole('heading', { name: 'Sign in' }).waitFor();
    await b.getByText(/Your session ended/).waitFor();
    await shot(b, 'session-ended');
    await assertClean(bob.handle, { allow: [...CHAT_ALLOWED, /status of 401/, /HTTP 401/] });
  });
});
