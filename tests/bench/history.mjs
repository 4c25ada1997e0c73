// @ts-check
/**
 * The `history` benchmark of issue 10 (docs/performance.md): a conversation of N real,
 * end-to-end encrypted messages opened in headless Chromium by a recipient who was away while
 * they were sent — the web client's own code on both sides, the real server.
 *
 *   node tests/bench/history.mjs [--counts 10000,100000] [--smoke]
 *
 * For each N: Alice and Bob sign up through the UI; Alice's browser starts the secure session
 * with one message; Bob closes his tab; Alice's page then encrypts and posts N messages with
 * the client's protocol module (web/protocol/conversation.js, WebCrypto, the same storage and
 * locks as the app) straight to the API, without the chat UI (typing 100,000 messages would
 * measure the keyboard); Bob opens the app again. Printed:
 * - `seed`: messages per second Alice's browser encrypted and the server stored;
 * - `ready`: from Bob's navigation to the chat list online (backlog catch-up included);
 * - `newest`: from clicking the conversation to its newest message on screen (goal < 1 s);
 * - `all`: paging back with "Load older messages" to the first message: pages, time per page,
 *   and whether every message 1…N is on screen exactly once (goal: no gaps).
 * Asserts only that every message arrives and decrypts (a benchmark, not a test).
 */

import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';

import { aliceAndBob, openChat, openFromList, sendMessage, waitForChatReady } from '../browser/chat-flows.mjs';
import { startAccountServer } from '../browser/flows.mjs';
import { launchBrowser } from '../browser/harness.mjs';

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '10000,100000' },
    smoke: { type: 'boolean', default: false },
  },
});
const counts = values.smoke ? [300] : String(values.counts).split(',').map(Number);

/** @param {number} ms */
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

/**
 * In Alice's page: encrypt and post `n` messages to `peerId` with the client's protocol module.
 * @param {import('playwright-core').Page} page
 * @param {string} peerId
 * @param {number} n
 * @returns {Promise<number>} milliseconds
 */
function seed(page, peerId, n) {
  return page.evaluate(
    async ({ peerId, n }) => {
      // The app's own modules, from the page's origin (specifiers in variables: they exist
      // only in the browser, not for Node's typecheck).
      const [conversationJs, storageJs] = ['/protocol/conversation.js', '/protocol/storage.js'];
      const { Conversation } = await import(conversationJs);
      const storage = await import(storageJs);
      /** @param {string} method @param {string} path @param {unknown} [body] */
      const api = async (method, path, body) => {
        const r = await fetch(path, {
          method,
          headers: body === undefined ? {} : { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${await r.text()}`);
        return r.json();
      };
      const me = await (await fetch('/api/me')).json();
      const identity = await storage.loadIdentity(localStorage, me.user.id);
      if (!identity) throw new Error('no identity in localStorage');
      const conv = new Conversation({
        me: me.user.id,
        peer: peerId,
        identity,
        storage: localStorage,
        lastIv: (/** @type {string} */ ks) => api('GET', `/api/keysets/${ks}/last-iv`),
      });
      const keys = await api('GET', `/api/users/${peerId}/keys`);
      await conv.setPeerKeys({ ...keys, current: keys.current ?? null });
      const post = async (/** @type {unknown} */ payload) =>
        (await api('POST', `/api/conversations/${peerId}/messages`, { payload })).message;
      const started = performance.now();
      for (let i = 1; i <= n; i += 1) {
        await conv.send(`history ${i}`, post);
      }
      return performance.now() - started;
    },
    { peerId, n },
  );
}

/**
 * @param {import('playwright-core').Page} page
 * @returns {Promise<number[]>} the numbers of the "history i" bubbles on screen, in order
 */
async function shownNumbers(page) {
  const texts = await page.locator('.timeline-list .msg[data-id] .msg-text').allTextContents();
  return texts.flatMap((t) => (/^history (\d+)$/.exec(t) ? [Number(t.slice(8))] : []));
}

/**
 * One run with `n` messages.
 * @param {number} n
 */
async function run(n) {
  const server = await startAccountServer({ PARLEY__QUOTA_SENDS_PER_MINUTE: '1000000' });
  const browser = await launchBrowser(server.pin);
  try {
    const [alice, bob] = await aliceAndBob(browser, server);
    const a = alice.handle.page;
    await openChat(a, bob.account.username);
    await sendMessage(a, 'hello');
    // Alice's app leaves the conversation view (her own pushes would fill her screen), and Bob
    // goes away: his cookies and localStorage stay in the context.
    const peerId = await a.evaluate(async (name) => {
      const r = await fetch(`/api/users?username=${encodeURIComponent(name)}`);
      return (await r.json()).id;
    }, bob.account.username);
    await a.goto(new URL('/#/account', a.url()).href);
    const context = bob.handle.page.context();
    await bob.handle.page.close();

    const seedMs = await seed(a, peerId, n);
    console.log(`history n=${n} seed: ${n} messages encrypted and stored in ${fmt(seedMs)} = ${Math.round((n / seedMs) * 1000)} msg/s`);
    await a.close();

    const page = await context.newPage();
    let started = performance.now();
    await page.goto(server.url);
    await waitForChatReady(page);
    const readyMs = performance.now() - started;

    started = performance.now();
    await openFromList(page, alice.account.username);
    await page
      .locator('.timeline-list .msg[data-id] .msg-text')
      .getByText(`history ${n}`, { exact: true })
      .waitFor({ timeout: 120_000 });
    const newestMs = performance.now() - started;

    started = performance.now();
    const older = page.getByRole('button', { name: 'Load older messages' });
    let pages = 0;
    while (await older.isVisible()) {
      const before = await page.locator('.timeline-list .msg[data-id]').count();
      await older.click();
      await page.waitForFunction(
        ({ before }) =>
          document.querySelectorAll('.timeline-list .msg[data-id]').length > before ||
          /** @type {HTMLElement | null} */ (document.querySelector('.load-older'))?.hidden === true,
        { before },
        { timeout: 120_000, polling: 50 },
      );
      pages += 1;
    }
    const allMs = performance.now() - started;
    const shown = await shownNumbers(page);
    const gaps = shown.filter((v, i) => v !== i + 1).length;
    console.log(
      `history n=${n} ready=${fmt(readyMs)} newest=${fmt(newestMs)} ` +
        `all=${fmt(allMs)} pages=${pages} per_page=${pages ? (allMs / pages).toFixed(0) : 0} ms ` +
        `shown=${shown.length} gaps=${gaps}`,
    );
    assert.equal(shown.length, n, `every message on screen (${shown.length} of ${n})`);
    assert.equal(gaps, 0, 'messages 1…N in order, each once');
    await page.close();
  } finally {
    await browser.close();
    await server.stop();
  }
}

for (const n of counts) {
  await run(n);
}
