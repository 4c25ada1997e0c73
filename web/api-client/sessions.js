// @ts-check
/**
 * The user's sessions (docs/api.md "Sessions"), as typed calls over web/api-client/http.js.
 */

import { call } from './http.js';

/** @typedef {import('./contract.js').SessionInfo} SessionRow */

export function listSessions() {
  return call('GET /api/sessions');
}

/**
 * Signs one session out (this one too, when it is the current one).
 * @param {string} id
 */
export function revokeSession(id) {
  return call('DELETE /api/sessions/{id}', { params: { id } });
}

/** Signs every session of the account out, this one included. */
export function revokeAllSessions() {
  return call('POST /api/sessions/revoke-all');
}
