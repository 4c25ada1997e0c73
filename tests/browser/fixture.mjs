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
 *
 * `fx.withPage(options, body)` runs a test's body with a new page and closes the page whatever
 * happens; `fx.withNewAccount(prefix, options, body)` does the same, on the server's page and
 * signed up as a new user through the API.
 */

import { after, before } from 'node:test';

import { newUsername, registerViaApi, startAccountServer } from './flows.mjs';
import { launchBrowser, openPage, startServer } from './harness.mjs';

/** @typedef {import('./harness.mjs').PageHandle} PageHandle */

/**
 * @typedef {object} Fixture
 * @property {import('./harness.mjs').Server} server
 * @property {import('playwright-core').Browser} browser
 * @property {<T>(contextOptions: import('playwright-core').BrowserContextOptions, body: (handle: PageHandle) => Promise<T>) => Promise<T>} withPage
 * @property {<T>(prefix: string, options: NewAccountOptions, body: (handle: PageHandle, account: import('./flows.mjs').Account) => Promise<T>) => Promise<T>} withNewAccount
 */

/**
 * The new page's context options, and the TOTP clock offset of the new account.
 * @typedef {import('playwright-core').BrowserContextOptions & { clockOffset?: number }} NewAccountOptions
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

  /** @type {Fixture} */
  const fx = {
    get server() {
      if (!server) throw new Error('the fixture has not started the server yet (read fx.server inside a test or hook)');
      return server;
    },
    get browser() {
      if (!browser) throw new Error('the fixture has no browser (read fx.browser inside a test or hook)');
      return browser;
    },
    async withPage(contextOptions, body) {
      const handle = await openPage(fx.browser, contextOptions);
      try {
        return await body(handle);
      } finally {
        await handle.close();
      }
    },
    withNewAccount(prefix, { clockOffset = 0, ...contextOptions }, body) {
      return fx.withPage(contextOptions, async (handle) => {
        await handle.page.goto(fx.server.url);
        const account = await registerViaApi(handle.page, { username: newUsername(prefix), clockOffset });
        return body(handle, account);
      });
    },
  };
  return fx;
}
