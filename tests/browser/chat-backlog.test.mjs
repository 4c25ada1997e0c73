// @ts-check
/**
 * Issue 9 item 7 in real Chromium: a user who was away for more than 1,000 messages (the old
 * backlog limit) sees every one of them, with no silent gap. The messages are made fast by a
 * small script in the sender's page (the app's own protocol module over the real API), not by
 * typing.
 *
 * What is checked: when the conversation opens, what the timeline shows is always a
 * contiguous run of the newest messages — anything older that already arrived waits behind a
 * "not shown yet" marker with a button — and loading older pages reaches every message,
 * each exactly once, in order.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { assertChatClean, openFromList, shot, waitForChatReady } from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { newUsername, registerViaApi } from './flows.mjs';
import { openPage } from './harness.mjs';

/** More than the old 1,000-message backlog limit. */
const COUNT = 1_100;

// 1,100 sends from one user in a few seconds: above the default send quota (issue 9 item 8).
const fx = useBrowserFixture({ env: { PARLEY__QUOTA_SENDS_PER_MINUTE: '1000000' } });

/**
 * @param {import('playwright-core').Browser} b
 * @param {string} prefix
 */
async function person(b, prefix) {
  const handle = await openPage(b);
  await handle.page.goto(fx.server.url);
  const account = await registerViaApi(handle.page, { username: newUsername(prefix) });
  await waitForChatReady(handle.page);
  const id = await handle.page.evaluate(async () => (await (await fetch('/api/me')).json()).user.id);
  return { handle, account, id: /** @type {string} */ (id) };
}

/**
 * Ids of the stored items the open timeline shows, in order.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<number[]>}
 */
async function shownIds(page) {
  const ids = await page.locator('.timeline-list [data-id]').evaluateAll((els) => els.map((el) => Number(/** @type {HTMLElement} */ (el).dataset.id)));
  return ids;
}

describe('issue 9 item 7: a long absence loses nothing', { timeout: 240_000 }, () => {
  test('issue9_item7_offline_for_more_than_1000_messages_sees_every_one_with_no_gap', async () => {
    const alice = await person(fx.browser, 'alice');
    const bob = await person(fx.browser, 'bob');
    const a = alice.handle.page;
    const b = bob.handle.page;
    // Bob goes away (his socket closes; his keys stay in his browser's storage).
    await b.goto('about:blank');

    // Alice's page encrypts and posts COUNT messages with the app's protocol module.
    const sent = await a.evaluate(
      async ({ peer, count }) => {
        // The app's own module, as the page loaded it (a variable: it is the page's URL).
        const url = '/protocol.js';
        const protocol = await import(url);
        const me = await (await fetch('/api/me')).json();
        const identity = await protocol.loadIdentity(localStorage, me.user.id);
        if (!identity) throw new Error('no identity in this browser');
        const conv = new protocol.Conversation({ me: me.user.id, peer, identity, storage: localStorage, log: null });
        await conv.setPeerKeys(await (await fetch(`/api/users/${peer}/keys`)).json());
        /** @type {number[]} */
        const ids = [];
        /** @param {unknown} payload */
        const post = async (payload) => {
          const r = await fetch(`/api/conversations/${peer}/messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
            body: JSON.stringify({ payload }),
          });
          if (r.status !== 201) throw new Error(`send: HTTP ${r.status} ${await r.text()}`);
          const body = await r.json();
          ids.push(body.message.id);
          return body.message;
        };
        for (let i = 1; i <= count; i += 1) await conv.send(`backlog message ${i}`, post);
        return ids;
      },
      { peer: bob.id, count: COUNT },
    );
    // The first send also posted the key exchange.
    assert.ok(sent.length > COUNT, `${sent.length} stored`);

    // Bob comes back. The backlog now arrives in pages; wait until the old limit was reached
    // (the 1,000th unacknowledged message is delivered) so that the old code's gap shows.
    await b.goto(fx.server.url);
    await waitForChatReady(b);
    const thousandth = /** @type {number} */ (sent[999]);
    await a.waitForFunction(
      async ({ peer, id }) => {
        const r = await fetch(`/api/conversations/${peer}/messages?before=${id + 1}&limit=1`);
        const page = (await r.json()).messages;
        return page.length === 1 && page[0].id === id && page[0].delivered_at !== null;
      },
      { peer: bob.id, id: thousandth },
      { polling: 250, timeout: 60_000 },
    );
    await openFromList(b, alice.account.username);
    await b.locator('.timeline-list .msg[data-id]').first().waitFor();

    // What is shown is the newest messages without a hole; the rest waits behind the marker.
    const first = await shownIds(b);
    assert.ok(first.length > 0 && first.length < sent.length, `a first page (${first.length})`);
    assert.deepEqual(first, sent.slice(sent.length - first.length), 'the shown messages are contiguous and the newest');
    const marker = b.getByRole('button', { name: 'Show earlier messages' });
    const older = b.getByRole('button', { name: 'Load older messages' });
    assert.ok((await marker.isVisible()) || (await older.isVisible()), 'a way to load what is not shown');
    await shot(b, 'backlog-marker');

    // Everything is reachable: load until the beginning; every message once, in order.
    for (let round = 0; round < 200; round += 1) {
      if (await b.getByText('Beginning of the conversation').isVisible()) break;
      if (await marker.isVisible()) {
        await marker.click();
      } else if (await older.isVisible()) {
        await older.click();
      }
      await b.waitForFunction(() => !document.querySelector('.load-older[disabled]'), undefined, { polling: 100 });
      const now = await shownIds(b);
      assert.deepEqual(now, sent.slice(sent.length - now.length), `round ${round}: still contiguous`);
    }
    await b.getByText('Beginning of the conversation').waitFor();
    const all = await shownIds(b);
    assert.deepEqual(all, sent, 'every message, once, in order');
    const texts = await b.locator('.timeline-list .msg[data-id] .msg-text').allTextContents();
    assert.deepEqual(
      texts,
      Array.from({ length: COUNT }, (_, i) => `backlog message ${i + 1}`),
      'every message decrypts',
    );
    assert.equal(await marker.count(), 0, 'no marker once everything is shown');
    // Every message was acknowledged by Bob's browser: the backlog drained completely.
    await a.waitForFunction(
      async ({ peer, last }) => {
        const r = await fetch(`/api/conversations/${peer}/messages?before=${last + 1}&limit=1`);
        return (await r.json()).messages[0].delivered_at !== null;
      },
      { peer: bob.id, last: /** @type {number} */ (sent.at(-1)) },
      { polling: 250, timeout: 60_000 },
    );
    await assertChatClean(alice, bob);
  });
});
