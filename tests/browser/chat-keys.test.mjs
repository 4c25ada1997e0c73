// @ts-check
/**
 * Issue 8 (E3, E6, X3) and issue 14 item 2 in real Chromium, two people:
 * - a verified contact's security key changes → sending is blocked, the warning stays in the
 *   conversation and in the chat list across a reload, until the user looks at the safety number
 *   and accepts the new key; then messages flow again (finding 3, issue 14 item 2);
 * - a restored older localStorage (a profile backup) never makes the browser post a repeated
 *   (key set, IV): every POSTed payload is recorded and the server's stored history is read back
 *   (finding 1);
 * - an old `ecdh` posted again (what a replaying server does) does not move either side back
 *   from a Refresh: the next message is still under the refreshed key set (finding 4).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CHAT_ALLOWED, aliceWritesToBob, assertChatClean, bubble, openFromList, sendMessage, shot, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { signInTotp } from './flows.mjs';
import { assertClean, openPage } from './harness.mjs';

const fx = useBrowserFixture();

/**
 * Records every payload a page POSTs to a conversation, and every answer's status.
 * @param {import('playwright-core').Page} page
 * @param {Array<{ payload: any, status?: number }>} into
 */
function recordPosts(page, into) {
  page.on('request', (req) => {
    if (req.method() !== 'POST' || !/\/api\/conversations\/[^/]+\/messages$/.test(new URL(req.url()).pathname)) return;
    const entry = { payload: JSON.parse(req.postData() ?? '{}').payload };
    into.push(entry);
    void req.response().then((res) => {
      /** @type {{ payload: any, status?: number }} */ (entry).status = res?.status();
    });
  });
}

/** @param {Array<{ payload: any }>} posts @returns {string[]} (key set, IV) pairs posted twice */
function repeated(posts) {
  const seen = new Set();
  const twice = [];
  for (const { payload } of posts) {
    if (payload?.type !== 'msg') continue;
    const k = `${payload.key_set} ${payload.iv}`;
    if (seen.has(k)) twice.push(k);
    seen.add(k);
  }
  return twice;
}

/**
 * The conversation as the server stores it, read through the API by a signed-in page.
 * @param {import('playwright-core').Page} page @param {string} peerId
 * @returns {Promise<Array<{ sender_id: string, kind: string, payload: any }>>}
 */
function stored(page, peerId) {
  return page.evaluate(async (peer) => {
    const moduleUrl = '/api-client/http.js';
    const api = await import(moduleUrl);
    return (await api.get(`/api/conversations/${peer}/messages?limit=200`)).messages;
  }, peerId);
}

/**
 * Waits (at most 10 s) until the page has logged a console line matching `line`: already logged,
 * or the next console event that matches.
 * @param {import('./harness.mjs').PageHandle} handle @param {RegExp} line @param {string} what
 */
async function waitForConsoleLine(handle, line, what) {
  if (handle.console.some((m) => line.test(m.text))) return;
  await handle.page
    .waitForEvent('console', { predicate: (m) => line.test(m.text()), timeout: 10_000 })
    .catch(() => assert.fail(`timed out: ${what}`));
}

/** @param {import('playwright-core').Page} page @returns {Promise<string>} */
function myId(page) {
  return page.evaluate(async () => {
    const moduleUrl = '/api-client/http.js';
    return (await (await import(moduleUrl)).get('/api/me')).user.id;
  });
}

describe('security keys (issue 8, issue 14 item 2)', { timeout: 120_000 }, () => {
  test('a verified contact whose key changed: sending blocked, the warning survives a reload until accepted (finding 3, issue 14 item 2)', async () => {
    const { alice, bob, a, b } = await aliceWritesToBob(fx.browser, fx.server, 'hello, verified bob');

    // Alice compares the safety number and marks Bob verified.
    await a.getByRole('button', { name: 'Safety number' }).click();
    const dialog = a.getByRole('dialog');
    await dialog.locator('.safety-row').first().waitFor();
    const digits = (await dialog.locator('.safety-number').textContent())?.replace(/\s+/g, '') ?? '';
    assert.match(digits, /^\d{60}$/, '60 digits');
    await dialog.getByRole('button', { name: 'Mark as verified' }).click();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await a.locator('.conv-who .badge', { hasText: '✓ Verified' }).waitFor();

    // Bob's browser loses its keys: a new identity is published (as a substituted key would be).
    await b.evaluate(() => localStorage.clear());
    await b.reload();
    await waitForChatReady(b);

    // Alice: loud warning, composer disabled, the list says so too.
    const banner = a.locator('.key-warning');
    await banner.waitFor();
    assert.match(await banner.innerText(), /security key changed since you verified it\. Sending is paused/);
    assert.equal(await a.getByRole('textbox', { name: 'Message' }).isDisabled(), true, 'composer disabled');
    await a.locator('.conv-item .key-changed').waitFor();
    await a.locator('.conv-who .badge', { hasText: 'Key changed' }).waitFor();
    await shot(a, 'key-changed-blocked');

    // A reload keeps all of it (issue 14 item 2).
    await a.reload();
    await waitForChatReady(a);
    await a.locator('.conv-item', { hasText: bob.account.username }).locator('.key-changed').waitFor();
    await openFromList(a, bob.account.username);
    await a.locator('.key-warning').waitFor();
    assert.equal(await a.getByRole('textbox', { name: 'Message' }).isDisabled(), true, 'still blocked after a reload');

    // Alice reviews the new safety number and accepts the new key.
    await a.locator('.key-warning').getByRole('button', { name: 'Review safety number' }).click();
    const d2 = a.getByRole('dialog');
    await d2.locator('.safety-row').first().waitFor();
    assert.match(await d2.locator('.safety-changed').innerText(), /security key changed since you verified it/);
    const newDigits = (await d2.locator('.safety-number').textContent())?.replace(/\s+/g, '') ?? '';
    assert.notEqual(newDigits, digits, 'a new key, a new safety number');
    await d2.getByRole('button', { name: 'Accept new key' }).click();
    await d2.getByRole('button', { name: 'Close' }).click();
    await a.locator('.key-warning').waitFor({ state: 'hidden' });
    await a.locator('.conv-item .key-changed').waitFor({ state: 'detached' });
    await a.locator('.conv-who .badge', { hasText: 'Not verified' }).waitFor();
    await sendMessage(a, 'hello again, new bob');
    await openFromList(b, alice.account.username);
    await bubble(b, 'hello again, new bob', 'theirs').waitFor();
    await a.reload();
    await waitForChatReady(a);
    await openFromList(a, bob.account.username);
    assert.equal(await a.locator('.key-warning').isHidden(), true, 'accepted: no warning after a reload');
    await assertChatClean(alice);
    await alice.handle.close();
    await bob.handle.close();
  });

  test('a restored older localStorage never makes the browser post a repeated IV (finding 1)', async () => {
    /** @type {Array<{ payload: any, status?: number }>} */
    const posts = [];
    const { alice, bob, a, b } = await aliceWritesToBob(fx.browser, fx.server, 'one', {
      beforeSending: (alice) => recordPosts(alice.handle.page, posts),
    });
    // The backup: localStorage as it is now.
    const backup = await alice.handle.context.storageState();
    await sendMessage(a, 'two');
    await sendMessage(a, 'three');
    await alice.handle.close();

    // The profile is restored from the backup; Alice signs in again and writes on.
    const handle = await openPage(fx.browser, { storageState: { ...backup, cookies: [] } });
    recordPosts(handle.page, posts);
    await handle.page.goto(new URL('/#/login', fx.server.url).href);
    await signInTotp(handle.page, alice.account);
    await waitForChatReady(handle.page);
    await openFromList(handle.page, bob.account.username);
    // The restored counter of the key set in use says IV 1; the server holds IVs up to 3.
    await sendMessage(handle.page, 'four, after the restore');
    assert.ok(
      handle.console.some((m) => /^\[parley\] resume +ks=\S+ own iv 1 → 3 \(server holds 3\)/.test(m.text)),
      'the counter was resumed from the server\'s last IV',
    );
    await handle.page.getByRole('button', { name: 'Refresh keys' }).click();
    await handle.page.locator('.timeline-list .sys[data-kind="keys"]', { hasText: 'Keys changed' }).waitFor();
    await sendMessage(handle.page, 'five, after a refresh');

    for (const text of ['two', 'three', 'four, after the restore', 'five, after a refresh']) {
      await bubble(b, text, 'theirs').waitFor();
    }
    assert.deepEqual(repeated(posts), [], 'no (key set, IV) was ever posted twice');
    assert.deepEqual(posts.filter((p) => p.status === 409), [], 'the server never had to refuse a repeated IV');
    const aliceId = await myId(handle.page);
    const slots = (await stored(handle.page, await myId(b)))
      .filter((m) => m.sender_id === aliceId && m.kind === 'msg')
      .map((m) => `${m.payload.key_set} ${m.payload.iv}`);
    assert.equal(new Set(slots).size, slots.length, 'the server holds no two messages with one (key set, IV)');
    assert.equal(slots.length, 5);
    await assertClean(handle, { allow: CHAT_ALLOWED });
    await handle.close();
    await bob.handle.close();
  });

  test('an old ecdh posted again does not undo a Refresh (finding 4)', async () => {
    /** @type {Array<{ payload: any, status?: number }>} */
    const alicePosts = [];
    /** @type {Array<{ payload: any, status?: number }>} */
    const bobPosts = [];
    const { alice, bob, a, b } = await aliceWritesToBob(fx.browser, fx.server, 'before the refresh', {
      beforeSending: (alice, bob) => {
        recordPosts(alice.handle.page, alicePosts);
        recordPosts(bob.handle.page, bobPosts);
      },
    });
    await a.getByRole('button', { name: 'Refresh keys' }).click();
    await b.locator('.timeline-list .sys[data-kind="keys"]', { hasText: 'Keys changed' }).waitFor();
    const ecdh = alicePosts.find((p) => p.payload.type === 'ecdh')?.payload;
    const change = alicePosts.find((p) => p.payload.type === 'change')?.payload;
    assert.ok(ecdh && change);

    // The old exchange is stored again as a new message with a fresh time stamp, and pushed.
    const bobId = await myId(b);
    await a.evaluate(async ({ peer, payload }) => {
      const moduleUrl = '/api-client/http.js';
      return (await import(moduleUrl)).post(`/api/conversations/${peer}/messages`, { payload });
    }, { peer: bobId, payload: ecdh });
    const replayLine = /^\[parley\] reject .*already holds: replay, no effect/;
    await waitForConsoleLine(bob.handle, replayLine, 'Bob judged it a replay');

    // Both still send under the refreshed key set.
    await sendMessage(b, 'after the replay, from bob');
    await bubble(a, 'after the replay, from bob', 'theirs').waitFor();
    await sendMessage(a, 'after the replay, from alice');
    await bubble(b, 'after the replay, from alice', 'theirs').waitFor();
    const lastBob = bobPosts.filter((p) => p.payload.type === 'msg').at(-1)?.payload;
    const lastAlice = alicePosts.filter((p) => p.payload.type === 'msg').at(-1)?.payload;
    assert.equal(lastBob.key_set, change.new_key_set, "Bob's message is under the refreshed key set");
    assert.equal(lastAlice.key_set, change.new_key_set, "Alice's message is under the refreshed key set");
    assert.equal(bobPosts.filter((p) => p.payload.type !== 'msg').length, 0, 'Bob started no new exchange');
    await assertChatClean(bob);
    await alice.handle.close();
    await bob.handle.close();
  });
});
