// @ts-check
/**
 * The chat's state in this tab (no DOM, no socket): the contacts, each contact's protocol
 * `Conversation` (web/protocol.js, docs/protocol.md §13.1), delivery and read receipts, and the
 * subscription the views render from. The inbox (inbox.js), the outbox (outbox.js) and the
 * store (store.js, the views' facade) share one `ChatState`.
 *
 * Rules kept here:
 * - changes within one task reach the views once (`emit` coalesces);
 * - every message the server stored is noted on its contact through `note` (ids, activity,
 *   receipts, delivered receipts that came first);
 * - read receipts are sent only for a conversation on screen, and are background requests.
 */

import { ApiError } from '../api-client/http.js';
import * as api from '../api-client/messaging.js';
import { Conversation } from '../protocol.js';
import { Peer } from './peer.js';

/** @typedef {import('../protocol.js').Identity} Identity */
/** @typedef {import('../api-client/messaging.js').StoredMessage} StoredMessage */
/** @typedef {import('./socket.js').SocketState} SocketState */

/**
 * What changed, for the views: a contact (`peer`), or everything (`peer: null`).
 * @typedef {{ peer: string | null }} Change
 */

/**
 * @typedef {object} StoreOptions
 * @property {{ id: string, username: string }} me
 * @property {((line: string) => void) | null} log the E9 console logger, or null when the server turned it off
 * @property {() => number} now server time in Unix seconds (for the 60-second rule)
 * @property {() => void} onSessionEnded the socket was closed with 4001
 * @property {() => Promise<boolean>} sessionAlive re-checks the session before a reconnect
 */

/** Delivered receipts kept for messages not seen yet, at most. */
const EARLY_DELIVERED_MAX = 500;

/**
 * Order of the list: contacts just started (no messages yet) first, then newest message first.
 * @param {Peer} p
 */
const rank = (p) => (p.knownLastId > 0 ? p.knownLastId : 1e15 + p.startedAt);

export class ChatState {
  /** @type {StoreOptions} */
  opts;
  /** @type {Map<string, Peer>} */
  peersById = new Map();
  /** @type {Identity | null} set by `start` before anything else runs */
  identity = null;
  /** Delivered receipts that arrived before the message they are about. @type {Map<number, number>} */
  earlyDelivered = new Map();
  disposed = false;
  /** @type {Set<(change: Change) => void>} */
  #listeners = new Set();
  /** @type {Set<string | null>} */
  #dirty = new Set();
  #flushQueued = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #listTimer = null;

  /** @type {string | null} the open conversation */
  selected = null;
  /** The conversation pane is on screen (on phones the list may cover it). */
  paneVisible = true;
  /** @type {{ state: SocketState, retryInMs: number | undefined }} */
  connection = { state: 'connecting', retryInMs: undefined };
  /** A new identity was made although the server knows older keys: localStorage was cleared (E5). */
  storageCleared = false;
  /** Another tab replaced this browser's identity: this tab must reload. */
  identityStale = false;
  /** @type {string | null} set when starting failed */
  startError = null;
  ready = false;

  /** @param {StoreOptions} opts */
  constructor(opts) {
    this.opts = opts;
  }

  get me() {
    return this.opts.me;
  }

  // ---------------------------------------------------------------- subscription

  /**
   * @param {(change: Change) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** No more changes reach the views. */
  unsubscribeAll() {
    this.#listeners.clear();
  }

  /**
   * Coalesces changes within one task, then tells the views.
   * @param {string | null} peer
   */
  emit(peer) {
    this.#dirty.add(peer);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      if (this.disposed) return;
      const all = dirty.includes(null);
      for (const fn of this.#listeners) {
        if (all) {
          fn({ peer: null });
        } else {
          for (const peer of dirty) fn({ peer });
        }
      }
    });
  }

  // ---------------------------------------------------------------- contacts

  /** @returns {Peer[]} newest first; contacts without messages (just started) on top */
  peers() {
    return [...this.peersById.values()]
      .filter((p) => p.username !== '')
      .sort((a, b) => rank(b) - rank(a));
  }

  /** @param {string} id @returns {Peer | undefined} */
  peer(id) {
    return this.peersById.get(id);
  }

  /**
   * The contact, made on first sight (its name comes with the next list refresh).
   * @param {string} id
   * @param {string} [username]
   * @returns {Peer}
   */
  peerFor(id, username) {
    let peer = this.peersById.get(id);
    if (!peer) {
      peer = new Peer(id, username ?? '');
      this.peersById.set(id, peer);
      if (!username) this.refreshListSoon();
    } else if (username) {
      peer.username = username;
    }
    return peer;
  }

  /** @param {import('../api-client/messaging.js').ConversationRow[]} rows */
  async mergeList(rows) {
    for (const row of rows) {
      const peer = this.peerFor(row.peer_id, row.peer_username);
      if (row.peer_deleted) peer.deleted = true;
      peer.lastActivity = Math.max(peer.lastActivity, row.last_activity);
      if (!this.isVisible(peer)) peer.unread = row.unread;
      peer.knownLastId = Math.max(peer.knownLastId, row.last_id);
    }
    this.emit(null);
  }

  refreshListSoon() {
    if (this.#listTimer !== null || this.disposed) return;
    this.#listTimer = setTimeout(() => {
      this.#listTimer = null;
      if (this.disposed) return;
      api.conversations(true).then((rows) => this.mergeList(rows)).catch((e) => console.warn('Parley: could not refresh the conversation list', e));
    }, 200);
  }

  /** @param {Peer} peer */
  isVisible(peer) {
    return this.selected === peer.id && this.paneVisible && document.visibilityState === 'visible';
  }

  // ---------------------------------------------------------------- one contact's conversation

  /**
   * The contact's protocol conversation, made on first use.
   * @param {Peer} peer
   * @returns {Conversation}
   */
  conv(peer) {
    if (!peer.conv) {
      const identity = /** @type {Identity} */ (this.identity);
      peer.conv = new Conversation({
        me: this.opts.me.id,
        peer: peer.id,
        identity,
        storage: localStorage,
        log: this.opts.log,
        now: this.opts.now,
        // E3 after a restored localStorage: resume above every IV the server holds (issue 8).
        lastIv: (keySet) => api.lastIv(keySet),
      });
    }
    return peer.conv;
  }

  /**
   * Notes messages the server stored on their contact: ids, activity, receipts.
   * @param {Peer} peer
   * @param {Iterable<StoredMessage>} messages
   */
  note(peer, messages) {
    for (const m of messages) peer.noteStored(m, this.opts.me.id, this.earlyDelivered);
  }

  /**
   * A delivered receipt: on the message's receipt, or kept until the message is seen.
   * @param {number} id
   * @param {number} at
   */
  delivered(id, at) {
    for (const peer of this.peersById.values()) {
      const r = peer.receipts.get(id);
      if (r) {
        r.delivered ??= at;
        this.emit(peer.id);
        return;
      }
    }
    this.earlyDelivered.set(id, at);
    if (this.earlyDelivered.size > EARLY_DELIVERED_MAX) {
      const first = this.earlyDelivered.keys().next().value;
      if (first !== undefined) this.earlyDelivered.delete(first);
    }
  }

  /**
   * The contact's published keys → `setPeerKeys` (X3: a changed key is announced).
   * @param {Peer} peer
   * @param {import('../api-client/messaging.js').Keys} keys
   */
  async takeKeys(peer, keys) {
    // The server always sends `current` (null without a key); the contract marks it optional.
    const current = keys.current ?? null;
    peer.hasKey = current !== null;
    peer.apply(await this.conv(peer).setPeerKeys({ ...keys, current }));
  }

  /** @param {Peer} peer @param {boolean} background */
  async fetchKeys(peer, background) {
    await this.takeKeys(peer, await api.userKeys(peer.id, background));
  }

  /**
   * A `post` for the protocol that remembers what the server stored.
   * @param {Peer} peer
   * @param {StoredMessage[]} stored
   * @returns {import('../protocol.js').PostFn}
   */
  poster(peer, stored) {
    return async (payload) => {
      const answer = await api.sendPayload(peer.id, payload);
      stored.push(answer.message);
      return answer.message;
    };
  }

  /**
   * Sends a read receipt when the conversation is on screen and has unread messages.
   * @param {string} id
   */
  maybeMarkRead(id) {
    const peer = this.peersById.get(id);
    if (!peer || !peer.historyLoaded || !this.isVisible(peer)) return;
    let newest = 0;
    for (const ev of peer.events.values()) {
      if (!ev.mine && ev.id > newest) newest = ev.id;
    }
    if (peer.unread) {
      peer.unread = 0;
      this.emit(peer.id);
    }
    if (newest <= peer.readSent) return;
    peer.readSent = newest;
    api.markRead(peer.id, newest).catch((e) => {
      peer.readSent = 0;
      if (!(e instanceof ApiError && (e.code === 'network' || e.code === 'timeout'))) console.warn('Parley: read receipt failed', e);
    });
  }
}
