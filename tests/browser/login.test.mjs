// @ts-check
/**
 * Sign-in in real Chromium: password + authenticator code, password + recovery code (warning,
 * remaining count, link to regenerate), a used recovery code refused, wrong password.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, signInPassword, signOut, submitSignIn } from './flows.mjs';
import { assertClean, screenshot } from './harness.mjs';

const fx = useBrowserFixture();

describe('sign-in', { timeout: 60_000 }, () => {
  test('with password + authenticator code, then with a recovery code (once only)', async () => {
    await fx.withNewAccount('carol', { viewport: { width: 1280, height: 900 } }, async (handle, account) => {
      const { page } = handle;
      await signOut(page);
      assert.equal(new URL(page.url()).hash, '#/');
      await screenshot(page, 'login-0-signed-out');

      // Wrong password: said clearly, without telling which of the two was wrong.
      await page.getByRole('link', { name: 'Sign in' }).click();
      await submitSignIn(page, { ...account, password: 'not the password at all' });
      await page.locator('.message[data-kind="error"]').waitFor();
      assert.match(await page.locator('.message[data-kind="error"]').innerText(), /Wrong username or password/);
      await screenshot(page, 'login-1-wrong-password');

      // Password + TOTP (the next time step if the current one was used at enrolment).
      await signInPassword(page, account);
      const codeField = page.getByLabel('Enter the 6-digit code from your authenticator app');
      assert.equal(await codeField.getAttribute('autocomplete'), 'one-time-code');
      assert.equal(await codeField.getAttribute('inputmode'), 'numeric');
      assert.equal(await page.locator('input[name="password"]').count(), 0, 'the password is not kept on screen');
      await screenshot(page, 'login-2-totp');
      await codeField.fill(await account.authenticator.next());
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
      assert.equal(await page.locator('.topbar-user').innerText(), account.username);

      // Password + recovery code: warning, 9 left, link to the account page.
      await signOut(page);
      await signInPassword(page, account);
      await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
      const recoveryField = page.getByLabel('Enter one of your recovery codes');
      await recoveryField.waitFor();
      await screenshot(page, 'login-3-recovery-code');
      const used = /** @type {string} */ (account.recoveryCodes[0]);
      await recoveryField.fill(used);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
      const warning = page.locator('#app > .message[data-kind="warn"]');
      const warningText = await warning.innerText();
      assert.match(warningText, /recovery code/i);
      assert.match(warningText, /Recovery codes left: 9\b/);
      assert.equal(await warning.getByRole('link').getAttribute('href'), '#/account');
      await screenshot(page, 'login-4-after-recovery-code');

      // The same recovery code again: refused.
      await signOut(page);
      await signInPassword(page, account);
      await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
      await page.getByLabel('Enter one of your recovery codes').fill(used);
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByText('That recovery code is not valid or has already been used.').waitFor();
      assert.equal(new URL(page.url()).hash, '#/login');
      await screenshot(page, 'login-5-recovery-code-reused');

      // A fresh code still works after the failure.
      await page.getByLabel('Enter one of your recovery codes').fill(/** @type {string} */ (account.recoveryCodes[1]));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
      assert.match(await page.locator('#app > .message[data-kind="warn"]').innerText(), /Recovery codes left: 8\b/);

      await assertClean(handle, {
        allow: [
          EXPECTED_ME_401,
          /\/api\/login\b.*HTTP 401|\/api\/login\/recovery\b.*HTTP 401|status of 401/,
          // The chat's WebSocket reconnecting while this test signs out (a busy machine lets the
          // reconnect reach the server after the session ended): refused with 401, as it must be.
          /\/api\/ws' failed: HTTP Authentication failed/,
        ],
      });
    });
  });
});
