// @ts-check
/**
 * NIST SP 800-63B §7.2 (row 7.2-non-persistent): session secrets do not survive a restart of the
 * browser. Sign up in a persistent Chromium profile (session restore off, the default of a new
 * profile), close the whole browser, start it again on the same profile: sign-in is required.
 * The chat's end-to-end encryption keys (E4) live on in localStorage; the session does not.
 */

import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, newUsername, registerViaUi } from './flows.mjs';
import { CHROMIUM_PATH, assertClean, chromiumArgs, screenshot } from './harness.mjs';

const SESSION_COOKIE = '__Host-parley_session';

const fx = useBrowserFixture({ browser: false });
/** @type {string} */
let userDataDir;

/**
 * Starts Chromium on the test profile, with the harness's flags, and collects what
 * `assertClean` checks from its first page.
 */
async function launchProfile() {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumArgs(fx.server.pin),
    viewport: { width: 1100, height: 800 },
  });
  context.setDefaultTimeout(10_000);
  const page = context.pages()[0] ?? (await context.newPage());
  /** @type {import('./harness.mjs').PageHandle} */
  const handle = {
    context,
    page,
    console: [],
    pageErrors: [],
    failedRequests: [],
    cspViolations: async () =>
      handle.console
        .filter((m) => /Content Security Policy|Trusted Type/i.test(m.text))
        .map((m) => ({ directive: 'console', blockedURI: '', sample: '', source: m.text })),
    close: () => context.close(),
  };
  page.on('console', (m) => handle.console.push({ type: m.type(), text: m.text(), url: m.location().url ?? '' }));
  page.on('pageerror', (error) => handle.pageErrors.push(error));
  page.on('requestfailed', (r) => handle.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText ?? 'failed'}`));
  page.on('response', (r) => {
    if (r.status() >= 400) {
      handle.failedRequests.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
    }
  });
  return handle;
}

/**
 * The page's localStorage keys of the chat protocol.
 * @param {import('playwright-core').Page} page
 */
function protocolKeys(page) {
  return page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('parley:v1:')).sort());
}

/**
 * `GET /api/me` from Node with the given cookie sent by hand (trusting only the server's CA).
 * @param {string} cookie
 * @returns {Promise<number>} the status
 */
async function meWithCookie(cookie) {
  const ca = await readFile(fx.server.caPem);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL('/api/me', fx.server.url),
      { method: 'GET', ca, servername: 'localhost', headers: { Accept: 'application/json', Cookie: cookie } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('browser restart (NIST 7.2-non-persistent)', { timeout: 90_000 }, () => {
  before(async () => {
    userDataDir = await mkdtemp(path.join(tmpdir(), 'parley-profile-'));
  });

  after(async () => {
    if (userDataDir) {
      await rm(userDataDir, { recursive: true, force: true });
    }
  });

  test('after closing and relaunching the browser, sign-in is required; the E2EE keys remain', async () => {
    // First run of the browser: sign up through the UI and end up on the chat page.
    const first = await launchProfile();
    /** @type {string[]} */
    let keysBefore;
    /** @type {string} */
    let oldCookie;
    try {
      await first.page.goto(fx.server.url);
      const account = await registerViaUi(first.page, { username: newUsername('rita') });
      await first.page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
      assert.equal(await first.page.locator('.topbar-user').innerText(), account.username);
      // The chat page makes this browser's identity key pair on first use.
      await first.page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('parley:v1:')));
      keysBefore = await protocolKeys(first.page);
      assert.ok(keysBefore.some((k) => /^parley:v1:[0-9a-f]{32}:identity$/.test(k)), `identity stored: ${keysBefore.join(', ')}`);
      const session = (await first.context.cookies(fx.server.url)).find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, 'signed in with a session cookie');
      assert.equal(session.expires, -1, 'a browser-session cookie (no Expires/Max-Age)');
      oldCookie = `${session.name}=${session.value}`;
      await screenshot(first.page, 'relaunch-1-signed-in');
      await assertClean(first, { allow: [EXPECTED_ME_401] });
    } finally {
      // Closing a persistent context shuts the whole browser down, as quitting it would.
      await first.close();
    }

    // Second run on the same profile.
    const second = await launchProfile();
    try {
      assert.deepEqual(
        (await second.context.cookies()).filter((c) => c.name === SESSION_COOKIE),
        [],
        'the session cookie did not survive the restart',
      );
      const me = second.page.waitForResponse((r) => new URL(r.url()).pathname === '/api/me');
      await second.page.goto(fx.server.url);
      assert.equal((await me).status(), 401, 'GET /api/me from the page: no session');
      await second.page.getByRole('link', { name: 'Sign in' }).waitFor();
      await second.page.getByRole('link', { name: 'Create account' }).waitFor();
      assert.equal(await second.page.locator('.topbar').count(), 0, 'no signed-in chrome');
      const again = await second.page.evaluate(async () => (await fetch('/api/me')).status);
      assert.equal(again, 401, 'GET /api/me with whatever cookies the browser has');
      await screenshot(second.page, 'relaunch-2-after-restart');

      // Asking for the chat leads to sign-in.
      await second.page.goto(`${fx.server.url}#/chat`);
      await second.page.getByRole('heading', { name: 'Sign in' }).waitFor();
      assert.equal(new URL(second.page.url()).hash, '#/login');

      // The key material survives the restart (E4); only the session is gone.
      assert.deepEqual(await protocolKeys(second.page), keysBefore, 'the parley:v1: keys are still in localStorage');
      assert.deepEqual(
        (await second.context.cookies()).filter((c) => c.name === SESSION_COOKIE),
        [],
        'still no session cookie',
      );
      // It was the browser that dropped the session secret: the server had not ended it.
      assert.equal(await meWithCookie(oldCookie), 200, 'the old cookie, sent by hand, is still valid on the server');
      await assertClean(second, { allow: [EXPECTED_ME_401] });
    } finally {
      await second.close();
    }
  });
});
