// @ts-check
/**
 * E3 in real Chromium: a stored ciphertext posted again through the API (as its real sender,
 * with the session's CSRF token) is refused by the server (`409 iv_reused`: one (sender, key set,
 * IV) once, issue 8); a copy written into the database behind the server's back (what a malicious
 * server can do) is shown to the receiver as a rejected replay — never as a message; and a
 * tampered ciphertext as a message that could not be verified, live and after a reload. Nothing
 * crashes and nothing is silently dropped.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  CHAT_ALLOWED, aliceWritesToBob, assertChatClean, bubble, bubbleTexts, openFromList, sendMessage, shot, waitForChatReady,
} from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { assertClean } from './harness.mjs';

const fx = useBrowserFixture();

/**
 * Posts `mutate(payload of the latest msg)` into the conversation from the page's own session.
 * @param {import('playwright-core').Page} page
 * @param {string} peerName
 * @param {'same' | 'flip'} how `same` replays it verbatim; `flip` changes one ciphertext byte
 *   (and the IV, which the server would otherwise refuse as used)
 * @returns {Promise<{ status: number, id: number, error: string | null, original: number }>}
 */
function repost(page, peerName, how) {
  return page.evaluate(
    async ({ peerName, how }) => {
      const me = await (await fetch('/api/me')).json();
      const peer = await (await fetch(`/api/users?username=${encodeURIComponent(peerName)}`)).json();
      const page = await (await fetch(`/api/conversations/${peer.id}/messages?limit=200`)).json();
      const original = page.messages.filter((/** @type {any} */ m) => m.kind === 'msg' && m.sender_id === me.user.id).at(-1);
      const payload = structuredClone(original.payload);
      if (how === 'flip') {
        const bytes = Uint8Array.from(atob(payload.ciphertext), (c) => c.charCodeAt(0));
        bytes[0] = /** @type {number} */ (bytes[0]) ^ 0x01;
        payload.ciphertext = btoa(String.fromCharCode(...bytes));
        payload.iv = btoa(String.fromCharCode(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 232)); // counter 1000
      }
      const r = await fetch(`/api/conversations/${peer.id}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: JSON.stringify({ payload }),
      });
      const body = await r.json();
      return { status: r.status, id: body.message?.id ?? 0, error: body.error ?? null, original: original.id };
    },
    { peerName, how },
  );
}

describe('replayed and tampered ciphertexts', { timeout: 60_000 }, () => {
  test('a replay is rejected, a tampered message is not verified, live and after a reload', async () => {
    const { alice, bob, a, b } = await aliceWritesToBob(fx.browser, fx.server, 'pay Bob 10 euros', { bobWaiting: true });

    const refused = await repost(a, bob.account.username, 'same');
    assert.deepEqual([refused.status, refused.error], [409, 'iv_reused'], 'the server refuses a repeated (sender, key set, IV)');
    // A malicious server stores it anyway: a copy of the row, written into the database directly.
    const db = path.join(fx.server.dataDir, 'parley.db');
    const sql = `.timeout 5000
INSERT INTO messages (sender_id, recipient_id, pair_key, kind, payload, created_at)
  SELECT sender_id, recipient_id, pair_key, kind, payload, created_at + 1 FROM messages WHERE id = ${Number(refused.original)};
SELECT last_insert_rowid();`;
    const run = spawnSync('sqlite3', [db], { input: sql, encoding: 'utf8' });
    assert.equal(run.status, 0, `sqlite3: ${run.stderr}`);
    const stdout = run.stdout;
    const replay = { id: Number(stdout.trim().split('\n').at(-1)) };
    assert.ok(replay.id > refused.original, `the copy has a new id (${stdout})`);
    const tampered = await repost(a, bob.account.username, 'flip');
    assert.equal(tampered.status, 201);
    await b.locator(`.timeline-list .sys[data-id="${tampered.id}"]`, { hasText: 'Message could not be verified — not shown' }).waitFor();
    await sendMessage(a, 'a real message after the attack');
    await bubble(b, 'a real message after the attack', 'theirs').waitFor();
    assert.deepEqual(await bubbleTexts(b), ['pay Bob 10 euros', 'a real message after the attack'], 'the replay is not shown as a message');
    assert.ok(bob.handle.console.some((m) => /^\[parley\] reject .*mac=FAILED → rejected/.test(m.text)), 'E9 logs the failed MAC');
    await shot(b, 'replay-live');

    // The copy the server holds, and the tampered message, after a reload (from history).
    await b.reload();
    await waitForChatReady(b);
    await openFromList(b, alice.account.username);
    await b.locator(`.timeline-list .sys[data-id="${replay.id}"]`, { hasText: 'Rejected replay' }).waitFor();
    assert.ok(bob.handle.console.some((m) => /^\[parley\] reject .* replay \(last=0+\d+\) → rejected/.test(m.text)), 'E9 logs the rejected replay');
    await b.locator(`.timeline-list .sys[data-id="${tampered.id}"]`, { hasText: 'could not be verified' }).waitFor();
    assert.deepEqual(await bubbleTexts(b), ['pay Bob 10 euros', 'a real message after the attack']);
    await shot(b, 'replay-after-reload');

    // The refused repost is the one expected failure on Alice's page.
    await assertClean(alice.handle, { allow: [...CHAT_ALLOWED, /\/messages.*HTTP 409|status of 409/] });
    await assertChatClean(bob);
  });
});
