// @ts-check
/**
 * X5 live interop (issue 12): Alice in real Chromium (the web client), Bob in `parley-chat`
 * (the Rust client on crates/protocol), on the same server, in real time:
 * - messages both ways (emoji, non-Latin scripts, several lines), ticks on both sides;
 * - Refresh keys from each side, "Keys changed" on both;
 * - equal safety numbers;
 * - history decrypted after the CLI restarts and after the browser reopens;
 * - Alice's storage cleared: the E5 warning in the browser, the key-change warning in the CLI.
 */

import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';

import {
  assertChatClean, bubble, newPerson, openChat, openFromList, reopen, sendMessage, shot, systemTexts, waitForChatReady,
} from './chat-flows.mjs';
import { CliWatcher, cliRegister, cliRun, stateDir } from './cli.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { newUsername } from './flows.mjs';

const fx = useBrowserFixture();

const FROM_ALICE = 'Hello from Chromium 👋\nПривет, мир — 你好，世界 — مرحبا';
const FROM_BOB = 'Hi from the terminal 🖥️\nΓειά σου κόσμε — こんにちは — שלום';

/** @type {string[]} */
const dirs = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('parley-chat and Chromium on one server (X5)', { timeout: 240_000 }, () => {
  test('messages, ticks, refresh, safety numbers, restarts and a cleared browser', async () => {
    const server = fx.server;
    const dir = await stateDir();
    dirs.push(dir);
    const [alice, bob] = await Promise.all([
      newPerson(fx.browser, server, 'alice'),
      cliRegister(server, dir, newUsername('bob')),
    ]);
    const a = alice.handle.page;
    const aliceName = alice.account.username;

    let watch = new CliWatcher(server, dir);
    await watch.waitFor((e) => e.event === 'connection' && e.state === 'connected', { what: 'connected' });

    // Browser → CLI, live.
    await openChat(a, bob.username);
    await sendMessage(a, FROM_ALICE);
    const got = await watch.waitFor((e) => e.event === 'message' && !e.mine, { what: 'Alice\'s message' });
    assert.equal(got.text, FROM_ALICE, 'the CLI decrypts the browser\'s message exactly');
    assert.equal(got.peer_username, aliceName);
    // The browser's exchange, accepted by the Rust state machine: "Secure session started" on both.
    const started = await watch.waitFor((e) => e.event === 'session_started', { what: 'session_started' });
    assert.equal(started.by_me, false);
    await a.locator('.timeline-list .sys[data-kind="session"]').first().waitFor();
    // Bob's client stored it: Alice sees "Delivered".
    await bubble(a, FROM_ALICE, 'mine').locator('.msg-status[data-state="delivered"], .msg-status[data-state="read"]').waitFor();
    watch.command({ mark_read: aliceName });
    await bubble(a, FROM_ALICE, 'mine').locator('.msg-status[data-state="read"]').waitFor();

    // CLI → browser, live; Alice has the conversation open: delivered, then read, on Bob's side.
    watch.command({ send: { to: aliceName, text: FROM_BOB } });
    const sent = await watch.waitFor((e) => e.event === 'sent', { what: 'sent' });
    await bubble(a, FROM_BOB, 'theirs').waitFor();
    await watch.waitFor((e) => e.event === 'delivered' && e.id === sent.id, { what: 'delivered tick' });
    await watch.waitFor((e) => e.event === 'read' && e.up_to >= sent.id, { what: 'read tick' });
    await shot(a, 'cli-1-both-ways');

    // Refresh from the browser: "Keys changed" on both sides, and messages still flow.
    let mark = watch.events.length;
    await a.getByRole('button', { name: 'Refresh keys', exact: true }).click();
    await watch.waitFor((e) => e.event === 'keys_changed' && e.by_me === false, { from: mark, what: 'keys_changed from the browser' });
    await sendMessage(a, 'after the browser\'s refresh');
    await watch.waitFor((e) => e.event === 'message' && e.text === 'after the browser\'s refresh', { from: mark });

    // Refresh from the CLI.
    mark = watch.events.length;
    watch.command({ refresh: aliceName });
    await watch.waitFor((e) => e.event === 'keys_changed' && e.by_me === true, { from: mark, what: 'keys_changed by the CLI' });
    await a.locator('.timeline-list .sys[data-kind="keys"]').nth(1).waitFor();
    watch.command({ send: { to: aliceName, text: 'after the terminal\'s refresh' } });
    await bubble(a, 'after the terminal\'s refresh', 'theirs').waitFor();
    assert.ok((await systemTexts(a)).filter((t) => t === 'Keys changed').length >= 2, 'both refreshes shown in the browser');

    // Safety numbers agree.
    mark = watch.events.length;
    watch.command({ safety_number: aliceName });
    const cliNumber = (await watch.waitFor((e) => e.event === 'safety_number', { from: mark })).number.replace(/\s+/g, ' ').trim();
    await a.getByRole('button', { name: 'Safety number', exact: true }).click();
    const browserNumber = (await a.locator('dialog .safety-number').innerText()).replace(/\s+/g, ' ').trim();
    assert.match(browserNumber, /^(\d{5} ){11}\d{5}$/);
    assert.equal(cliNumber, browserNumber, 'the same safety number in the terminal and the browser');
    await a.getByRole('button', { name: 'Close' }).click();

    // The CLI restarts: its history decrypts from the sealed state file.
    await watch.stop();
    const history = await cliRun(server, dir, ['read', aliceName, '--json']);
    assert.equal(history.code, 0, history.stderr);
    const texts = history.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'message').map((e) => e.text);
    assert.deepEqual(texts, [FROM_ALICE, FROM_BOB, 'after the browser\'s refresh', 'after the terminal\'s refresh']);

    // The browser reopens (storage kept, new session): the CLI's messages decrypt again.
    const alice2 = await reopen(fx.browser, server, alice);
    const a2 = alice2.handle.page;
    await openFromList(a2, bob.username);
    await bubble(a2, FROM_BOB, 'theirs').waitFor();
    await bubble(a2, 'after the terminal\'s refresh', 'theirs').waitFor();

    // Alice's browser storage is cleared: E5 in the browser, the key-change warning in the CLI.
    watch = new CliWatcher(server, dir);
    await watch.waitFor((e) => e.event === 'connection' && e.state === 'connected');
    mark = watch.events.length;
    await a2.evaluate(() => localStorage.clear());
    await a2.reload();
    await waitForChatReady(a2);
    await a2.locator('.chat-banners .message[data-kind="warn"]').waitFor();
    const changed = await watch.waitFor((e) => e.event === 'peer_key_changed', { from: mark, what: 'peer_key_changed' });
    assert.equal(changed.peer_username, aliceName);
    // And the conversation goes on under a fresh exchange.
    await openFromList(a2, bob.username);
    await sendMessage(a2, 'new keys, same Alice');
    await watch.waitFor((e) => e.event === 'message' && e.text === 'new keys, same Alice', { from: mark });
    await shot(a2, 'cli-2-after-clear');
    await watch.stop();

    await assertChatClean(alice2);
  });
});
