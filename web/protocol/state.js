// @ts-check
/**
 * The conversation's stored state and its pure rules (docs/protocol.md §9, §10): the shapes of
 * stored messages, events and the `conv:<peer>` record, and the walk of the exchange chain that
 * decides the current key set. No crypto, no storage access.
 */

import { ProtocolError, isObject } from './crypto.js';

/** @typedef {import('./crypto.js').FailureReason} FailureReason */
/** @typedef {import('./crypto.js').Payload} Payload */

/**
 * A message as the server stores and returns it (the payload verbatim).
 * @typedef {{ id: number, sender_id: string, recipient_id: string, created_at: number, payload: unknown }} StoredMessage
 */

/** Posts one payload; resolves to the stored message the server returns. */
/** @typedef {(payload: Payload) => Promise<StoredMessage>} PostFn */

/**
 * @typedef {{ id: number | null, type: 'ecdh' | 'change', from: string, old: string | null, key_set: string,
 *   salt: number, engaged: boolean, created_at: number }} ExchangeEntry
 */

/**
 * @typedef {{ v: 1, exchanges: ExchangeEntry[], max_salt: Record<string, number>, peer_key: string | null,
 *   peer_key_id: number, verified_key: string | null, want_exchange: boolean }} ConversationState
 */

/**
 * @typedef {{ id: number, mine: boolean, created_at: number, type: 'ecdh' | 'msg' | 'change' | 'keys' | 'unknown' }} EventBase
 * @typedef {EventBase & { kind: 'message', text: string, keySetId: string, iv: number }} MessageEvent
 * @typedef {EventBase & { kind: 'keys_changed', keySetId: string, oldKeySetId: string, superseded: boolean, fresh: boolean }} KeysChangedEvent
 * @typedef {EventBase & { kind: 'exchange', keySetId: string, fresh: boolean, engaged: boolean, ok: boolean, reason?: FailureReason }} ExchangeEvent
 * @typedef {EventBase & { kind: 'replay_rejected', keySetId: string, iv: number }} ReplayEvent
 * @typedef {EventBase & { kind: 'undecryptable', reason: FailureReason, keySetId?: string }} UndecryptableEvent
 * @typedef {EventBase & { kind: 'peer_key_changed', oldKey: string, newKey: string }} PeerKeyChangedEvent
 * @typedef {MessageEvent | KeysChangedEvent | ExchangeEvent | ReplayEvent | UndecryptableEvent | PeerKeyChangedEvent} ProtocolEvent
 */

/** @returns {ConversationState} */
export function emptyState() {
  return { v: 1, exchanges: [], max_salt: {}, peer_key: null, peer_key_id: 0, verified_key: null, want_exchange: false };
}

/**
 * @param {unknown} r the parsed `conv:<peer>` item
 * @returns {ConversationState}
 */
export function parseState(r) {
  if (!isObject(r) || r.v !== 1 || !Array.isArray(r.exchanges)) return emptyState();
  return /** @type {ConversationState} */ ({ ...emptyState(), ...r });
}

/**
 * Walk the exchanges in server order (§9.2); an own exchange not yet stored sorts last.
 * @param {ConversationState} state
 * @returns {{ head: string | null, engaged: boolean, superseded: Set<ExchangeEntry> }}
 */
export function walkChain(state) {
  const order = [...state.exchanges].sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity));
  /** @type {string | null} */
  let head = null;
  let engaged = false;
  const superseded = new Set();
  for (const e of order) {
    if (e.type === 'ecdh' || e.old === head) {
      head = e.key_set;
      engaged = e.engaged;
    } else {
      superseded.add(e);
    }
  }
  return { head, engaged, superseded };
}

/**
 * @param {ConversationState} state @param {ExchangeEntry} entry
 * @returns {boolean} the change did not move the chain (§8.3)
 */
export function isSuperseded(state, entry) {
  return [...walkChain(state).superseded].some((e) => e.id === entry.id && e.type === entry.type && e.key_set === entry.key_set);
}

/**
 * @param {ConversationState} state @param {string} pair @param {number} salt
 */
export function bumpSalt(state, pair, salt) {
  state.max_salt[pair] = Math.max(state.max_salt[pair] ?? 0, salt);
}

/**
 * @param {unknown} stored what `post` resolved to
 * @returns {StoredMessage}
 */
export function checkStored(stored) {
  const m = isObject(stored) && isObject(stored.message) ? stored.message : stored;
  if (!isObject(m) || !Number.isSafeInteger(m.id) || typeof m.created_at !== 'number') {
    throw new ProtocolError('bad_post_result', 'post must resolve to the stored message ({id, created_at, …})');
  }
  return /** @type {StoredMessage} */ (m);
}
