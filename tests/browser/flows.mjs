// @ts-check
/**
 * Shared steps for the account browser tests: a server with the test-only CAPTCHA answer and
 * test clock, sign-up through the UI or through the page's own `fetch`, sign-in, sign-out.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { serverRequest, startServer } from './harness.mjs';
import { Authenticator, timeStep } from './totp.mjs';

/** What every CAPTCHA's answer is on the test server. */
export const CAPTCHA_ANSWER = 'testcaptcha';

/** A password no rule refuses (long, not in any list, no context words). */
export const GOOD_PASSWORD = 'Tangerine lighthouse drifts 47 furlongs';

/** Failures that are part of normal operation: `GET /api/me` while signed out. */
export const EXPECTED_ME_401 = /\/api\/me\b.*(HTTP 401)|status of 401.*\/api\/me\b/;

/**
 * Starts the server for account tests: the CAPTCHA answer is fixed, the clock can be moved, and
 * the remote breach API is off (no internet in tests).
 * @param {NodeJS.ProcessEnv} [env]
 */
export function startAccountServer(env = {}) {
  return startServer({
    env: {
      PARLEY__TEST_CAPTCHA_ANSWER: CAPTCHA_ANSWER,
      PARLEY__TEST_CLOCK: 'true',
      PARLEY__BREACH_API_URL: '',
      ...env,
    },
  });
}

/**
 * A fresh username.
 * @param {string} prefix
 */
export function newUsername(prefix) {
  return `${prefix}_${randomBytes(3).toString('hex')}`;
}

/**
 * Moves the server's clock forward (test hook; from Node, so it is nobody's activity).
 * @param {import('./harness.mjs').Server} server
 * @param {number} secs
 */
export async function advanceClock(server, secs) {
  const answer = await serverRequest(server, 'POST', '/api/test/clock', { advance_secs: secs });
  assert.ok(answer.status >= 200 && answer.status < 300, `test clock: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
}

/**
 * @typedef {object} Account
 * @property {string} username
 * @property {string} password
 * @property {Authenticator} authenticator
 * @property {string[]} recoveryCodes
 */

/**
 * Signs up through the UI (all three steps) and ends on the chat page.
 * @param {import('playwright-core').Page} page on the app's origin
 * @param {{ username: string, password?: string, clockOffset?: number, screenshots?: (name: string) => Promise<unknown> }} options
 * @returns {Promise<Account>}
 */
export async function registerViaUi(page, { username, password = GOOD_PASSWORD, clockOffset = 0, screenshots }) {
  await page.goto(new URL('/#/register', page.url()).href);
  await fillAccountStep(page, username, password);
  await page.getByRole('button', { name: 'Continue' }).click();

  await page.getByRole('heading', { name: /Set up your authenticator app/ }).waitFor();
  const secret = (await page.locator('.secret').innerText()).replace(/\s+/g, '');
  assert.match(secret, /^[A-Z2-7]{16,}$/, 'the key is base32');
  const authenticator = new Authenticator(secret, { clockOffset });
  await screenshots?.('register-2-totp');
  await page.getByLabel('Enter the 6-digit code your app shows').fill(await authenticator.next());
  await page.getByRole('button', { name: 'Verify code' }).click();

  await page.getByRole('heading', { name: /Save your recovery codes/ }).waitFor();
  const recoveryCodes = await page.locator('.codes code').allInnerTexts();
  assert.equal(recoveryCodes.length, 10, 'ten recovery codes');
  await screenshots?.('register-3-recovery');
  const finish = page.getByRole('button', { name: 'Finish' });
  assert.equal(await finish.isDisabled(), true, 'Finish waits for the checkbox');
  await page.getByLabel('I have saved my recovery codes').check();
  await finish.click();
  await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
  return { username, password, authenticator, recoveryCodes };
}

/**
 * Fills step 1 of the sign-up form (waits for the CAPTCHA image first).
 * @param {import('playwright-core').Page} page
 * @param {string} username
 * @param {string} password
 */
export async function fillAccountStep(page, username, password) {
  await page.locator('.captcha[data-state="ready"] img.captcha-image[src^="data:image/"]').waitFor();
  await page.getByLabel('Username').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password_confirm"]').fill(password);
  await page.getByLabel('Type the characters in the image').fill(CAPTCHA_ANSWER);
}

/**
 * Signs up with the page's own `fetch` (same origin, same cookies, as the app would), then
 * reloads so the app picks up the session. Fast set-up for tests that are about something else.
 * @param {import('playwright-core').Page} page on the app's origin
 * @param {{ username: string, password?: string, clockOffset?: number }} options
 * @returns {Promise<Account>}
 */
export async function registerViaApi(page, { username, password = GOOD_PASSWORD, clockOffset = 0 }) {
  const captcha = await page.evaluate(async () => (await fetch('/api/captcha')).json());
  const start = await pagePost(page, '/api/register', {
    username,
    password,
    password_confirm: password,
    captcha_id: captcha.id,
    captcha_answer: CAPTCHA_ANSWER,
  });
  assert.equal(start.status, 201, `POST /api/register: ${JSON.stringify(start.body)}`);
  const authenticator = new Authenticator(start.body.totp.secret, { clockOffset });
  const totp = await pagePost(page, '/api/register/totp', { code: await authenticator.next() });
  const finish = totp.status === 200
    ? { step: 'finish', ...(await pagePost(page, '/api/register/finish', { saved: true })), codes: totp.body.recovery_codes }
    : { step: 'totp', ...totp, codes: [] };
  assert.equal(finish.status, 201, `registration ${finish.step}: ${JSON.stringify(finish.body)}`);
  await page.reload();
  await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
  return { username, password, authenticator, recoveryCodes: /** @type {string[]} */ (finish.codes) };
}

/**
 * A JSON `POST` made by the page's own `fetch` (same origin, same cookies, as the app would).
 * @param {import('playwright-core').Page} page
 * @param {string} path
 * @param {unknown} body
 * @returns {Promise<{ status: number, body: any }>}
 */
function pagePost(page, path, body) {
  return page.evaluate(
    async ({ path, body }) => {
      const response = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    },
    { path, body },
  );
}

/**
 * Signs in through the UI up to the second step.
 * @param {import('playwright-core').Page} page
 * @param {Account} account
 */
export async function signInPassword(page, account) {
  if (!/#\/login$/.test(page.url())) {
    await page.goto(new URL('/#/login', page.url()).href);
  }
  await submitSignIn(page, account);
  await page.getByRole('heading', { name: 'Second step' }).waitFor();
}

/**
 * Fills the sign-in page's form (once its CAPTCHA is there) and submits it.
 * @param {import('playwright-core').Page} page on the sign-in page
 * @param {{ username: string, password: string }} account
 */
export async function submitSignIn(page, account) {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.locator('.captcha[data-state="ready"] img.captcha-image[src^="data:image/"]').waitFor();
  await page.getByLabel('Username').fill(account.username);
  await page.locator('input[name="password"]').fill(account.password);
  await page.getByLabel('Type the characters in the image').fill(CAPTCHA_ANSWER);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Signs in through the UI with password and TOTP; ends on the chat page.
 * @param {import('playwright-core').Page} page
 * @param {Account} account
 */
export async function signInTotp(page, account) {
  await signInPassword(page, account);
  await page.getByLabel('Enter the 6-digit code from your authenticator app').fill(await account.authenticator.next());
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('heading', { name: 'Chats', exact: true }).waitFor();
}

/**
 * Signs out with the top bar's button; ends on the landing page.
 * @param {import('playwright-core').Page} page
 */
export async function signOut(page) {
  await page.locator('.topbar').getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You have signed out.').waitFor();
}

/**
 * The page's no-horizontal-scroll check for phones.
 * @param {import('playwright-core').Page} page
 */
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export { timeStep };
