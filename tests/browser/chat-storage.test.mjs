// @ts-check
/**
 * E1/E3: the server stores only what it cannot read. After two people exchange distinctive
 * messages through the real UI, neither the SQLite database nor its write-ahead log (read while
 * the server runs, so the WAL holds the latest writes) nor the server's log contains any of the
 * plaintexts — as UTF-8, UTF-16 or JSON-escaped — while the ciphertexts the server returned are
 * found there (so the right files were read).
 *
 * The server runs with `PARLEY__CRYPTO_CONSOLE_LOG=false` (production): the pages then log no
 * crypto line at all (E9's switch).
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';

import { aliceAndBob, assertChatClean, bubble, openChat, sendMessage, shot } from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';

const fx = useBrowserFixture({ env: { PARLEY__CRYPTO_CONSOLE_LOG: 'false' } });

/**
 * Every way a text could sit in a file.
 * @param {string} text
 * @returns {{ form: string, bytes: Buffer }[]}
 */
function encodings(text) {
  const jsonEscaped = JSON.stringify(text).slice(1, -1).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return [
    { form: 'UTF-8', bytes: Buffer.from(text, 'utf8') },
    { form: 'UTF-16LE', bytes: Buffer.from(text, 'utf16le') },
    { form: 'JSON-escaped', bytes: Buffer.from(jsonEscaped, 'utf8') },
  ];
}

describe('the database holds no plaintext (crypto console log off)', { timeout: 60_000 }, () => {
  test('distinctive messages both ways; db, WAL and log hold none of them', async () => {
    const [alice, bob] = await aliceAndBob(fx.browser, fx.server);
    const tag = randomBytes(6).toString('hex');
    const fromAlice = [
      `PLAINTEXT-CANARY-${tag}-one`,
      `Совершенно секретно ${tag}`,
      `極秘のメッセージ ${tag} 🔐🦊`,
    ];
    const fromBob = [`PLAINTEXT-CANARY-${tag}-reply`, `سري للغاية ${tag} 🕵️‍♀️`];

    await openChat(alice.handle.page, bob.account.username);
    for (const text of fromAlice) await sendMessage(alice.handle.page, text);
    await openChat(bob.handle.page, alice.account.username);
    for (const text of fromAlice) await bubble(bob.handle.page, text, 'theirs').waitFor();
    for (const text of fromBob) await sendMessage(bob.handle.page, text);
    for (const text of fromBob) await bubble(alice.handle.page, text, 'theirs').waitFor();
    await shot(bob.handle.page, 'storage-conversation');

    // What the server stored, as the API returns it: the ciphertexts must be in the files.
    const peerId = await alice.handle.page.evaluate(async (name) => {
      const r = await fetch(`/api/users?username=${encodeURIComponent(name)}`);
      return (await r.json()).id;
    }, bob.account.username);
    const stored = await alice.handle.page.evaluate(async (peer) => {
      const r = await fetch(`/api/conversations/${peer}/messages?limit=200`);
      return (await r.json()).messages;
    }, peerId);
    const ciphertexts = stored.filter((/** @type {any} */ m) => m.kind === 'msg').map((/** @type {any} */ m) => m.payload.ciphertext);
    assert.equal(ciphertexts.length, fromAlice.length + fromBob.length);

    // Read the database and its WAL while the server runs (the WAL holds recent writes).
    const files = (await readdir(fx.server.dataDir)).filter((f) => f.startsWith('parley.db'));
    assert.ok(files.includes('parley.db'), `database file in ${files.join(', ')}`);
    const contents = await Promise.all(files.map(async (f) => ({ file: f, data: await readFile(path.join(fx.server.dataDir, f)) })));
    const all = Buffer.concat(contents.map((c) => c.data));
    for (const ct of ciphertexts) {
      assert.ok(all.includes(Buffer.from(ct, 'utf8')), `ciphertext ${ct.slice(0, 16)}… is stored (the right files were read)`);
    }
    const logs = Buffer.from(fx.server.logs(), 'utf8');
    for (const text of [...fromAlice, ...fromBob]) {
      for (const { form, bytes } of encodings(text)) {
        for (const { file, data } of contents) {
          assert.equal(data.includes(bytes), false, `${form} plaintext ${JSON.stringify(text)} found in ${file}`);
        }
        assert.equal(logs.includes(bytes), false, `${form} plaintext ${JSON.stringify(text)} found in the server log`);
      }
    }
    // The distinctive tag on its own appears nowhere either (not even in part of a message).
    assert.equal(all.includes(Buffer.from(tag)), false, 'the random tag is not in the database');

    // E9 switched off: not one crypto line in either console.
    for (const person of [alice, bob]) {
      assert.deepEqual(person.handle.console.filter((m) => m.text.startsWith('[parley]')), [], 'no crypto console lines');
    }
    await assertChatClean(alice, bob);
  });
});
