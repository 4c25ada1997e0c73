// @ts-check
/**
 * Parley browser client: entry point.
 *
 * Loaded as an ES module from index.html. The page runs under a strict Content Security Policy
 * with Trusted Types enforced, so this code never assigns HTML strings: it builds the DOM with
 * `textContent` and DOM APIs only.
 */

/** How long to wait for the server's health endpoint before reporting a failure. */
const HEALTH_TIMEOUT_MS = 10_000;

/**
 * The body of `GET /api/health`.
 * @typedef {{ status: string, version: string }} Health
 */

/**
 * What the status line shows.
 * @typedef {'pending' | 'ok' | 'error'} StatusState
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
 * Shows a message in the status line.
 * @param {HTMLElement} element
 * @param {StatusState} state
 * @param {string} text
 */
function showStatus(element, state, text) {
  element.dataset.state = state;
  element.textContent = text;
}

/**
 * Fills `#server-status` with the result of the health check.
 * @param {HTMLElement} element
 */
async function reportServerStatus(element) {
  try {
    const health = await fetchHealth();
    showStatus(element, 'ok', `Connected securely to Parley ${health.version}`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error('Parley: health check failed:', reason);
    showStatus(
      element,
      'error',
      'Cannot reach the Parley server right now. Check your connection and reload the page.',
    );
  }
}

function main() {
  const status = document.getElementById('server-status');
  if (status instanceof HTMLElement) {
    void reportServerStatus(status);
  }
}

main();
