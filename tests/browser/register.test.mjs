// @ts-check
/**
 * Sign-up in real Chromium: the three steps, the session cookie's attributes, nothing in web
 * storage, and the password field's behaviour (NIST SP 800-63B §5.1.1.2 [Browser] rows:
 * show/hide, paste, blocklist reason + "choose a different password", code-point length).
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, GOOD_PASSWORD, fillAccountStep, horizontalOverflow, newUsername, registerViaUi } from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';

const fx = useBrowserFixture();

describe('registration', { timeout: 60_000 }, () => {
  test('signs up in three steps and lands signed in, with a safe session cookie', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const { page, context } = handle;
    try {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fx.server.url });
      await page.goto(fx.server.url);
      await page.getByRole('link', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: /Create your account/ }).waitFor();

      const username = newUsername('alice');
      await fillAccountStep(page, username, GOOD_PASSWORD);
      await page.locator('.meter[data-acceptable="true"]').waitFor();
      await screenshot(page, 'register-1-account');

      // Step 2 and 3 through the shared flow, but check the recovery-code helpers on the way.
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: /Set up your authenticator app/ }).waitFor();
      assert.match(await page.locator('.enrolment').innerText(), /Google Authenticator, Aegis or 1Password/);
      assert.match(await page.locator('.enrolment').innerText(), /shown only once; keep your phone safe/);
      assert.match((await page.locator('img.qr').getAttribute('src')) ?? '', /^data:image\//);
      const grouped = await page.locator('.secret').innerText();
      assert.match(grouped, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'key grouped in fours');
      const codeInput = page.getByLabel('Enter the 6-digit code your app shows');
      assert.equal(await codeInput.getAttribute('inputmode'), 'numeric');
      assert.equal(await codeInput.getAttribute('autocomplete'), 'one-time-code');
      await screenshot(page, 'register-2-totp');

      const { Authenticator } = await import('./totp.mjs');
      const authenticator = new Authenticator(grouped);
      await codeInput.fill(authenticator.wrong());
      await page.getByRole('button', { name: 'Verify code' }).click();
      await page.getByText('That code didn’t match').waitFor();
      await codeInput.fill(await authenticator.next());
      await page.getByRole('button', { name: 'Verify code' }).click();

      await page.getByRole('heading', { name: /Save your recovery codes/ }).waitFor();
      const codes = await page.locator('.codes code').allInnerTexts();
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10, 'codes differ');

      await page.getByRole('button', { name: 'Copy', exact: true }).click();
      await page.getByText('Recovery codes copied to the clipboard.').waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), codes.join('\n'));

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), 'parley-recovery-codes.txt');
      const file = await readFile(/** @type {string} */ (await download.path()), 'utf8');
      for (const code of codes) {
        assert.ok(file.includes(code), `the file holds ${code}`);
      }
      assert.match(await page.locator('.recovery').innerText(), /Store them offline/);
      await screenshot(page, 'register-3-recovery');

      const finish = page.getByRole('button', { name: 'Finish' });
      assert.equal(await finish.isDisabled(), true);
      await page.getByLabel('I have saved my recovery codes').check();
      await finish.click();
      await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
      assert.equal(new URL(page.url()).hash, '#/chat');
      assert.equal(await page.locator('.topbar-user').innerText(), username);
      await screenshot(page, 'register-4-signed-in');

      // The session cookie: host-only, Secure, HttpOnly, SameSite=Strict, no expiry.
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === '__Host-parley_session');
      assert.ok(session, `session cookie set (have: ${cookies.map((c) => c.name).join(', ')})`);
      assert.equal(session.httpOnly, true, 'HttpOnly');
      assert.equal(session.secure, true, 'Secure');
      assert.equal(session.sameSite, 'Strict', 'SameSite=Strict');
      assert.equal(session.expires, -1, 'a session cookie (no Expires/Max-Age)');
      assert.equal(session.path, '/');
      assert.equal(cookies.find((c) => c.name === '__Host-parley_registration'), undefined, 'registration cookie cleared');

      // Nothing readable by scripts, no session data in web storage: localStorage holds only the
      // end-to-end encryption keys of the chat (E4), under `parley:v1:<user id>:`.
      const stored = await page.evaluate(() => ({
        cookie: document.cookie,
        local: Object.entries(localStorage),
        session: Object.keys(sessionStorage).length,
      }));
      const csrf = await page.evaluate(async () => (await (await fetch('/api/me')).json()).csrf_token);
      assert.ok(!stored.cookie.includes('parley'), `document.cookie shows nothing: ${stored.cookie}`);
      assert.deepEqual(stored.local.map(([k]) => k).filter((k) => !/^parley:v1:[0-9a-f]{32}:/.test(k)), [], 'only protocol keys in localStorage');
      assert.ok(stored.local.every(([, v]) => !v.includes(csrf)), 'no session data in localStorage');
      assert.equal(stored.session, 0, 'sessionStorage is empty');
      const databases = await page.evaluate(async () => (await indexedDB.databases()).length);
      assert.equal(databases, 0, 'no IndexedDB');

      await assertClean(handle, { allow: [EXPECTED_ME_401, /\/api\/register\/totp\b.*401|status of 401/] });
    } finally {
      await handle.close();
    }
  });

  test('password field: show/hide, paste, blocklist reason, code-point length', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 900 } });
    const { page, context } = handle;
    try {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fx.server.url });
      await page.goto(`${fx.server.url}#/register`);
      await page.getByRole('heading', { name: /Create your account/ }).waitFor();
      const password = page.locator('input[name="password"]');

      // Attributes: a real password input for password managers, no length cap below 64.
      assert.equal(await password.getAttribute('type'), 'password');
      assert.equal(await password.getAttribute('autocomplete'), 'new-password');
      const maxLength = await password.evaluate((el) => /** @type {HTMLInputElement} */ (el).maxLength);
      assert.ok(maxLength === -1 || maxLength >= 1024, `no short maxlength (${maxLength})`);
      assert.equal(await password.getAttribute('onpaste'), null);
      assert.match(await page.locator('.view').innerText(), /Some devices may enter some characters differently/);
      assert.doesNotMatch(await page.locator('.view').innerText(), /hint|security question/i);

      // Show/hide.
      await password.fill('correct horse');
      const toggle = page.getByRole('button', { name: 'Show password' });
      await toggle.click();
      assert.equal(await password.getAttribute('type'), 'text');
      assert.equal(await page.getByRole('button', { name: 'Hide password' }).getAttribute('aria-pressed'), 'true');
      assert.equal(await password.inputValue(), 'correct horse');
      await page.getByRole('button', { name: 'Hide password' }).click();
      assert.equal(await password.getAttribute('type'), 'password');

      // Paste: no handler cancels it, and a real Ctrl+V fills the field.
      const notPrevented = await password.evaluate((el) => {
        const data = new DataTransfer();
        data.setData('text/plain', 'pasted');
        const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
        el.dispatchEvent(event);
        return !event.defaultPrevented;
      });
      assert.equal(notPrevented, true, 'paste is not blocked');
      await page.evaluate(() => navigator.clipboard.writeText('pasted from a password manager'));
      await password.fill('');
      await password.focus();
      await page.keyboard.press('ControlOrMeta+V');
      assert.equal(await password.inputValue(), 'pasted from a password manager');

      // A breached password: every reason, and the request to choose another.
      await fillAccountStep(page, newUsername('bob'), 'password1');
      await page.getByRole('button', { name: 'Continue' }).click();
      const rejected = page.locator('.field', { has: password }).locator('.rejected');
      await rejected.waitFor();
      const text = await rejected.innerText();
      assert.match(text, /Please choose a different password/);
      assert.ok((await rejected.locator('li').count()) >= 1, 'at least one reason');
      assert.doesNotMatch(text, /digit|uppercase|symbol|special character/i, 'no composition rules');
      // The meter stays as guidance (5.1.1.2-guidance) without repeating the reasons.
      await page.locator('.meter[data-acceptable="false"] .meter-suggestions').waitFor();
      assert.equal(await page.locator('.meter .meter-reasons').isVisible(), false);
      await screenshot(page, 'register-password-rejected');

      // Code points: 4 emoji are too short (8 UTF-16 units!), 8 emoji pass the length rule.
      await password.fill('😀😀😀😀');
      await page.locator('.meter .meter-reasons li[data-code="too_short"]').waitFor();
      assert.match(await page.locator('.meter-length').innerText(), /\b4 characters/);
      await screenshot(page, 'register-emoji-too-short');
      await page.locator('input[name="password_confirm"]').fill('😀😀😀😀');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByText('Use at least 8 characters').first().waitFor();

      await password.fill('😀😀😀😀😀😀😀😀');
      await page.locator('.meter-length', { hasText: '8 characters' }).waitFor();
      await page.locator('.meter[data-checked-length="8"]').waitFor();
      assert.equal(await page.locator('.meter .meter-reasons li[data-code="too_short"]').count(), 0, '8 emoji are long enough');

      // The server agrees with the page on both.
      const server4 = await page.evaluate(async () => {
        const check = async (/** @type {string} */ password) =>
          (await fetch('/api/password/check', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password }) })).json();
        return [await check('😀😀😀😀'), await check('😀😀😀😀😀😀😀😀')];
      });
      assert.equal(server4[0].length, 4);
      assert.ok(server4[0].reasons.some((/** @type {{code: string}} */ r) => r.code === 'too_short'));
      assert.equal(server4[1].length, 8);
      assert.ok(!server4[1].reasons.some((/** @type {{code: string}} */ r) => r.code === 'too_short'));

      await assertClean(handle, { allow: [EXPECTED_ME_401, /\/api\/register\b.*HTTP 422|status of 422/] });
    } finally {
      await handle.close();
    }
  });

  test('works on a phone screen', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const { page } = handle;
    try {
      await page.goto(fx.server.url);
      await screenshot(page, 'landing-phone-signed-out');
      const account = await registerViaUi(page, {
        username: newUsername('phone'),
        screenshots: async (name) => {
          assert.equal(await horizontalOverflow(page), 0, `${name}: no horizontal scrolling`);
          return screenshot(page, `${name}-phone`);
        },
      });
      assert.ok(account.recoveryCodes.length === 10);
      assert.equal(await horizontalOverflow(page), 0);
      await screenshot(page, 'chat-phone');
    } finally {
      await handle.close();
    }
  });
});
