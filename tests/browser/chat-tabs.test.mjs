// @ts-check
/**
 * X4/E3/E9 in real Chromium: Alice sends from two tabs of one browser at once. The tabs share
 * localStorage and serialize IV counters with the Web Locks API, so no IV is ever used twice
 * under a key, IV order is server order, and Bob accepts every message (no false "replay").
 * The captured console lines (E9) of all three pages show strictly increasing IVs per key.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CHAT_ALLOWED, aliceAndBob, assertChatClean, assertIvsIncrease, cryptoLines, openChat, shot, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';

const fx = useBrowserFixture();

const PER_TAB = 8;

/**
 * Types and sends `PER_TAB` messages as fast as the UI takes them.
 * @param {import('playwright-core').Page} page
 * @param {string} label
 * @returns {Promise<string[]>}
 */
async function burst(page, label) {
  const box = page.getByRole('textbox', { name: 'Message' });
  /** @type {string[]} */
  const texts = [];
  for (let i = 0; i < PER_TAB; i += 1) {
    const text = `${label} #${i}`;
    texts.push(text);
    await box.fill(text);
    await box.press('Enter');
  }
  return texts;
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} selector
 * @param {number} count
 */
function waitForCount(page, selector, count) {
  return page.waitForFunction(({ selector, count }) => document.querySelectorAll(selector).length >= count, { selector, count });
}

describe('two tabs of one user', { timeout: 60_000 }, () => {
  test('sending at once from two tabs never reuses an IV; console IVs climb per key', async () => {
    const [alice, bob] = await aliceAndBob(fx.browser, fx.server);
    const tab1 = alice.handle.page;
    // A second tab of the same browser (same context: same cookies and localStorage).
    const tab2 = await alice.handle.context.newPage();
    /** @type {{ type: string, text: string, url: string }[]} */
    const tab2Console = [];
    /** @type {Error[]} */
    const tab2Errors = [];
    tab2.on('console', (m) => tab2Console.push({ type: m.type(), text: m.text(), url: m.location().url ?? '' }));
    tab2.on('pageerror', (e) => tab2Errors.push(e));
    await tab2.goto(new URL('/#/chat', fx.server.url).href);
    await waitForChatReady(tab2);

    const b = bob.handle.page;
    await openChat(b, alice.account.username);
    await openChat(tab1, bob.account.username);
    await openChat(tab2, bob.account.username);

    const [texts1, texts2] = await Promise.all([burst(tab1, 'tab one'), burst(tab2, 'tab two')]);
    const total = texts1.length + texts2.length;
    await waitForCount(b, '.timeline-list .msg.theirs[data-id]', total);
    for (const tab of [tab1, tab2]) {
      await waitForCount(tab, '.timeline-list .msg.mine[data-id]', total);
      assert.equal(await tab.locator('.timeline-list .msg.pending, .timeline-list .msg.failed').count(), 0, 'nothing pending or failed');
    }
    const atBob = await b.locator('.timeline-list .msg.theirs[data-id] .msg-text').allTextContents();
    assert.deepEqual([...atBob].sort(), [...texts1, ...texts2].sort(), 'Bob has every message once');
    assert.equal(await b.locator('.timeline-list .sys[data-kind="warn"], .timeline-list .sys[data-kind="lost"]').count(), 0, 'no replay, no failure');
    assert.equal((await b.locator('.timeline-list .sys', { hasText: 'Secure session started' }).count()), 1, 'one exchange for both tabs');
    for (const tab of [tab1, tab2]) {
      assert.deepEqual(await tab.locator('.timeline-list .msg[data-id] .msg-text').allTextContents(), atBob, 'both tabs show the server order');
    }
    await shot(tab1, 'tabs-tab1');
    await shot(tab2, 'tabs-tab2');
    await shot(b, 'tabs-bob');

    // E9: per tab, encrypt IVs climb; across the tabs, every IV is used exactly once.
    const enc1 = cryptoLines(alice.handle).filter((l) => l.op === 'encrypt');
    const enc2 = cryptoLines({ ...alice.handle, console: tab2Console }).filter((l) => l.op === 'encrypt');
    assert.ok(enc1.length > 0 && enc2.length > 0, 'both tabs encrypted');
    assertIvsIncrease(enc1, 'tab 1');
    assertIvsIncrease(enc2, 'tab 2');
    const all = [...enc1, ...enc2];
    assert.equal(all.length, total);
    assert.equal(new Set(all.map((l) => `${l.ks} ${l.dir} ${l.iv}`)).size, total, 'no IV used twice under a key');
    assert.deepEqual(all.map((l) => Number(l.iv)).sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i + 1), 'IVs 1…N, no gap, no repeat');
    // Bob decrypts in server order: strictly increasing.
    const dec = cryptoLines(bob.handle).filter((l) => l.op === 'decrypt');
    assert.equal(dec.length, total);
    assertIvsIncrease(dec, 'Bob');

    // What the server stored: IVs increase with the server id (IV order = server order).
    const stored = await b.evaluate(async (name) => {
      const peer = await (await fetch(`/api/users?username=${encodeURIComponent(name)}`)).json();
      const page = await (await fetch(`/api/conversations/${peer.id}/messages?limit=200`)).json();
      return page.messages.filter((/** @type {any} */ m) => m.kind === 'msg').map((/** @type {any} */ m) => m.payload.iv);
    }, alice.account.username);
    const counters = stored.map((/** @type {string} */ iv) => Number(Buffer.from(iv, 'base64').readBigUInt64BE(4)));
    assert.deepEqual(counters, Array.from({ length: total }, (_, i) => i + 1), 'server order = IV order');

    assert.deepEqual(tab2Errors.map(String), [], 'tab 2 page errors');
    assert.deepEqual(tab2Console.filter((m) => m.type === 'error' && !CHAT_ALLOWED.some((re) => re.test(`${m.text} ${m.url}`))), [], 'tab 2 console errors');
    await assertChatClean(alice, bob);
  });
});
