// @ts-check
/**
 * What the user sends: messages typed in a conversation (shown as pending until the server
 * stored them, one at a time per contact, with Retry and Discard when sending failed) and the
 * Refresh button (E6). Read receipts are sent by the state (state.js `maybeMarkRead`).
 */

import { ApiError } from '../api-client/http.js';
import { MAX_PLAINTEXT_BYTES } from '../limits.js';
import { ProtocolError } from '../protocol.js';

/** @typedef {import('../api-client/messaging.js').StoredMessage} StoredMessage */
/** @typedef {import('./peer.js').Peer} Peer */
/** @typedef {import('./peer.js').Pending} Pending */

let localSeq = 0;

/**
 * Words for a send that failed.
 * @param {unknown} error
 * @param {string} username
 * @returns {string}
 */
export function sendErrorText(error, username) {
  if (error instanceof ProtocolError) {
    if (error.code === 'no_peer_key') return `${username} has not set up encryption yet (they need to sign in to Parley once).`;
    if (error.code === 'too_long') return `This message is too long (at most about ${Math.round(MAX_PLAINTEXT_BYTES / 1024)} KB of text).`;
    if (error.code === 'key_change_unconfirmed') {
      return `Not sent: ${username}'s security key changed. Look at the safety number and accept the new key first.`;
    }
    return `Could not encrypt the message (${error.code}).`;
  }
  if (error instanceof ApiError) {
    if (error.code === 'network' || error.code === 'timeout') return 'Not sent: no connection to the server.';
    return `Not sent: ${error.message}`;
  }
  console.warn('Parley: sending failed', error);
  return 'Not sent: something went wrong.';
}

export class Outbox {
  /** @type {import('./state.js').ChatState} */
  #state;

  /** @param {import('./state.js').ChatState} state */
  constructor(state) {
    this.#state = state;
  }

  /**
   * Queue a message typed by the user; it shows as pending until the server stored it.
   * @param {string} id
   * @param {string} text
   */
  send(id, text) {
    const peer = this.#state.peer(id);
    if (!peer || peer.deleted) return;
    localSeq += 1;
    /** @type {Pending} */
    const item = { localId: localSeq, text, error: null };
    peer.pending.push(item);
    this.#state.emit(peer.id);
    this.#queueSend(peer, item);
  }

  /** @param {string} id @param {number} localId */
  retry(id, localId) {
    const peer = this.#state.peer(id);
    const item = peer?.pending.find((p) => p.localId === localId);
    if (!peer || !item || item.error === null) return;
    item.error = null;
    this.#state.emit(peer.id);
    this.#queueSend(peer, item);
  }

  /** @param {string} id @param {number} localId */
  discard(id, localId) {
    const peer = this.#state.peer(id);
    if (!peer) return;
    peer.pending = peer.pending.filter((p) => p.localId !== localId || p.error === null);
    this.#state.emit(peer.id);
  }

  /** @param {Peer} peer @param {Pending} item */
  #queueSend(peer, item) {
    const state = this.#state;
    peer.sendChain = peer.sendChain.then(async () => {
      /** @type {StoredMessage[]} */
      const stored = [];
      try {
        const conv = state.conv(peer);
        if (peer.hasKey !== true || !conv.peerKey()) await state.fetchKeys(peer, false);
        const events = await conv.send(item.text, state.poster(peer, stored));
        state.note(peer, stored);
        peer.apply(events);
        peer.pending = peer.pending.filter((p) => p !== item);
      } catch (error) {
        state.note(peer, stored);
        item.error = sendErrorText(error, peer.username);
        if (error instanceof ApiError && error.code === 'account_deleted') peer.deleted = true;
      }
      state.emit(peer.id);
    });
  }

  /**
   * The Refresh button (E6). Throws what the user should see.
   * @param {string} id
   */
  async refresh(id) {
    const state = this.#state;
    const peer = state.peer(id);
    if (!peer) return;
    const conv = state.conv(peer);
    if (!conv.peerKey()) await state.fetchKeys(peer, false);
    /** @type {StoredMessage[]} */
    const stored = [];
    try {
      peer.apply(await conv.refresh(state.poster(peer, stored)));
    } finally {
      state.note(peer, stored);
      state.emit(peer.id);
    }
  }
}
