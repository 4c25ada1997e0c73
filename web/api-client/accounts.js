// @ts-check
/**
 * Registration, sign-in, the session and the authenticators (docs/api.md "Accounts"), as typed
 * calls over web/api-client/http.js. Bodies and answers are the server's types (web/api-client/contract.d.ts,
 * generated from GET /api/openapi.json), so a renamed field fails the typecheck.
 */

import { ApiError, call } from './http.js';

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
  return call('GET /api/me', { background: true });
}

/** @returns {Promise<Captcha>} */
export function fetchCaptcha() {
  return call('GET /api/captcha', { background: true });
}

/**
 * The strength meter's check: never user activity, never ends a session.
 * @param {import('./contract.js').PasswordCheck} body
 */
export function checkPassword(body) {
  return call('POST /api/password/check', { body, background: true, noSessionHook: true });
}

// ---- registration

/** @param {import('./contract.js').RegisterStart} body */
export function register(body) {
  return call('POST /api/register', { body });
}

/** @param {string} code */
export function registerTotp(code) {
  return call('POST /api/register/totp', { body: { code } });
}

export function registerFinish() {
  return call('POST /api/register/finish', { body: { saved: true } });
}

// ---- sign-in and out

/** @param {import('./contract.js').Login} body */
export function login(body) {
  return call('POST /api/login', { body });
}

/**
 * The second step of sign-in.
 * @param {import('./contract.js').SecondFactorMethod} method
 * @param {string} code
 * @returns {Promise<SignedIn>}
 */
export function loginSecondFactor(method, code) {
  return call(method === 'totp' ? 'POST /api/login/totp' : 'POST /api/login/recovery', { body: { code } });
}

/** Ends this session; an already ended one is not reported to the session hook. */
export function logout() {
  return call('POST /api/logout', { noSessionHook: true });
}

/**
 * Proves the user is still here: extends the session's deadlines.
 * @param {string} password
 */
export function reauth(password) {
  return call('POST /api/session/reauth', { body: { password } });
}

// ---- managing authenticators

/** @param {import('./contract.js').ChangePassword} body */
export function changePassword(body) {
  return call('POST /api/account/password', { body });
}

/** @param {Credentials} credentials */
export function startTotp(credentials) {
  return call('POST /api/account/totp/start', { body: credentials });
}

/** @param {string} code */
export function confirmTotp(code) {
  return call('POST /api/account/totp/confirm', { body: { code } });
}

/** @param {Credentials} credentials */
export function newRecoveryCodes(credentials) {
  return call('POST /api/account/recovery-codes', { body: credentials });
}

/** @param {Credentials} credentials */
export function deleteAccount(credentials) {
  return call('POST /api/account/delete', { body: credentials });
}

export function authenticators() {
  return call('GET /api/account/authenticators');
}

export function securityLog() {
  return call('GET /api/account/security-log');
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
