// @ts-check
/**
 * This browser's identity key for the signed-in user (E4, E7; docs/protocol.md §10): loaded or
 * made once per browser, published when the server does not have it as current, and checked
 * again when the server says the user's key changed (another tab replaced it).
 */

import * as api from '../api-client/messaging.js';
import { loadIdentity, loadOrCreateIdentity } from '../protocol.js';

/** @typedef {import('../protocol.js').Identity} Identity */

/**
 * Loads (or makes) the identity and makes sure the server has it as current.
 * @param {import('./state.js').StoreOptions} opts
 * @returns {Promise<{ identity: Identity, storageCleared: boolean }>} `storageCleared`: a new
 *   identity was made although the server knows older keys, so localStorage was cleared (E5)
 */
export async function setUpIdentity({ me, log, now }) {
  const load = () => loadOrCreateIdentity(localStorage, me.id, { log, now });
  // One identity per browser: two tabs starting at once must not both create one.
  const { identity, created } = navigator.locks
    ? await navigator.locks.request(`parley-identity-${me.id}`, load)
    : await load();
  const mine = await api.userKeys(me.id, true);
  if (created || mine.current?.public_key !== identity.publicKey) {
    await api.publishKey(identity.publicKey);
  }
  return { identity, storageCleared: created && mine.history.some((k) => k.public_key !== identity.publicKey) };
}

/**
 * Whether the identity in localStorage is no longer the one this tab uses.
 * @param {string} userId
 * @param {Identity | null} current
 * @returns {Promise<boolean>}
 */
export async function identityReplaced(userId, current) {
  const stored = await loadIdentity(localStorage, userId);
  return !stored || stored.publicKey !== current?.publicKey;
}
