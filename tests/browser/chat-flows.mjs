// @ts-check
/**
 * Shared steps for the chat browser tests: two people registered through the real sign-up flow
 * in two isolated browser contexts, opening a chat, sending and waiting for messages, reopening
 * a browser from its saved storage state, and reading the E9 console lines.
 */

import assert from 'node:assert/strict';

import { newUsername, registerViaUi, signInTotp } from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';

/** @typedef {import('./harness.mjs').PageHandle} PageHandle */
/** @typedef {import('./flows.mjs').Account} Account */
/** @typedef {{ handle: PageHandle, account: Account }} Person */

/** Failures that are part of normal operation in chat tests. */
export const CHAT_ALLOWED = [
  /\/api\/me\b.*(HTTP 401)|status of 401.*\/api\/me\b/,
  // A contact found by exact username: 404 is the answer for "no such user".
  /\/api\/users\?username=.*HTTP 404|status of 404/,
  // A read mark still in flight when the test reloads or closes the page is cancelled by the
  // browser (it is idempotent and sent again by the next load): not an application error.
  /\/api\/conversations\/[0-9a-f]+\/read: net::ERR_ABORTED/,
];

/** The E9 line of an encryption or decryption (docs/protocol.md §12). */
export const CRYPTO_LINE = /^\[parley\] (encrypt|decrypt) +ks=(\S+) salt=\d+ dir=(\S+) iv=([0-9a-f]{24})/;

/**
 * A person: a new isolated context, registered through the UI, on the chat page.
 * @param {import('playwright-core').Browser} browser
 * @param {import('./harness.mjs').Server} server
 * @param {string} prefix
 * @param {import('playwright-core').BrowserContextOptions} [contextOptions]
 * @returns {Promise<Person>}
 */
export async function newPerson(browser, server, prefix, contextOptions = {}) {
  const handle = await openPage(browser, contextOptions);
  await handle.page.goto(server.url);
  const account = await registerViaUi(handle.page, { username: newUsername(prefix) });
  await waitForChatReady(handle.page);
  return { handle, account };
}

/**
 * Alice and Bob, at once, each in a fresh context, registered and on the chat page.
 * @param {import('playwright-core').Browser} browser
 * @param {import('./harness.mjs').Server} server
 * @returns {Promise<[Person, Person]>}
 */
export function aliceAndBob(browser, server) {
  return Promise.all([newPerson(browser, server, 'alice'), newPerson(browser, server, 'bob')]);
}

/**
 * Alice and Bob (`aliceAndBob`), each with the chat to the other open, and Alice's message `first`
 * shown to Bob. `beforeSending` runs before anything is sent (to record what the pages post, say);
 * with `bobWaiting`, Bob opens the chat before Alice sends (the message reaches him live), else
 * after (he finds it in the history).
 * @param {import('playwright-core').Browser} browser
 * @param {import('./harness.mjs').Server} server
 * @param {string} first
 * @param {{ beforeSending?: (alice: Person, bob: Person) => void, bobWaiting?: boolean }} [options]
 * @returns {Promise<{ alice: Person, bob: Person, a: import('playwright-core').Page, b: import('playwright-core').Page }>}
 */
export async function aliceWritesToBob(browser, server, first, { beforeSending, bobWaiting = false } = {}) {
  const [alice, bob] = await aliceAndBob(browser, server);
  beforeSending?.(alice, bob);
  const a = alice.handle.page;
  const b = bob.handle.page;
  await openChat(a, bob.account.username);
  if (bobWaiting) await openChat(b, alice.account.username);
  await sendMessage(a, first);
  if (!bobWaiting) await openChat(b, alice.account.username);
  await bubble(b, first, 'theirs').waitFor();
  return { alice, bob, a, b };
}

/**
 * `assertClean` for each person's page, allowing what the chat legitimately logs.
 * @param {...Person} people
 */
export async function assertChatClean(...people) {
  for (const person of people) {
    await assertClean(person.handle, { allow: CHAT_ALLOWED });
  }
}

/**
 * The chat page has started: identity published, list loaded, socket connected.
 * @param {import('playwright-core').Page} page
 */
export async function waitForChatReady(page) {
  await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
  await page.locator('.chat-list .conn[data-state="online"]').waitFor();
}

/**
 * Opens (or starts) the chat with `username` through "Start a chat".
 * @param {import('playwright-core').Page} page
 * @param {string} username
 */
export async function openChat(page, username) {
  await page.getByLabel('Start a chat').fill(username);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await page.locator('.conv-title', { hasText: username }).waitFor();
  await page.locator('.timeline-list[data-loaded="true"]').waitFor({ state: 'attached' });
}

/**
 * Opens an existing conversation from the list.
 * @param {import('playwright-core').Page} page
 * @param {string} username
 */
export async function openFromList(page, username) {
  await page.locator('.conv-item', { hasText: username }).click();
  await page.locator('.conv-title', { hasText: username }).waitFor();
  await page.locator('.timeline-list[data-loaded="true"]').waitFor({ state: 'attached' });
}

/**
 * Types a message and presses Enter; waits until the server stored it (no longer pending).
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export async function sendMessage(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  try {
    await bubble(page, text, 'mine').waitFor();
  } catch (error) {
    const failed = await page.locator('.timeline-list .msg.failed .msg-error').allTextContents();
    const pending = await page.locator('.timeline-list .msg.pending .msg-text').allTextContents();
    throw new Error(`${String(error)}\nfailed sends: ${JSON.stringify(failed)}; still pending: ${JSON.stringify(pending)}`);
  }
}

/**
 * A stored chat bubble with exactly this text.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 * @param {'mine' | 'theirs'} [side]
 */
export function bubble(page, text, side) {
  const cls = side ? `.msg.${side}[data-id]` : '.msg[data-id]';
  return page.locator(cls).filter({ has: page.locator('.msg-text').getByText(text, { exact: true }) });
}

/**
 * The texts of all stored bubbles in the open conversation, in order.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
export function bubbleTexts(page) {
  return page.locator('.timeline-list .msg[data-id] .msg-text').allTextContents();
}

/**
 * The texts of the system lines ("Keys changed", "Secure session started", warnings).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
export function systemTexts(page) {
  return page.locator('.timeline-list .sys .sys-text').allTextContents();
}

/**
 * Saves the context's storage state, closes it and opens a new context with that state (the
 * browser "closed and reopened": localStorage survives, the session cookie does not), then
 * signs in again with password and TOTP.
 * @param {import('playwright-core').Browser} browser
 * @param {import('./harness.mjs').Server} server
 * @param {Person} person
 * @returns {Promise<Person>}
 */
export async function reopen(browser, server, person) {
  const state = await person.handle.context.storageState();
  assert.ok(
    state.origins.some((o) => o.localStorage.some((item) => item.name.endsWith(':identity'))),
    'the identity key is in the saved localStorage',
  );
  await person.handle.close();
  // Closing a browser ends its session cookies (no expiry); localStorage stays.
  const reopened = { ...state, cookies: state.cookies.filter((c) => c.expires !== -1) };
  const handle = await openPage(browser, { storageState: reopened });
  await handle.page.goto(new URL('/#/login', server.url).href);
  await signInTotp(handle.page, person.account);
  await waitForChatReady(handle.page);
  return { handle, account: person.account };
}

/**
 * The E9 encrypt/decrypt lines a page logged.
 * @param {PageHandle} handle
 * @returns {{ op: string, ks: string, dir: string, iv: bigint }[]}
 */
export function cryptoLines(handle) {
  return handle.console
    .map((m) => CRYPTO_LINE.exec(m.text))
    .filter((m) => m !== null)
    .map((m) => ({ op: /** @type {string} */ (m[1]), ks: /** @type {string} */ (m[2]), dir: /** @type {string} */ (m[3]), iv: BigInt(`0x${m[4]}`) }));
}

/**
 * Asserts that within each (operation, key set, direction) the IVs strictly increase.
 * @param {{ op: string, ks: string, dir: string, iv: bigint }[]} lines
 * @param {string} what for the message
 */
export function assertIvsIncrease(lines, what) {
  /** @type {Map<string, bigint>} */
  const last = new Map();
  for (const line of lines) {
    const key = `${line.op} ${line.ks} ${line.dir}`;
    const before = last.get(key);
    assert.ok(before === undefined || line.iv > before, `${what}: IV ${line.iv} after ${before} for ${key}`);
    last.set(key, line.iv);
  }
}

/**
 * Screenshot helper for chat files: `chat-<name>.png`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export function shot(page, name) {
  return screenshot(page, `chat-${name}`);
}
