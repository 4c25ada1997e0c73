// @ts-check
/**
 * Session limits in real Chromium (NIST SP 800-63B §4.2.3, §7.2), with the server's test clock:
 * sign-out in one tab ends the other tab's session; 30 minutes idle and the 12-hour limit end
 * the session with a notice; two minutes before the idle limit a dialog offers to stay signed
 * in with the password.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { waitForChatReady } from './chat-flows.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401, advanceClock, newUsername, registerViaApi, signInTotp } from './flows.mjs';
import { assertClean, openPage, screenshot } from './harness.mjs';

const fx = useBrowserFixture();
/** How far the server's clock has been moved (for TOTP codes). */
let clockOffset = 0;

/** @param {number} secs */
async function advance(secs) {
  await advanceClock(fx.server, secs);
  clockOffset += secs;
}

const SESSION_GONE = [EXPECTED_ME_401, /HTTP 401|status of 401/];

describe('session limits', { timeout: 60_000 }, () => {
  test('signing out in one tab ends the session in the other', async () => {
    await fx.withPage({ viewport: { width: 1100, height: 800 } }, async (handle) => {
      const { page: tabA, context } = handle;
      const tabB = await context.newPage();
      await tabA.goto(fx.server.url);
      await registerViaApi(tabA, { username: newUsername('dave'), clockOffset });
      await tabB.goto(`${fx.server.url}#/account`);
      await tabB.getByRole('heading', { name: 'Your account' }).waitFor();
      await tabB.locator('table.sessions').waitFor();

      await tabA.locator('.topbar').getByRole('button', { name: 'Sign out' }).click();
      await tabA.getByText('You have signed out.').waitFor();

      // Tab B learns at once (or at its next action at the latest) and shows why.
      await tabB.bringToFront();
      await tabB.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 5_000 }).catch(async () => {
        await tabB.locator('.topbar').getByRole('link', { name: 'Chat' }).click();
        await tabB.getByRole('heading', { name: 'Sign in' }).waitFor();
      });
      assert.equal(new URL(tabB.url()).hash, '#/login');
      assert.match(await tabB.locator('.message[data-kind="warn"]').innerText(), /Your session ended/);
      assert.equal(await tabB.locator('.topbar').count(), 0, 'no signed-in chrome left');
      await screenshot(tabB, 'session-other-tab-signed-out');
      await assertClean(handle, { allow: SESSION_GONE });
    });
  });

  test('another device signing this session out: the next action lands on sign-in', async () => {
    const first = await openPage(fx.browser, { viewport: { width: 1100, height: 800 } });
    const second = await openPage(fx.browser, { viewport: { width: 1100, height: 900 } });
    try {
      await first.page.goto(fx.server.url);
      const account = await registerViaApi(first.page, { username: newUsername('erin'), clockOffset });
      await second.page.goto(fx.server.url);
      await signInTotp(second.page, account);

      await second.page.locator('.topbar').getByRole('link', { name: 'Account' }).click();
      const other = second.page.locator('table.sessions tbody tr:not(.current)');
      await other.waitFor();
      assert.equal(await second.page.locator('table.sessions tbody tr.current').count(), 1, 'this session is marked');
      await other.getByRole('button').click();
      await second.page.getByText(/^Signed out /).waitFor();

      // The first device learns at once (its chat WebSocket is closed with 4001) or, at the
      // latest, at its next action.
      await first.page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 5_000 }).catch(async () => {
        await first.page.locator('.topbar').getByRole('link', { name: 'Account' }).click();
        await first.page.getByRole('heading', { name: 'Sign in' }).waitFor();
      });
      assert.match(await first.page.locator('.message[data-kind="warn"]').innerText(), /Your session ended .* please sign in again/);
      await assertClean(first, { allow: SESSION_GONE });
      await assertClean(second, { allow: [EXPECTED_ME_401] });
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('the idle warning lets the user stay signed in with the password', async () => {
    await fx.withNewAccount('fay', { viewport: { width: 1100, height: 800 }, clockOffset }, async (handle, account) => {
      const { page } = handle;

      await advance(29 * 60);
      // The user comes back to the tab: the page re-reads /api/me and sees 1 minute left.
      await page.evaluate(() => window.dispatchEvent(new Event('focus')));
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      assert.match(await dialog.innerText(), /signed out soon for inactivity/);
      assert.match(await dialog.locator('.countdown').innerText(), /^[01]:\d\d$/);
      await screenshot(page, 'session-idle-warning');

      await dialog.locator('input[type="password"]').fill('wrong password here');
      await dialog.getByRole('button', { name: 'Stay signed in' }).click();
      await dialog.getByText('Wrong password').waitFor();
      await dialog.locator('input[type="password"]').fill(account.password);
      await dialog.getByRole('button', { name: 'Stay signed in' }).click();
      await dialog.waitFor({ state: 'hidden' });

      // 29 + 5 minutes since the last action, but the re-authentication reset the idle timer.
      await advance(5 * 60);
      await page.locator('.topbar').getByRole('link', { name: 'Account' }).click();
      await page.locator('table.sessions').waitFor();
      assert.equal(new URL(page.url()).hash, '#/account');
      await assertClean(handle, { allow: [EXPECTED_ME_401, /session\/reauth\b.*HTTP 401|status of 401/] });
    });
  });

  test('30 minutes idle, and the 12-hour limit, end the session with a notice', async () => {
    await fx.withNewAccount('gus', { viewport: { width: 1100, height: 800 }, clockOffset }, async (handle, account) => {
      const { page } = handle;
      // The chat's socket must be open before the clock jumps, or its handshake may come after
      // the session ended and fail with a 401 (under load it did).
      await waitForChatReady(page);

      await advance(31 * 60);
      // The next action finds out — unless the chat's WebSocket (revalidated every 20 s) was
      // closed with 4001 first, which sends the page to sign-in by itself.
      await page.locator('.topbar').getByRole('link', { name: 'Account' }).click({ timeout: 2_000 }).catch(() => {});
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      const idleNotice = await page.locator('.message[data-kind="warn"]').innerText();
      assert.match(idleNotice, /Your session ended/);
      assert.match(idleNotice, /30 minutes/);
      assert.match(idleNotice, /sign in again/);
      await screenshot(page, 'session-idle-ended');

      // Sign in again, stay active (a user action every 29 minutes), and hit the 12-hour limit.
      account.authenticator.clockOffset = clockOffset;
      await signInTotp(page, account);
      await waitForChatReady(page);
      for (let i = 1; i <= 24; i += 1) {
        await advance(29 * 60);
        const status = await page.evaluate(async () => (await fetch('/api/sessions')).status);
        assert.equal(status, 200, `still signed in after ${i * 29} active minutes`);
      }
      // 24 × 29 + 25 = 721 minutes: past 12 hours, although only 25 minutes idle.
      await advance(25 * 60);
      await page.locator('.topbar').getByRole('link', { name: 'Account' }).click({ timeout: 2_000 }).catch(() => {});
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      const absoluteNotice = await page.locator('.message[data-kind="warn"]').innerText();
      assert.match(absoluteNotice, /Your session ended/);
      assert.match(absoluteNotice, /12-hour/);
      await screenshot(page, 'session-12h-ended');
      await assertClean(handle, { allow: SESSION_GONE });
    });
  });
});
