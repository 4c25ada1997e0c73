// @ts-check
/**
 * The user's sessions (docs/api.md "Sessions"), as typed calls over web/api-client/http.js.
 */

import { del, get, post } from './http.js';

/** @typedef {import('./contract.js').SessionInfo} SessionRow */

/** @returns {Promise<import('./contract.js').SessionList>} */
export function listSessions() {
  return get('/api/sessions');
}

/**
 * Signs one session out (this one too, when it is the current one).
 * @param {string} id
 */
export function revokeSession(id) {
  return del(`/api/sessions/${encodeURIComponent(id)}`);
}

/** Signs every session of the account out, this one included. */
export function revokeAllSessions() {
  return post('/api/sessions/revoke-all', {});
}
