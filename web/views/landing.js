// @ts-check
/**
 * `#/`: what Parley is, whether the server is reachable, and the way in.
 */

import { h } from '../dom.js';

export const title = 'Parley';

/** How long to wait for the server's health endpoint before reporting a failure. */
const HEALTH_TIMEOUT_MS = 10_000;

/**
 * The body of `GET /api/health`.
 * @typedef {{ status: string, version: string }} Health
 */

/**
 * Checks that a parsed JSON value has the shape of a health response.
 * @param {unknown} value
 * @returns {value is Health}
 */
export function isHealth(value) {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const record = /** @type {Record<string, unknown>} */ (value);
  return typeof record.status === 'string' && typeof record.version === 'string';
}

/**
 * Asks the server whether it is up.
 * @param {typeof fetch} [fetchImpl] injectable for tests
 * @returns {Promise<Health>}
 */
export async function fetchHealth(fetchImpl = fetch) {
  const response = await fetchImpl('/api/health', {
    headers: { Accept: 'application/json' },
    cache: 'no-store',
    credentials: 'same-origin',
    signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
  });
  if (!response.ok) {
    throw new Error(`the server answered ${response.status}`);
  }
  /** @type {unknown} */
  const body = await response.json();
  if (!isHealth(body) || body.status !== 'ok') {
    throw new Error('the server reported that it is not healthy');
  }
  return body;
}

/**
 * Fills the status line with the result of the health check.
 * @param {HTMLElement} element
 * @param {import('../ui.js').Scope} scope
 */
async function reportServerStatus(element, scope) {
  try {
    const health = await fetchHealth();
    if (scope.alive()) {
      element.dataset.state = 'ok';
      element.textContent = `Connected securely to Parley ${health.version}`;
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error('Parley: health check failed:', reason);
    element.dataset.state = 'error';
    element.textContent = 'Cannot reach the Parley server right now. Check your connection and reload the page.';
  }
}

/**
 * @param {import('../app.js').App} _app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function render(_app, scope) {
  const status = h(
    'p',
    { id: 'server-status', class: 'status', dataset: { state: 'pending' }, attrs: { role: 'status', 'aria-live': 'polite' } },
    'Checking the connection to the server…',
  );
  void reportServerStatus(status, scope);
  return h(
    'div',
    { class: 'view landing' },
    h(
      'p',
      { class: 'intro' },
      'Your messages are encrypted in your browser before they leave it. The server relays and stores only ciphertext it cannot read.',
    ),
    h(
      'ul',
      { class: 'features' },
      h('li', {}, h('strong', {}, 'Private by design'), ' — keys never leave your device.'),
      h(
        'li',
        {},
        h('strong', {}, 'Strong sign-in'),
        ' — a password plus an authenticator app, with one-time recovery codes as a backup.',
      ),
    ),
    status,
    h(
      'div',
      { class: 'actions landing-actions' },
      h('a', { class: 'button primary', href: '#/register' }, 'Create account'),
      h('a', { class: 'button secondary', href: '#/login' }, 'Sign in'),
    ),
  );
}
