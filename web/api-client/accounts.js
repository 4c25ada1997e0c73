// @ts-check
/**
 * Registration, sign-in, the session and the authenticators (docs/api.md "Accounts"), as typed
 * calls over web/api-client/http.js. Bodies and answers are the server's types (web/api-client/contract.d.ts,
 * generated from GET /api/openapi.json), so a renamed field fails the typecheck.
 */

import { ApiError, get, post } from './http.js';

/** @typedef {import('./contract.js').Me} Me */
/** @typedef {import('./contract.js').User} User */
/** @typedef {import('./contract.js').Session} Session */
/** @typedef {import('./contract.js').Captcha} Captcha */
/** @typedef {import('./contract.js').PasswordRejection} Reason */
/** @typedef {import('./contract.js').PasswordFeedback} PasswordFeedback */
/** @typedef {import('./contract.js').TotpProvisioning} TotpEnrolment */
/** @typedef {import('./contract.js').SignedIn} SignedIn */
/** @typedef {import('./contract.js').Sensitive} Credentials */

/** @returns {Promise<Me>} */
export function fetchMe() {
  return get('/api/me', { background: true });
}

/** @returns {Promise<Captcha>} */
export function fetchCaptcha() {
  return get('/api/captcha', { background: true });
}

/**
 * The strength meter's check: never user activity, never ends a session.
 * @param {import('./contract.js').PasswordCheck} body
 * @returns {Promise<PasswordFeedback>}
 */
export function checkPassword(body) {
  return post('/api/password/check', body, { background: true, noSessionHook: true });
}

// ---- registration

/**
 * @param {import('./contract.js').RegisterStart} body
 * @returns {Promise<import('./contract.js').RegistrationStarted>}
 */
export function register(body) {
  return post('/api/register', body);
}

/**
 * @param {string} code
 * @returns {Promise<import('./contract.js').RegistrationCodes>}
 */
export function registerTotp(code) {
  return post('/api/register/totp', /** @type {import('./contract.js').CodeBody} */ ({ code }));
}

/** @returns {Promise<SignedIn>} */
export function registerFinish() {
  return post('/api/register/finish', /** @type {import('./contract.js').RegisterFinish} */ ({ saved: true }));
}

// ---- sign-in and out

/**
 * @param {import('./contract.js').Login} body
 * @returns {Promise<import('./contract.js').LoginPending>}
 */
export function login(body) {
  return post('/api/login', body);
}

/**
 * The second step of sign-in.
 * @param {import('./contract.js').SecondFactorMethod} method
 * @param {string} code
 * @returns {Promise<SignedIn>}
 */
export function loginSecondFactor(method, code) {
  return post(method === 'totp' ? '/api/login/totp' : '/api/login/recovery', /** @type {import('./contract.js').CodeBody} */ ({ code }));
}

/** Ends this session; an already ended one is not reported to the session hook. */
export function logout() {
  return post('/api/logout', {}, { noSessionHook: true });
}

/**
 * Proves the user is still here: extends the session's deadlines.
 * @param {string} password
 * @returns {Promise<import('./contract.js').Reauthenticated>}
 */
export function reauth(password) {
  return post('/api/session/reauth', /** @type {import('./contract.js').PasswordBody} */ ({ password }));
}

// ---- managing authenticators

/** @param {import('./contract.js').ChangePassword} body */
export function changePassword(body) {
  return post('/api/account/password', body);
}

/**
 * @param {Credentials} credentials
 * @returns {Promise<import('./contract.js').TotpStarted>}
 */
export function startTotp(credentials) {
  return post('/api/account/totp/start', credentials);
}

/** @param {string} code */
export function confirmTotp(code) {
  return post('/api/account/totp/confirm', /** @type {import('./contract.js').CodeBody} */ ({ code }));
}

/**
 * @param {Credentials} credentials
 * @returns {Promise<import('./contract.js').RecoveryCodes>}
 */
export function newRecoveryCodes(credentials) {
  return post('/api/account/recovery-codes', credentials);
}

/** @param {Credentials} credentials */
export function deleteAccount(credentials) {
  return post('/api/account/delete', credentials);
}

/** @returns {Promise<import('./contract.js').Authenticators>} */
export function authenticators() {
  return get('/api/account/authenticators');
}

/** @returns {Promise<import('./contract.js').SecurityLog>} */
export function securityLog() {
  return get('/api/account/security-log');
}

/**
 * Reasons of a `password_rejected` error, or an empty list.
 * @param {unknown} error
 * @returns {Reason[]}
 */
export function rejectionReasons(error) {
  if (!(error instanceof ApiError) || !Array.isArray(error.extra.reasons)) {
    return [];
  }
  return error.extra.reasons
    .filter((r) => typeof r === 'object' && r !== null)
    .map((r) => ({ code: String(r.code ?? ''), message: String(r.message ?? r.code ?? '') }));
}
