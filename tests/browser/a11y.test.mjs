// @ts-check
/**
 * Issue 14 in real Chromium, the screens of a newcomer at desktop and phone sizes:
 *
 * - item 6: axe-core finds no violation on any screen (landing, sign-up steps 1–3, chat list,
 *   conversation, safety number, account, sign-in steps 1–2, the recovery sign-in notice), at
 *   desktop and phone sizes, in the light theme and (desktop) the dark one;
 * - item 5: the strength meter never shows the previous verdict while a new password is checked;
 * - item 7: the recovery sign-in notice states the remaining count once;
 * - item 8: the web app manifest and its icons (installable, right content types under the
 *   strict CSP), the dark theme that follows the system, `navigator.storage.persist()`.
 */

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { SIZES, assertNoAxeViolations } from './axe.mjs';
import { CHAT_ALLOWED } from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import {
  EXPECTED_ME_401, GOOD_PASSWORD, fillAccountStep, newUsername, registerViaApi, signInPassword, signOut,
} from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';
import { Authenticator } from './totp.mjs';

const fx = useBrowserFixture();
/** A contact to chat with. */
let peerName = '';

/**
 * Every screen of a newcomer, with axe on each.
 * @param {'desktop' | 'phone'} size
 * @param {'light' | 'dark'} scheme
 */
async function walkThrough(size, scheme) {
  const handle = await openPage(fx.browser, { viewport: SIZES[size], colorScheme: scheme });
  const { page } = handle;
  const tag = `${size}-${scheme}`;
  /** @param {string} screen */
  const check = async (screen) => {
    await screenshot(page, `a11y-${tag}-${screen}`);
    await assertNoAxeViolations(page, `${screen} (${tag})`);
  };
  try {
    await page.goto(fx.server.url);
    await page.getByRole('link', { name: 'Create account' }).first().waitFor();
    await check('landing');

    // Sign-up, all three steps.
    const username = newUsername('axe');
    await page.goto(new URL('/#/register', fx.server.url).href);
    await fillAccountStep(page, username, GOOD_PASSWORD);
    await page.locator('.meter[data-acceptable="true"]').waitFor();
    await check('register-1');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: /Set up your authenticator app/ }).waitFor();
    await page.locator('img.qr').waitFor();
    await check('register-2');
    const secret = (await page.locator('.secret').innerText()).replace(/\s+/g, '');
    const authenticator = new Authenticator(secret);
    await page.getByLabel('Enter the 6-digit code your app shows').fill(await authenticator.next());
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('heading', { name: /Save your recovery codes/ }).waitFor();
    const codes = await page.locator('.codes code').allInnerTexts();
    await check('register-3');
    await page.getByLabel('I have saved my recovery codes').check();
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
    await page.locator('.chat-list .conn[data-state="online"]').waitFor();
    await check('chat-list');

    // A conversation (on phones the whole screen), and the safety number dialog.
    await page.getByLabel('Start a chat').fill(peerName);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('.conv-title', { hasText: peerName }).waitFor();
    await page.locator('.timeline-list[data-loaded="true"]').waitFor({ state: 'attached' });
    await check('conversation');
    await page.getByRole('button', { name: 'Safety number', exact: true }).click();
    await page.locator('dialog .safety-number').waitFor();
    await check('safety-number');
    await page.getByRole('button', { name: 'Close' }).click();

    await page.locator('.topbar').getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await page.locator('ol.log li').first().waitFor();
    await check('account');

    // Sign-in: both steps, and the notice after a recovery code (item 7: the count once).
    await signOut(page);
    const account = { username, password: GOOD_PASSWORD, authenticator, recoveryCodes: codes };
    await signInPassword(page, account);
    await page.getByRole('button', { name: 'Use a recovery code instead' }).waitFor();
    await check('login-2');
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByLabel('Enter one of your recovery codes').fill(/** @type {string} */ (codes[0]));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
    const notice = page.locator('#app > .message[data-kind="warn"]');
    const text = await notice.innerText();
    assert.equal(text.match(/\b9\b/g)?.length, 1, `the count once: ${text}`);
    assert.match(text, /Recovery codes left: 9\./);
    await page.locator('.chat-list .conn[data-state="online"]').waitFor();
    await check('chat-after-recovery-code');
    await signOut(page);
    await page.goto(new URL('/#/login', fx.server.url).href);
    await page.locator('.captcha[data-state="ready"]').waitFor();
    await check('login-1');

    await assertClean(handle, { allow: [...CHAT_ALLOWED, EXPECTED_ME_401] });
  } finally {
    await handle.close();
  }
}

describe('issue 14: every screen, desktop and phone', { timeout: 120_000 }, () => {
  before(async () => {
    await fx.withNewAccount('peer', {}, async ({ page }, account) => {
      peerName = account.username;
      // The peer's browser publishes its key on the chat page.
      await page.locator('.chat-list .conn[data-state="online"]').waitFor();
    });
  });

  test('issue14 item 6: axe finds no violation on any screen at desktop size', () => walkThrough('desktop', 'light'));
  test('issue14 item 6: axe finds no violation on any screen at phone size', () => walkThrough('phone', 'light'));
  test('issue14 item 8: the dark theme follows the system, and axe finds no violation in it', async () => {
    await fx.withPage({ viewport: SIZES.desktop, colorScheme: 'dark' }, async (handle) => {
      await handle.page.goto(fx.server.url);
      const background = await handle.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = (background.match(/\d+/g) ?? []).map(Number);
      assert.ok((r ?? 255) + (g ?? 255) + (b ?? 255) < 120, `a dark page: ${background}`);
    });
    await walkThrough('desktop', 'dark');
  });

  test('issue14 item 5: the meter never shows the previous verdict while checking a new password', async () => {
    await fx.withPage({ viewport: SIZES.desktop }, async (handle) => {
      const { page } = handle;
      await page.goto(new URL('/#/register', fx.server.url).href);
      const meter = page.locator('.meter');
      const password = page.locator('input[name="password"]');
      await password.fill('password1');
      await page.locator('.meter[data-acceptable="false"]').waitFor();
      await meter.getByText('Not allowed').waitFor();

      // Hold the next check's answer until the meter has been looked at.
      /** @type {() => void} */
      let release = () => {};
      const held = new Promise((resolve) => {
        release = () => resolve(undefined);
      });
      await page.route('**/api/password/check', async (route) => {
        await held;
        await route.continue();
      });
      await password.fill(GOOD_PASSWORD);
      await page.locator('.meter[data-state="checking"]').waitFor();
      assert.equal(await meter.locator('.meter-label').innerText(), 'Checking…');
      assert.equal(await meter.locator('.meter-reasons, .meter-warning, .meter-suggestions').count(), 0, 'no old reasons');
      assert.equal(await meter.getAttribute('data-acceptable'), null, 'no old verdict');
      await screenshot(page, 'meter-checking');
      release();
      await page.locator('.meter[data-state="checked"][data-acceptable="true"]').waitFor();
      assert.match(await meter.locator('.meter-label').innerText(), /^Strength: /);
      await page.unroute('**/api/password/check');
      await assertClean(handle, { allow: [EXPECTED_ME_401] });
    });
  });

  test('issue14 item 8: installable manifest and icons under the strict CSP; persistent storage asked for', async () => {
    await fx.withPage({ viewport: SIZES.phone }, async (handle) => {
      const { page } = handle;
      await page.addInitScript(() => {
        /** @type {any} */ (window).__persistAsked = 0;
        const storage = navigator.storage;
        const original = storage.persist.bind(storage);
        storage.persist = () => {
          /** @type {any} */ (window).__persistAsked += 1;
          return original();
        };
      });
      await page.goto(fx.server.url);
      const cdp = await page.context().newCDPSession(page);
      const manifest = await cdp.send('Page.getAppManifest');
      assert.deepEqual(manifest.errors, [], 'the manifest parses');
      assert.match(manifest.url, /\/manifest\.webmanifest$/);
      const parsed = JSON.parse(/** @type {string} */ (manifest.data));
      assert.equal(parsed.display, 'standalone');
      const installability = await cdp.send('Page.getInstallabilityErrors');
      // A test context is off the record ("incognito"), where Chromium installs nothing; every
      // other criterion (manifest fields, icons, start URL, secure context) must pass.
      const errors = installability.installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito');
      assert.deepEqual(errors, [], 'Chromium finds nothing else against installing it');
      const served = await page.evaluate(async () => {
        const files = ['/manifest.webmanifest', '/icons/icon-192.png', '/icons/icon-512.png', '/icons/maskable-512.png'];
        return Promise.all(files.map(async (f) => {
          const r = await fetch(f);
          return { f, status: r.status, type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy') };
        }));
      });
      for (const s of served) {
        assert.equal(s.status, 200, s.f);
        assert.equal(s.type, s.f.endsWith('.png') ? 'image/png' : 'application/manifest+json', s.f);
      }
      const csp = await page.evaluate(async () => (await fetch('/')).headers.get('content-security-policy'));
      assert.match(csp ?? '', /manifest-src 'self'/);
      assert.match(csp ?? '', /script-src 'self';/);

      // persist() is asked for once the chat (and its keys) exist.
      await registerViaApi(page, { username: newUsername('persist') });
      await page.waitForFunction(() => /** @type {any} */ (window).__persistAsked > 0);
      await assertClean(handle, { allow: [...CHAT_ALLOWED, EXPECTED_ME_401] });
    });
  });
});
