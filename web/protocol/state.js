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
 * An exchange of the chain (§9.2). `legacy` (or a missing field: entries stored before the nonce
 * existed) marks an exchange without a nonce: it identifies key sets of old history, never one to
 * send with. `pair` names its identity keys; `current_key`: the contact key it names was the
 * contact's newest (pinned) key when it arrived.
 * @typedef {{ id: number | null, type: 'ecdh' | 'change', from: string, old: string | null, key_set: string,
 *   salt: number, engaged: boolean, created_at: number, legacy?: boolean, pair?: string, current_key?: boolean }} ExchangeEntry
 */

/**
 * A contact key that appeared while another was known (X3, §9.6), kept until the user accepts it.
 * `verified`: the conversation was verified when it appeared (sending is blocked until accepted).
 * @typedef {{ old: string | null, new: string, id: number, verified: boolean }} KeyWarning
 */

/**
 * @typedef {{ v: 1, exchanges: ExchangeEntry[], max_salt: Record<string, number>, salt_max: number,
 *   peer_key: string | null, peer_key_id: number, peer_keys: string[] | null, verified_key: string | null,
 *   key_warning: KeyWarning | null, want_exchange: boolean }} ConversationState
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
  return {
    v: 1, exchanges: [], max_salt: {}, salt_max: 0, peer_key: null, peer_key_id: 0, peer_keys: [], verified_key: null,
    key_warning: null, want_exchange: false,
  };
}

/**
 * @param {unknown} r the parsed `conv:<peer>` item
 * @returns {ConversationState}
 */
export function parseState(r) {
  if (!isObject(r) || r.v !== 1 || !Array.isArray(r.exchanges)) return emptyState();
  const state = /** @type {ConversationState} */ ({ ...emptyState(), ...r });
  // Stored before issue 8: one salt counter per conversation now (§4.2), migrated from the
  // per-pair counters; `peer_keys: null` asks the conversation to collect the keys it knew.
  if (typeof r.salt_max !== 'number') state.salt_max = Math.max(0, ...Object.values(state.max_salt).filter(Number.isSafeInteger));
  if (!Array.isArray(r.peer_keys)) state.peer_keys = null;
  return state;
}

/** @param {ExchangeEntry} e @returns {boolean} an exchange without a nonce (§4.2) */
export const isLegacy = (e) => e.legacy !== false;

/**
 * Walk the exchanges in server order (§9.2); an own exchange not yet stored sorts last. Key sets
 * only move forward: an exchange is admitted only with a salt above the head's (ties: the lower
 * server id wins), a `change` only from the head, and a legacy exchange never replaces a head
 * that is not legacy.
 * @param {ConversationState} state
 * @returns {{ head: string | null, engaged: boolean, legacy: boolean, salt: number, superseded: Set<ExchangeEntry> }}
 */
export function walkChain(state) {
  const order = [...state.exchanges].sort((a, b) => (a.id ?? Infinity) - (b.id ?? Infinity));
  /** @type {ExchangeEntry | null} */
  let head = null;
  /** The pair of identity keys of the head; a `change` keeps the pair of the key set it replaces. @type {string | undefined} */
  let headPair;
  const superseded = new Set();
  for (const e of order) {
    const legacy = isLegacy(e);
    const headLegacy = head !== null && isLegacy(head);
    let admit;
    if (legacy && head !== null && !headLegacy) admit = false;
    else if (e.type === 'ecdh') {
      // A new pair of identity keys (E7: a browser that lost its storage starts at salt 1 again)
      // is admitted when it names the contact's newest key; otherwise only a higher salt.
      // (A `change` entry names no pair: it inherits its old key set's, else a stale exchange of
      // the same pair would pass as a "new pair" after a Refresh — adversary finding A1.)
      const newPair = e.pair !== undefined && e.pair !== headPair && e.current_key === true;
      admit = head === null || headLegacy || legacy || e.salt > head.salt || newPair;
    }
    else admit = head !== null && e.old === head.key_set && (legacy || e.salt > head.salt);
    if (admit) {
      headPair = e.type === 'change' && e.pair === undefined ? headPair : e.pair;
      head = e;
    } else superseded.add(e);
  }
  return {
    head: head?.key_set ?? null,
    engaged: head?.engaged ?? false,
    legacy: head !== null && isLegacy(head),
    salt: head?.salt ?? 0,
    superseded,
  };
}

/**
 * @param {ConversationState} state @param {ExchangeEntry} entry
 * @returns {boolean} the change did not move the chain (§8.3)
 */
export function isSuperseded(state, entry) {
  return [...walkChain(state).superseded].some((e) => e.id === entry.id && e.type === entry.type && e.key_set === entry.key_set);
}

/**
 * Raise the conversation's salt counter (§4.2); `max_salt` per pair is kept for older readers.
 * @param {ConversationState} state @param {string} pair @param {number} salt
 */
export function bumpSalt(state, pair, salt) {
  state.max_salt[pair] = Math.max(state.max_salt[pair] ?? 0, salt);
  state.salt_max = Math.max(state.salt_max, salt);
}

/**
 * @param {unknown} stored what `post` resolved to
 * @returns {StoredMessage}
 */
export function checkStored(stored) {
  const m = isObject(stored) && isObject(stored.message) ? stored.message : stored;
  if (!isObject(m) || !Number.isSafeInteger(m.id) || /** @type {number} */ (m.id) < 1 || !Number.isSafeInteger(m.created_at)) {
    throw new ProtocolError('bad_post_result', 'post must resolve to the stored message ({id, created_at, …})');
  }
  return /** @type {StoredMessage} */ (m);
}
