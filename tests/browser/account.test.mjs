// @ts-check
/**
 * The account page's forms in real Chromium: change the password (a blocklisted one is refused
 * with reasons), new recovery codes, replace the authenticator app, delete the account.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, advanceClock, newUsername, registerViaApi, submitSignIn } from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';
import { Authenticator } from './totp.mjs';

const fx = useBrowserFixture();

const NEW_PASSWORD = 'Quiet otters juggle 9 lanterns at dawn';

describe('account page forms', { timeout: 60_000 }, () => {
  test('change password, new recovery codes, new authenticator, delete account', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 900 } });
    const { page } = handle;
    let clockOffset = 0;
    /** A fresh TOTP time step for every use: move the server's clock on by 30 s. */
    const nextStep = async () => {
      await advanceClock(fx.server, 30);
      clockOffset += 30;
    };
    try {
      await page.goto(fx.server.url);
      const account = await registerViaApi(page, { username: newUsername('jude') });
      await page.locator('.topbar').getByRole('link', { name: 'Account' }).click();
      await page.getByRole('heading', { name: 'Your account' }).waitFor();

      // Change password: a breached one is refused with its reasons, then a good one works.
      const passwordSection = page.locator('#account-password');
      await passwordSection.getByLabel('Current password', { exact: true }).fill(account.password);
      await passwordSection.locator('input[name="new_password"]').fill('password1');
      await passwordSection.locator('input[name="new_password_confirm"]').fill('password1');
      await passwordSection.getByRole('button', { name: 'Change password' }).click();
      await passwordSection.locator('.rejected', { hasText: 'Please choose a different password' }).waitFor();
      await passwordSection.locator('.meter[data-checked-length="9"]').waitFor();
      await passwordSection.screenshot({ path: await screenshotPath('account-password-rejected') });
      await passwordSection.locator('input[name="new_password"]').fill(NEW_PASSWORD);
      await passwordSection.locator('input[name="new_password_confirm"]').fill(NEW_PASSWORD);
      await passwordSection.getByRole('button', { name: 'Change password' }).click();
      await passwordSection.getByText('Your password has been changed.').waitFor();
      // Issue 9 item 3: the page says the other sessions were signed out.
      await passwordSection.getByText('Every other session of your account has been signed out.').waitFor();
      account.password = NEW_PASSWORD;

      // New recovery codes with password + authenticator code.
      await nextStep();
      account.authenticator.clockOffset = clockOffset;
      const recovery = page.locator('#account-recovery');
      await recovery.getByLabel('Your password', { exact: true }).fill(account.password);
      await recovery.getByLabel('Code from your authenticator app').fill(await account.authenticator.next());
      await recovery.getByRole('button', { name: 'Create new recovery codes' }).click();
      await recovery.getByText('Your old codes no longer work.').waitFor();
      await recovery.getByText('Every other session of your account has been signed out.').waitFor();
      const codes = await recovery.locator('.codes code').allInnerTexts();
      assert.equal(codes.length, 10);
      assert.ok(!codes.includes(/** @type {string} */ (account.recoveryCodes[0])), 'a new set');
      await recovery.screenshot({ path: await screenshotPath('account-new-recovery-codes') });
      await recovery.getByRole('button', { name: 'I have saved them' }).click();
      assert.equal(await recovery.locator('.codes').count(), 0, 'the codes are gone from the page');

      // Replace the authenticator, re-authenticating with one of the new recovery codes.
      const totpSection = page.locator('#account-totp');
      await totpSection.getByLabel('Your password', { exact: true }).fill(account.password);
      await totpSection.getByRole('button', { name: 'Use a recovery code instead' }).click();
      await totpSection.getByLabel('One of your recovery codes').fill(/** @type {string} */ (codes[0]));
      await totpSection.getByRole('button', { name: 'Set up a new app' }).click();
      await totpSection.locator('img.qr').waitFor();
      const secret = (await totpSection.locator('.secret').innerText()).replace(/\s+/g, '');
      await totpSection.screenshot({ path: await screenshotPath('account-new-authenticator') });
      await nextStep();
      const phone = new Authenticator(secret, { clockOffset });
      await totpSection.getByLabel('Enter the 6-digit code the new app shows').fill(await phone.next());
      await totpSection.getByRole('button', { name: 'Activate new app' }).click();
      await totpSection.getByText('Your new authenticator app is active.').waitFor();

      // The security log tells the story.
      await page.locator('ol.log li[data-event="totp_reenrolled"]').waitFor();
      for (const event of ['password_changed', 'recovery_codes_regenerated']) {
        assert.equal(await page.locator(`ol.log li[data-event="${event}"]`).count(), 1, event);
      }
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'account-after-changes');

      // Delete the account (password + the new app's code + confirmation).
      await nextStep();
      phone.clockOffset = clockOffset;
      const danger = page.locator('#account-delete');
      await danger.getByLabel('Your password', { exact: true }).fill(account.password);
      await danger.getByLabel('Code from your authenticator app').fill(await phone.next());
      await danger.getByRole('button', { name: 'Delete my account' }).click();
      await danger.getByText('Tick the box to confirm').waitFor();
      await danger.getByLabel(/I understand that my account/).check();
      await danger.getByRole('button', { name: 'Delete my account' }).click();
      await page.getByText('Your account has been deleted.').waitFor();
      assert.equal(new URL(page.url()).hash, '#/');

      // Signing in with it fails now.
      await page.getByRole('link', { name: 'Sign in' }).click();
      await submitSignIn(page, account);
      await page.getByText('Wrong username or password').waitFor();
      await assertClean(handle, {
        allow: [EXPECTED_ME_401, /\/api\/account\/password\b.*HTTP 422|\/api\/login\b.*HTTP 401|status of (401|422)/],
      });
    } finally {
      await handle.close();
    }
  });
});

/**
 * Where `screenshot()` would save `<name>.png` (for element screenshots).
 * @param {string} name
 */
async function screenshotPath(name) {
  const { OUTPUT_DIR } = await import('./harness.mjs');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(OUTPUT_DIR, { recursive: true });
  return `${OUTPUT_DIR}/${name}.png`;
}
