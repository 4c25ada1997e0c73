// @ts-check
/**
 * The messaging part of the API (docs/api.md "Messaging"), as small typed calls over
 * web/api-client/http.js (which adds the CSRF token, timeouts and the session hooks). Bodies and answers
 * are the server's types (web/api-client/contract.d.ts, generated from GET /api/openapi.json).
 *
 * `background: true` marks work the user did not ask for — fetches after a push, a reconnect or
 * a resync, read receipts — with `X-Parley-Background: 1`, so that it never counts as activity
 * for the 30-minute idle limit (4.2.3-idle-30m).
 */

import { call } from './http.js';
import { PAGE_DEFAULT, PAGE_MAX } from '../limits.js';

/** @typedef {import('./contract.js').PublicKeyRecord} PublicKey */
/** @typedef {import('./contract.js').Keys} Keys */
/** @typedef {import('./contract.js').FoundUser} FoundUser */
/** @typedef {import('./contract.js').Conversation} ConversationRow */
/** @typedef {import('./contract.js').Message} StoredMessage */

/** Largest page the server hands out (web/limits.js). */
export { PAGE_MAX };
/** The page size for opening a conversation and for "load older": the server's default. */
export const PAGE = PAGE_DEFAULT;

/** @param {boolean} background */
const opts = (background) => (background ? { background: true } : {});

/**
 * @param {string} userId
 * @param {boolean} [background]
 * @returns {Promise<Keys>}
 */
export function userKeys(userId, background = false) {
  return call('GET /api/users/{id}/keys', { params: { id: userId }, ...opts(background) });
}

/**
 * @param {string} publicKey base64 of the raw P-384 point
 * @returns {Promise<import('./contract.js').Published>}
 */
export function publishKey(publicKey) {
  return call('POST /api/keys', { body: { public_key: publicKey }, background: true });
}

/**
 * Exact (case-insensitive) username; `not_found` when there is none.
 * @param {string} username
 * @returns {Promise<FoundUser>}
 */
export function findUser(username) {
  return call('GET /api/users', { query: new URLSearchParams({ username }) });
}

/**
 * @param {boolean} [background]
 * @returns {Promise<ConversationRow[]>}
 */
export async function conversations(background = false) {
  const answer = await call('GET /api/conversations', opts(background));
  return Array.isArray(answer?.conversations) ? answer.conversations : [];
}

/**
 * A page of a conversation, ascending ids.
 * @param {string} peerId
 * @param {{ before?: number, after?: number, limit?: number }} where (the query of the contract's
 *   `GET /api/conversations/{peer}/messages`)
 * @param {boolean} [background]
 * @returns {Promise<StoredMessage[]>}
 */
export async function history(peerId, where, background = false) {
  const query = new URLSearchParams();
  if (where.before !== undefined) query.set('before', String(where.before));
  if (where.after !== undefined) query.set('after', String(where.after));
  query.set('limit', String(where.limit ?? PAGE));
  const answer = await call('GET /api/conversations/{peer_id}/messages', { params: { peer_id: peerId }, query, ...opts(background) });
  return Array.isArray(answer?.messages) ? answer.messages : [];
}

/**
 * Posts one protocol payload; the server stamps sender, recipient, id and time.
 * @param {string} peerId
 * @param {unknown} payload
 * @returns {Promise<import('./contract.js').Sent>}
 */
export function sendPayload(peerId, payload) {
  return call('POST /api/conversations/{peer_id}/messages', { params: { peer_id: peerId }, body: { payload } });
}

/**
 * The highest IV counter this user stored under a key set, and whether a `change` from it is
 * stored (docs/api.md): a browser resumes its counter above it (E3, issue 8). Never user activity.
 * @param {string} keySet
 * @returns {Promise<import('./contract.js').LastIv>}
 */
export function lastIv(keySet) {
  return call('GET /api/keysets/{key_set}/last-iv', { params: { key_set: keySet }, background: true });
}

/**
 * Marks the conversation read up to `upTo` (a read receipt: never user activity).
 * @param {string} peerId
 * @param {number} upTo
 */
export function markRead(peerId, upTo) {
  return call('POST /api/conversations/{peer_id}/read', { params: { peer_id: peerId }, body: { up_to: upTo }, background: true });
}
