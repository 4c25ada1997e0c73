// @ts-check
/**
 * The set-up every browser test file shares (issue 11): before the file's tests, a fresh
 * server and a Chromium that trusts only that server's key; after them, both stopped and the
 * data directory removed. Call it once at the top of a test file and read `fx.server` and
 * `fx.browser` in the tests (they throw if read before the set-up ran).
 *
 *   const fx = useBrowserFixture();                       // an account server (flows.mjs)
 *   const fx = useBrowserFixture({ env: { … } });        // with more settings
 *   const fx = useBrowserFixture({ plain: true });        // `parley serve` with no test settings
 *   const fx = useBrowserFixture({ browser: false });     // the file launches its own browsers
 */

import { after, before } from 'node:test';

import { startAccountServer } from './flows.mjs';
import { launchBrowser, startServer } from './harness.mjs';

/**
 * @typedef {object} Fixture
 * @property {import('./harness.mjs').Server} server
 * @property {import('playwright-core').Browser} browser
 */

/**
 * @param {{ env?: NodeJS.ProcessEnv, plain?: boolean, browser?: boolean }} [options]
 * @returns {Fixture}
 */
export function useBrowserFixture({ env = {}, plain = false, browser: withBrowser = true } = {}) {
  /** @type {import('./harness.mjs').Server | undefined} */
  let server;
  /** @type {import('playwright-core').Browser | undefined} */
  let browser;

  before(async () => {
    server = plain ? await startServer({ env }) : await startAccountServer(env);
    if (withBrowser) {
      browser = await launchBrowser(server.pin);
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  return {
    get server() {
      if (!server) throw new Error('the fixture has not started the server yet (read fx.server inside a test or hook)');
      return server;
    },
    get browser() {
      if (!browser) throw new Error('the fixture has no browser (read fx.browser inside a test or hook)');
      return browser;
    },
  };
}
