// @ts-check
/**
 * Shared harness for Parley's real-browser tests.
 *
 * - `startServer()` runs the real `parley` binary on port 0 with a fresh data directory and
 *   waits for its "listening" line.
 * - `launchBrowser(pin)` starts Debian's Chromium trusting only the server's own certificate key
 *   (by SPKI pin), so pages are genuine secure contexts; certificate checks stay on.
 * - `openPage(browser)` gives an isolated user (own context: cookies, localStorage) whose console
 *   messages, page errors, failed requests and CSP violations are collected from the start.
 * - `serverRequest(server, …)` talks to the API from Node (no browser, no cookies), trusting only
 *   the server's own CA — e.g. for the test clock.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

/** The repository's root directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where screenshots and other artefacts go. */
export const OUTPUT_DIR = path.join(REPO_ROOT, 'test-output', 'browser');

/** Debian's Chromium; never a downloaded browser build. */
export const CHROMIUM_PATH = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';

const LISTENING_LINE = /^Parley is listening on (https:\/\/localhost:(\d+)\/)$/;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Keep at most this much of the server's stderr for error messages. */
const STDERR_LIMIT = 64 * 1024;

/**
 * A running server.
 * @typedef {object} Server
 * @property {string} url base URL with trailing slash, e.g. `https://localhost:43121/`
 * @property {number} port
 * @property {string} dataDir fresh temporary data directory, removed by `stop()`
 * @property {string} caPem path of the server's CA certificate (`<dataDir>/tls/ca.pem`)
 * @property {string} sitePem path of the site certificate (`<dataDir>/tls/site.pem`)
 * @property {string} pin base64 SHA-256 of the site certificate's SubjectPublicKeyInfo
 * @property {() => string} logs the server's stderr so far (last 64 KiB)
 * @property {() => Promise<void>} stop SIGTERM, wait for exit, remove the data directory
 */

/**
 * Processes and directories to clean up if the test process dies early.
 * @type {Set<{ child: import('node:child_process').ChildProcess, dataDir: string }>}
 */
const live = new Set();
process.once('exit', () => {
  for (const { child, dataDir } of live) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** @returns {string} the server binary: `$PARLEY_BIN` or `<repo>/target/debug/parley` */
export function serverBinary() {
  return process.env.PARLEY_BIN ?? path.join(REPO_ROOT, 'target', 'debug', 'parley');
}

/**
 * Starts `parley serve` on a random port with a fresh data directory.
 * @param {{ extraArgs?: string[], env?: NodeJS.ProcessEnv }} [options]
 * @returns {Promise<Server>}
 */
export async function startServer({ extraArgs = [], env = {} } = {}) {
  const binary = serverBinary();
  if (!existsSync(binary)) {
    throw new Error(`server binary not found at ${binary}: run \`cargo build --bin parley\` or set PARLEY_BIN`);
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'parley-test-'));
  const args = [
    'serve',
    '--data-dir', dataDir,
    '--listen', '127.0.0.1:0',
    '--domain', 'localhost',
    ...extraArgs,
  ];
  const child = spawn(binary, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entry = { child, dataDir };
  live.add(entry);

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (/** @type {string} */ chunk) => {
    if (process.env.PARLEY_TEST_SERVER_LOG) {
      process.stderr.write(chunk);
    }
    stderr = (stderr + chunk).slice(-STDERR_LIMIT);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  /** @type {{ url: string, port: number }} */
  let address;
  try {
    address = await waitForListeningLine(child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    live.delete(entry);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  const caPem = path.join(dataDir, 'tls', 'ca.pem');
  const sitePem = path.join(dataDir, 'tls', 'site.pem');
  const pin = spkiPin(await readFile(sitePem, 'utf8'));

  let stopping = /** @type {Promise<void> | undefined} */ (undefined);
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      live.delete(entry);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return { ...address, dataDir, caPem, sitePem, pin, logs: () => stderr, stop };
}

/**
 * Resolves with the address once the server prints its one stdout line.
 * @param {import('node:child_process').ChildProcessWithoutNullStreams | import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>} child
 * @param {() => string} stderr
 * @returns {Promise<{ url: string, port: number }>}
 */
function waitForListeningLine(child, stderr) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    /** @type {string[]} */
    const stdout = [];
    const fail = (/** @type {string} */ why) => {
      cleanup();
      reject(new Error(`${why}\n--- server stdout ---\n${stdout.join('\n')}\n--- server stderr ---\n${stderr()}`));
    };
    const timer = setTimeout(
      () => fail(`server did not print its listening line within ${START_TIMEOUT_MS / 1000} s`),
      START_TIMEOUT_MS,
    );
    const onLine = (/** @type {string} */ line) => {
      const match = LISTENING_LINE.exec(line.trim());
      if (!match) {
        stdout.push(line);
        return;
      }
      cleanup();
      // Keep draining stdout so that the server can never block on a full pipe.
      lines.on('line', () => {});
      resolve({ url: /** @type {string} */ (match[1]), port: Number(match[2]) });
    };
    const onExit = (/** @type {number | null} */ code, /** @type {string | null} */ signal) => {
      // Let stderr finish arriving before reporting it.
      setImmediate(() => fail(`server exited before listening (code ${code}, signal ${signal})`));
    };
    const onError = (/** @type {Error} */ error) => fail(`could not start server: ${error.message}`);
    const cleanup = () => {
      clearTimeout(timer);
      lines.off('line', onLine);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    lines.on('line', onLine);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/**
 * The value for Chromium's `--ignore-certificate-errors-spki-list`: base64 of the SHA-256 of the
 * certificate's SubjectPublicKeyInfo (DER). Uses the first certificate in the PEM.
 * @param {string} pem
 * @returns {string}
 */
export function spkiPin(pem) {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * Starts headless Chromium that trusts exactly the given certificate key and nothing else
 * extra; certificate validation is otherwise untouched.
 * @param {string} pin from `Server.pin`
 * @param {{ extraArgs?: string[] }} [options]
 * @returns {Promise<import('playwright-core').Browser>}
 */
export function launchBrowser(pin, { extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumArgs(pin, { extraArgs }),
  });
}

/**
 * The command-line flags `launchBrowser` starts Chromium with (also for
 * `chromium.launchPersistentContext`): trust exactly the given certificate key by SPKI pin.
 * @param {string} pin from `Server.pin`
 * @param {{ extraArgs?: string[] }} [options]
 * @returns {string[]}
 */
export function chromiumArgs(pin, { extraArgs = [] } = {}) {
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--ignore-certificate-errors-spki-list=${pin}`,
    // Diagnostics only: PARLEY_TEST_HTTP1=1 makes Chromium speak HTTP/1.1 instead of HTTP/2.
    ...(process.env.PARLEY_TEST_HTTP1 ? ['--disable-http2'] : []),
    ...extraArgs,
  ];
}

/**
 * @typedef {object} CspViolation
 * @property {string} directive the effective directive, or `console` for a console report
 * @property {string} blockedURI
 * @property {string} sample
 * @property {string} source where it happened (`file:line`) or the console text
 */

/**
 * @typedef {object} PageHandle
 * @property {import('playwright-core').BrowserContext} context an isolated user
 * @property {import('playwright-core').Page} page
 * @property {{ type: string, text: string, url: string }[]} console every console message (with
 *   the URL it is about, e.g. the resource that failed to load)
 * @property {Error[]} pageErrors uncaught exceptions and unhandled rejections
 * @property {string[]} failedRequests requests that failed or got a 4xx/5xx answer
 * @property {() => Promise<CspViolation[]>} cspViolations all CSP/Trusted Types violations so far
 * @property {() => Promise<void>} close closes the context
 */

/**
 * Opens a page in a new context with listeners registered before any navigation.
 * @param {import('playwright-core').Browser} browser
 * @param {import('playwright-core').BrowserContextOptions} [contextOptions]
 * @returns {Promise<PageHandle>}
 */
export async function openPage(browser, contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  // Every step of these tests takes well under a second; fail fast and say where.
  context.setDefaultTimeout(10_000);
  /** @type {CspViolation[]} */
  const reported = [];
  // Reported from the page through a binding, so violations on earlier documents survive
  // navigation; the window array is kept for inspection from the page itself.
  await context.exposeBinding('__parleyReportCspViolation', (_source, /** @type {CspViolation} */ v) => {
    reported.push(v);
  });
  await context.addInitScript(() => {
    /** @type {any} */
    const w = window;
    w.__cspViolations = [];
    window.addEventListener(
      'securitypolicyviolation',
      (event) => {
        const violation = {
          directive: event.effectiveDirective,
          blockedURI: event.blockedURI,
          sample: event.sample,
          source: `${event.sourceFile}:${event.lineNumber}`,
        };
        w.__cspViolations.push(violation);
        if (typeof w.__parleyReportCspViolation === 'function') {
          w.__parleyReportCspViolation(violation);
        }
      },
      true,
    );
  });

  await serveWebFromDisk(context);

  const page = await context.newPage();
  /** @type {PageHandle['console']} */
  const consoleMessages = [];
  /** @type {CspViolation[]} */
  const consoleViolations = [];
  /** @type {Error[]} */
  const pageErrors = [];
  /** @type {string[]} */
  const failedRequests = [];

  page.on('console', (message) => {
    const text = message.text();
    consoleMessages.push({ type: message.type(), text, url: message.location().url ?? '' });
    if (/Content Security Policy|Trusted Type/i.test(text)) {
      consoleViolations.push({ directive: 'console', blockedURI: '', sample: '', source: text });
    }
  });
  page.on('pageerror', (error) => pageErrors.push(error));
  page.on('requestfailed', (request) => {
    failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText ?? 'failed'}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      failedRequests.push(`${response.request().method()} ${response.url()}: HTTP ${response.status()}`);
    }
  });

  return {
    context,
    page,
    console: consoleMessages,
    pageErrors,
    failedRequests,
    cspViolations: async () => [...reported, ...consoleViolations],
    close: () => context.close(),
  };
}

/**
 * Development aid: with `PARLEY_TEST_WEB_DIR=web`, the client's scripts and styles are served
 * from that directory instead of the copy embedded in the binary, so the client can be iterated
 * on without rebuilding the server. Documents still come from the server (with its CSP and
 * other headers). Unset in CI: the tests then run the embedded client.
 * @param {import('playwright-core').BrowserContext} context
 */
async function serveWebFromDisk(context) {
  const dir = process.env.PARLEY_TEST_WEB_DIR;
  if (!dir) {
    return;
  }
  const root = path.resolve(REPO_ROOT, dir);
  /** @type {Record<string, string>} */
  const types = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
  await context.route(
    (url) => !url.pathname.startsWith('/api/') && path.extname(url.pathname) in types,
    async (route) => {
      const { pathname } = new URL(route.request().url());
      const file = path.join(root, pathname);
      const body = file.startsWith(root + path.sep) ? await readFile(file).catch(() => null) : null;
      if (body === null) {
        await route.continue();
        return;
      }
      await route.fulfill({
        status: 200,
        body,
        headers: {
          'content-type': types[path.extname(pathname)] ?? 'application/octet-stream',
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          'cross-origin-resource-policy': 'same-origin',
        },
      });
    },
  );
}

/**
 * Saves a full-page screenshot as `test-output/browser/<name>.png` and returns its path.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @returns {Promise<string>}
 */
export async function screenshot(page, name) {
  await mkdir(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  return file;
}

/**
 * One HTTPS request from Node to the server, trusting exactly its CA. No cookies are sent, so
 * this never counts as anybody's activity.
 * @param {Server} server
 * @param {string} method
 * @param {string} path e.g. `/api/test/clock`
 * @param {unknown} [body] sent as JSON
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, body: any }>}
 */
export async function serverRequest(server, method, path, body) {
  const ca = await readFile(server.caPem, 'utf8');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, server.url),
      {
        method,
        ca,
        servername: 'localhost',
        headers: {
          Accept: 'application/json',
          ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          let parsed = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Asserts that nothing went wrong on the page: no CSP or Trusted Types violations, no page
 * errors, no console errors, no failed requests — except those matching `allow` (e.g. the
 * expected `401` of `GET /api/me` while signed out, which Chromium also logs to the console).
 * @param {PageHandle} handle
 * @param {{ allow?: RegExp[] }} [options]
 */
export async function assertClean(handle, { allow = [] } = {}) {
  const allowed = (/** @type {string} */ text) => allow.some((re) => re.test(text));
  assert.deepEqual(await handle.cspViolations(), [], 'CSP violations');
  assert.deepEqual(handle.pageErrors.map(String), [], 'page errors');
  assert.deepEqual(handle.failedRequests.filter((r) => !allowed(r)), [], 'failed requests');
  const errors = handle.console.filter(
    (message) => message.type === 'error' && !allowed(`${message.text} ${message.url}`),
  );
  assert.deepEqual(errors, [], 'console errors');
}
