// @ts-check
/**
 * The HTTP client for Parley's JSON API (docs/api.md): the one fetch wrapper under the typed
 * calls of web/api-client/accounts.js, sessions.js and messaging.js, whose bodies and answers are the
 * server's contract (web/api-client/contract.d.ts, generated from GET /api/openapi.json).
 *
 * - JSON in and out, same-origin credentials, never cached.
 * - The CSRF token lives in a module variable only: never in localStorage, sessionStorage,
 *   IndexedDB or a cookie readable by scripts.
 * - Error bodies become `ApiError {status, code, message, extra}`; a network failure is the
 *   code `network`.
 * - When a signed-in request is refused with `session_expired` or `unauthorized`, the
 *   `onSessionEnded` hook runs (the app goes to the sign-in page with a notice).
 * - A successful user-initiated request (not `background`) calls `onUserActivity`, which the
 *   idle-timeout monitor uses as a local estimate; the server stays the judge. Background
 *   requests carry `X-Parley-Background: 1` so that the server does not count them as activity
 *   either (4.2.3-idle-30m).
 */

/** Requests taking longer than this fail with code `timeout`. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Marks a request as background work: not user activity for the idle timeout. */
const BACKGROUND_HEADER = 'X-Parley-Background';

/** Error codes meaning "there is no (valid) session any more". */
export const SESSION_ENDED_CODES = new Set(['session_expired', 'unauthorized']);

/** An error answered by the server (or `network`/`timeout` when there was no answer). */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 without an answer
   * @param {string} code the stable machine-readable code
   * @param {string} message for people
   * @param {Record<string, unknown>} [extra] every other field of the error body
   */
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.extra = extra;
  }

  /**
   * Seconds to wait for `rate_limited`, or 0.
   * @returns {number}
   */
  get retryAfter() {
    const value = Number(this.extra.retry_after_secs);
    return Number.isFinite(value) && value > 0 ? value : 0;
  }
}

/** @type {string | null} */
let csrfToken = null;

/**
 * @typedef {object} Hooks
 * @property {(error: ApiError) => void} [onSessionEnded] a signed-in request found no session
 * @property {(path: string) => void} [onUserActivity] a user action succeeded
 * @property {() => void} [onPasswordChangeRequired] the server allows nothing but a password change
 * @property {() => boolean} [isSignedIn] whether the app thinks it has a session
 */

/** @type {Hooks} */
let hooks = {};

/**
 * Installs the app's hooks.
 * @param {Hooks} newHooks
 */
export function configureApi(newHooks) {
  hooks = newHooks;
}

/**
 * Sets (or clears) the CSRF token sent with state-changing requests.
 * @param {string | null} token
 */
export function setCsrfToken(token) {
  csrfToken = token;
}

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [body] sent as JSON
 * @property {boolean} [background] not a user action: never counts as activity
 * @property {boolean} [noSessionHook] do not run `onSessionEnded` for this request
 * @property {AbortSignal} [signal]
 */

/**
 * Makes one API request.
 * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
 * @param {string} path e.g. `/api/me`
 * @param {RequestOptions} [options]
 * @returns {Promise<any>} the parsed JSON body, or null for an empty answer
 */
export async function request(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (error) {
    // A stale token (e.g. another tab signed in again): fetch the current one and retry once.
    if (error instanceof ApiError && error.code === 'csrf_failed' && method !== 'GET') {
      /** @type {import('./contract.js').Me | null} */
      const me = await send('GET', '/api/me', { background: true, noSessionHook: true }).catch(() => null);
      if (me && typeof me.csrf_token === 'string') {
        csrfToken = me.csrf_token;
        return send(method, path, options);
      }
    }
    throw error;
  }
}

/**
 * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
 * @param {string} path
 * @param {RequestOptions} options
 * @returns {Promise<any>}
 */
async function send(method, path, options) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  if (method !== 'GET' && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }
  if (options.background) {
    headers[BACKGROUND_HEADER] = '1';
  }
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  init.signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;

  const signedIn = hooks.isSignedIn?.() ?? false;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') {
      throw new ApiError(0, 'timeout', 'The server took too long to answer. Please try again.');
    }
    if (error instanceof DOMException && error.name === 'AbortError') {
      throw error;
    }
    throw new ApiError(0, 'network', 'Cannot reach the Parley server. Check your connection and try again.');
  }

  /** @type {unknown} */
  let body = null;
  const text = await response.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }

  if (!response.ok) {
    const error = toApiError(response, body);
    if (signedIn && !options.noSessionHook && SESSION_ENDED_CODES.has(error.code)) {
      hooks.onSessionEnded?.(error);
    } else if (signedIn && error.code === 'password_change_required') {
      hooks.onPasswordChangeRequired?.();
    }
    throw error;
  }
  if (signedIn && !options.background) {
    hooks.onUserActivity?.(path);
  }
  return body;
}

/**
 * @param {Response} response
 * @param {unknown} body
 * @returns {ApiError}
 */
function toApiError(response, body) {
  if (typeof body === 'object' && body !== null && typeof (/** @type {any} */ (body).error) === 'string') {
    const { error: code, message, ...extra } = /** @type {Record<string, unknown>} */ (body);
    if (extra.retry_after_secs === undefined) {
      const header = Number(response.headers.get('Retry-After'));
      if (Number.isFinite(header) && header > 0) {
        extra.retry_after_secs = header;
      }
    }
    const text = typeof message === 'string' && message ? message : `The server answered ${response.status}.`;
    return new ApiError(response.status, String(code), text, extra);
  }
  return new ApiError(response.status, `http_${response.status}`, `The server answered ${response.status}.`);
}

/** @typedef {import('./contract.js').Operations} Operations */

/**
 * What a call of one operation takes besides the request options.
 * @template {keyof Operations} K
 * @typedef {object} CallOptions
 * @property {Record<string, string | number>} [params] the values of the path's `{name}` parts
 * @property {URLSearchParams} [query]
 * @property {Operations[K]['body']} [body] a `POST` without one sends `{}`
 */

/**
 * Calls one operation of the contract by its name in the OpenAPI document (`POST /api/login`,
 * `GET /api/users/{id}/keys`): a route the server renamed or removed, a wrong body or a wrong
 * use of the answer fails the typecheck.
 * @template {keyof Operations} K
 * @param {K} operation
 * @param {CallOptions<K> & Omit<RequestOptions, 'body'>} [options]
 * @returns {Promise<Operations[K]['answer']>}
 */
export function call(operation, options = {}) {
  const [method, template] = /** @type {['GET' | 'POST' | 'DELETE', string]} */ (operation.split(' '));
  const { params = {}, query, body, ...rest } = options;
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(params[name])));
  return request(method, query ? `${path}?${query}` : path, method === 'POST' ? { ...rest, body: body ?? {} } : rest);
}

/**
 * @param {string} path
 * @param {RequestOptions} [options]
 */
export const get = (path, options) => request('GET', path, options);

/**
 * @param {string} path
 * @param {unknown} [body]
 * @param {RequestOptions} [options]
 */
export const post = (path, body, options = {}) => request('POST', path, { ...options, body: body ?? {} });

/**
 * @param {string} path
 * @param {RequestOptions} [options]
 */
export const del = (path, options) => request('DELETE', path, options);
