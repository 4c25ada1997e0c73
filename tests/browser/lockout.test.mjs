// @ts-check
/**
 * Throttling as the user sees it (NIST SP 800-63B §5.2.2): wrong authenticator codes lead to a
 * live "please wait" countdown; a locked factor says what to do; the account page lists the
 * sessions and the failures in the security log.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, horizontalOverflow, newUsername, registerViaApi, signInPassword, signOut } from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';

const fx = useBrowserFixture();

/** Give up if the server has not throttled after this many wrong codes. */
const MAX_ATTEMPTS = 12;

describe('throttling and the account page', { timeout: 60_000 }, () => {
  test('wrong codes lead to a countdown; the account page shows sessions and failures', async () => {
    const owner = await openPage(fx.browser, { viewport: { width: 1280, height: 900 } });
    const attacker = await openPage(fx.browser, { viewport: { width: 1280, height: 900 } });
    try {
      await owner.page.goto(fx.server.url);
      const account = await registerViaApi(owner.page, { username: newUsername('hank') });

      // Someone with the password but not the phone.
      const { page } = attacker;
      await page.goto(fx.server.url);
      await signInPassword(page, account);
      const codeField = page.getByLabel('Enter the 6-digit code from your authenticator app');
      let throttled = false;
      let attempts = 0;
      while (!throttled && attempts < MAX_ATTEMPTS) {
        attempts += 1;
        await codeField.fill(account.authenticator.wrong(attempts));
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith('/api/login/totp')),
          page.getByRole('button', { name: 'Verify' }).click(),
        ]);
        const body = await response.json();
        if (response.status() === 429 || body.error === 'factor_locked') {
          throttled = true;
        } else {
          assert.equal(body.error, 'invalid_code', `attempt ${attempts}`);
          await page.getByText('That code is not valid').waitFor();
        }
      }
      assert.ok(throttled, `throttled within ${MAX_ATTEMPTS} attempts`);
      assert.ok(attempts <= 8, `throttled after ~5 failures (took ${attempts})`);

      const message = page.locator('.message[data-kind="error"]');
      await message.getByText(/Please wait \d+:\d\d before trying again/).waitFor();
      const first = await message.locator('.countdown').innerText();
      assert.equal(await page.getByRole('button', { name: 'Verify' }).isDisabled(), true, 'no retry while waiting');
      // The countdown ticks: wait for its text to change, then check that it went down.
      await page.waitForFunction(
        (before) => document.querySelector('.message[data-kind="error"] .countdown')?.textContent !== before,
        first,
      );
      const second = await message.locator('.countdown').innerText();
      const secs = (/** @type {string} */ t) => t.split(':').reduce((m, s) => m * 60 + Number(s), 0);
      assert.ok(secs(second) < secs(first), `the countdown runs (${first} → ${second})`);
      await screenshot(page, 'lockout-rate-limited');
      await assertClean(attacker, { allow: [EXPECTED_ME_401, /\/api\/login\/totp\b.*HTTP (401|429|403)|status of (401|429|403)/] });

      // The owner's account page: sessions and the failures in the security log.
      const ownerPage = owner.page;
      await ownerPage.locator('.topbar').getByRole('link', { name: 'Account' }).click();
      await ownerPage.getByRole('heading', { name: 'Your account' }).waitFor();
      const current = ownerPage.locator('table.sessions tbody tr.current');
      await current.waitFor();
      assert.match(await current.innerText(), /This session/);
      assert.match(await current.innerText(), /127\.0\.0\.1/);
      assert.match(await current.innerText(), /Chrome/);
      const failures = ownerPage.locator('ol.log li[data-event="login_totp_failed"]');
      await failures.first().waitFor();
      assert.ok((await failures.count()) >= Math.min(attempts - 1, 5), `failures logged (${await failures.count()})`);
      assert.match(await failures.first().innerText(), /Wrong authenticator code/);
      await ownerPage.evaluate(() => window.scrollTo(0, 0));
      await screenshot(ownerPage, 'account-desktop');

      await ownerPage.setViewportSize({ width: 375, height: 800 });
      await ownerPage.waitForFunction((width) => window.innerWidth === width, 375);
      assert.equal(await horizontalOverflow(ownerPage), 0, 'the account page fits a phone');
      await ownerPage.evaluate(() => window.scrollTo(0, 0));
      await screenshot(ownerPage, 'account-phone');
      await assertClean(owner, { allow: [EXPECTED_ME_401] });
    } finally {
      await owner.close();
      await attacker.close();
    }
  });

  test('a locked factor says what to do', async () => {
    await fx.withNewAccount('ivy', { viewport: { width: 1280, height: 900 } }, async ({ page }, account) => {
      await signOut(page);
      await signInPassword(page, account);
      // Reaching 100 failures takes hours of back-off; the API tests cover it. Here the UI's
      // handling of the answer is checked.
      await page.route('**/api/login/totp', (route) =>
        route.fulfill({
          status: 403,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'factor_locked', message: 'locked', factor: 'totp' }),
        }),
      );
      await page.getByLabel('Enter the 6-digit code from your authenticator app').fill(await account.authenticator.next());
      await page.getByRole('button', { name: 'Verify' }).click();
      const message = page.locator('.message[data-kind="error"]');
      await message.waitFor();
      const text = await message.innerText();
      assert.match(text, /recovery codes? instead/);
      assert.ok(text.includes(`parley admin unlock ${account.username}`), text);
      await screenshot(page, 'login-factor-locked');
    });
  });
});
