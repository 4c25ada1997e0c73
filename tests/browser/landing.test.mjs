// @ts-check
/**
 * The landing page in real Chromium over real TLS: secure context, security headers, the health
 * check reaching the page, and a page that runs cleanly under the strict CSP.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useBrowserFixture } from './fixture.mjs';
import { EXPECTED_ME_401 } from './flows.mjs';
import { assertClean as assertPageClean, openPage, screenshot } from './harness.mjs';

/** @typedef {import('./harness.mjs').Server} Server */
/** @typedef {import('./harness.mjs').PageHandle} PageHandle */

const fx = useBrowserFixture({ plain: true });

/**
 * Loads the landing page and waits until the health check has filled the status line.
 * @param {PageHandle} handle
 */
async function loadLanding(handle) {
  const response = await handle.page.goto(fx.server.url, { waitUntil: 'load' });
  assert.ok(response, 'navigation produced no response');
  await handle.page
    .locator('#server-status', { hasText: 'Connected' })
    .waitFor({ state: 'visible', timeout: 10_000 });
  return response;
}

/**
 * Asserts that nothing went wrong on the page. Signed out, `GET /api/me` answers 401 by design
 * (the app asks whether a session exists); that and nothing else is allowed.
 * @param {PageHandle} handle
 */
function assertClean(handle) {
  return assertPageClean(handle, { allow: [EXPECTED_ME_401] });
}

describe('landing page', { timeout: 90_000 }, () => {
  test('is served securely and reports the server as connected (desktop)', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 800 } });
    try {
      const response = await loadLanding(handle);
      const { page } = handle;

      assert.equal(response.status(), 200);
      const security = await response.securityDetails();
      assert.equal(security?.protocol, 'TLS 1.3', 'TLS protocol of the main document');
      assert.equal(await page.evaluate(() => window.isSecureContext), true, 'secure context');

      const headers = response.headers();
      assert.match(headers['content-type'] ?? '', /^text\/html\b/i, 'content-type');
      assert.match(
        headers['strict-transport-security'] ?? '',
        /^max-age=604800(\s*;|$)/,
        'strict-transport-security',
      );
      assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/, 'content-security-policy');

      assert.equal(await page.title(), 'Parley');
      assert.equal((await page.locator('h1').textContent())?.trim(), 'Parley');
      assert.match(await page.locator('#server-status').innerText(), /^Connected securely to Parley \d+\.\d+\.\d+/);
      assert.equal(await page.locator('#server-status').getAttribute('data-state'), 'ok');
      assert.equal(await page.locator('main #app').count(), 1, 'the #app section exists for later views');

      await screenshot(page, 'landing');
      await assertClean(handle);
    } finally {
      await handle.close();
    }
  });

  test('fits a phone screen without horizontal scrolling', async () => {
    const handle = await openPage(fx.browser, {
      viewport: { width: 375, height: 740 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      await loadLanding(handle);
      const { page } = handle;
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.equal(overflow, 0, 'page is wider than the phone screen');
      await screenshot(page, 'landing-phone');
      await assertClean(handle);
    } finally {
      await handle.close();
    }
  });

  test('says clearly when the health check fails', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 800 } });
    try {
      const { page } = handle;
      await page.route('**/api/health', (route) =>
        route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable"}' }),
      );
      await page.goto(fx.server.url);
      const status = page.locator('#server-status[data-state="error"]');
      await status.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match(await status.innerText(), /Cannot reach the Parley server/);
      assert.deepEqual(await handle.cspViolations(), [], 'CSP violations');
      assert.deepEqual(handle.pageErrors.map(String), [], 'page errors');
    } finally {
      await handle.close();
    }
  });

  test('renders in dark mode', async () => {
    const handle = await openPage(fx.browser, { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    try {
      await loadLanding(handle);
      const background = await handle.page.evaluate(
        () => getComputedStyle(document.querySelector('.card') ?? document.body).backgroundColor,
      );
      assert.notEqual(background, 'rgb(255, 255, 255)', 'the card follows prefers-color-scheme: dark');
      await screenshot(handle.page, 'landing-dark');
      await assertClean(handle);
    } finally {
      await handle.close();
    }
  });
});
