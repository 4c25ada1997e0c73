// @ts-check
/**
 * Everything that comes from the server into the chat state: the frames of the WebSocket and
 * the pages of history (docs/protocol.md §13.1, docs/api.md "WebSocket").
 *
 * Rules it keeps:
 * - every message the server pushes (the backlog, live pushes, the user's own messages from
 *   other tabs, reconnect catch-up) goes through `#ingest`, one at a time in arrival order;
 * - a message addressed to us is acknowledged only after it was processed;
 * - events are kept by server id (the same message seen twice renders once);
 * - after a reconnect and on `resync`, every opened conversation fetches `after=<last id>`;
 * - fetches caused by pushes, reconnects and read receipts are background requests.
 */

import { ApiError } from '../api-client/http.js';
import * as api from '../api-client/messaging.js';
import { identityReplaced } from './identity.js';

/** @typedef {import('../protocol.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('../api-client/messaging.js').StoredMessage} StoredMessage */
/** @typedef {import('../api-client/frames.js').ServerFrame} ServerFrame */
/** @typedef {import('./peer.js').Peer} Peer */

export class Inbox {
  /** @type {import('./state.js').ChatState} */
  #state;
  /** @type {(frame: import('../api-client/frames.js').ClientFrame) => void} */
  #send;
  /** @type {Promise<void>} incoming messages, one at a time */
  #queue = Promise.resolve();
  #connections = 0;

  /**
   * @param {import('./state.js').ChatState} state
   * @param {(frame: import('../api-client/frames.js').ClientFrame) => void} send to the socket, if open
   */
  constructor(state, send) {
    this.#state = state;
    this.#send = send;
  }

  // ---------------------------------------------------------------- pages of history

  /**
   * Loads the latest page and the contact's keys.
   * @param {string} id
   * @returns {Promise<void>}
   */
  open(id) {
    const state = this.#state;
    const peer = state.peer(id);
    if (!peer) return Promise.resolve();
    peer.opening ??= (async () => {
      peer.loadError = null;
      try {
        const conv = state.conv(peer);
        const [keys, page] = await Promise.all([api.userKeys(peer.id), api.history(peer.id, { limit: api.PAGE })]);
        peer.apply(await conv.loadHistory(page));
        state.note(peer, page);
        peer.oldestId = page.length ? /** @type {StoredMessage} */ (page[0]).id : null;
        peer.hasOlder = page.length === api.PAGE;
        peer.historyLoaded = true;
        await state.takeKeys(peer, keys);
      } catch (error) {
        peer.loadError = error instanceof ApiError ? error.message : 'The conversation could not be loaded.';
        if (!(error instanceof ApiError)) console.warn('Parley: loading a conversation failed', error);
      } finally {
        peer.opening = null;
      }
      state.emit(peer.id);
      state.maybeMarkRead(peer.id);
    })();
    return peer.opening;
  }

  /**
   * "Load older messages" (`before=`); the timeline's "not shown yet" marker asks for bigger
   * pages (`api.PAGE_MAX`).
   * @param {string} id
   * @param {number} [limit]
   */
  async loadOlder(id, limit = api.PAGE) {
    const state = this.#state;
    const peer = state.peer(id);
    if (!peer || !peer.hasOlder || peer.loadingOlder || peer.oldestId === null) return;
    peer.loadingOlder = true;
    state.emit(peer.id);
    try {
      const page = await api.history(peer.id, { before: peer.oldestId, limit });
      peer.apply(await state.conv(peer).loadHistory(page));
      state.note(peer, page);
      if (page.length) peer.oldestId = /** @type {StoredMessage} */ (page[0]).id;
      peer.hasOlder = page.length === limit;
    } catch (error) {
      peer.loadError = error instanceof ApiError ? error.message : 'Older messages could not be loaded.';
    } finally {
      peer.loadingOlder = false;
      state.emit(peer.id);
    }
  }

  // ---------------------------------------------------------------- frames

  /** @param {() => Promise<void>} fn */
  #enqueue(fn) {
    this.#queue = this.#queue.then(async () => {
      if (this.#state.disposed) return;
      try {
        await fn();
      } catch (error) {
        console.warn('Parley: processing an incoming event failed', error);
      }
    });
  }

  /** @param {ServerFrame} frame checked by web/api-client/frames.js */
  onFrame(frame) {
    const state = this.#state;
    switch (frame.type) {
      case 'message': {
        const m = frame.message;
        this.#enqueue(() => this.#ingest(m));
        break;
      }
      case 'backlog_done':
        this.#connections += 1;
        if (this.#connections > 1) this.#enqueue(() => this.#catchUpAll());
        break;
      case 'resync':
        this.#enqueue(() => this.#catchUpAll());
        break;
      case 'delivered':
        state.delivered(frame.id, frame.at);
        break;
      case 'read':
        this.#onRead(frame.reader, frame.up_to);
        break;
      case 'account_deleted': {
        const gone = state.peer(frame.user_id);
        if (gone) {
          gone.deleted = true;
          state.emit(gone.id);
        }
        break;
      }
      case 'key': {
        const user = frame.user_id;
        this.#enqueue(() => this.#onKey(user));
        break;
      }
      default:
        break;
    }
  }

  /**
   * A message that arrived live: receive → render → ack (→ exchange when the contact wrote
   * with keys this browser does not have).
   * @param {StoredMessage} m
   */
  async #ingest(m) {
    const state = this.#state;
    const me = state.me.id;
    if (m.sender_id !== me && m.recipient_id !== me) return;
    const peer = state.peerFor(m.sender_id === me ? m.recipient_id : m.sender_id);
    const conv = state.conv(peer);
    const isNew = m.id > peer.knownLastId;
    /** @type {ProtocolEvent[]} */
    let events;
    try {
      events = await conv.receive(m);
    } catch (error) {
      console.warn('Parley: a message could not be processed', error);
      events = [{ kind: 'undecryptable', reason: 'malformed', id: m.id, mine: m.sender_id === me, created_at: m.created_at, type: 'unknown' }];
    }
    state.note(peer, [m]);
    peer.apply(events);
    if (m.recipient_id === me) this.#send({ type: 'ack', id: m.id });
    if (isNew && m.sender_id !== me && m.kind === 'msg' && !state.isVisible(peer)) peer.unread += 1;
    state.emit(peer.id);
    if (m.sender_id !== me && conv.exchangeReason() === 'requested') {
      // The contact wrote with keys this browser does not have (E5/E7): answer with a fresh
      // exchange now, so that the contact's next message is readable here.
      /** @type {StoredMessage[]} */
      const stored = [];
      try {
        await state.fetchKeys(peer, true);
        peer.apply(await conv.exchange(state.poster(peer, stored)));
      } catch (error) {
        console.warn('Parley: could not start a key exchange', error);
      }
      state.note(peer, stored);
      state.emit(peer.id);
    }
    state.maybeMarkRead(peer.id);
  }

  async #catchUpAll() {
    const state = this.#state;
    void api.conversations(true).then((rows) => state.mergeList(rows)).catch(() => {});
    for (const peer of state.peersById.values()) {
      if (!peer.historyLoaded) continue;
      try {
        await state.fetchKeys(peer, true);
        for (;;) {
          const page = await api.history(peer.id, { after: peer.lastId, limit: api.PAGE_MAX }, true);
          for (const m of page) await this.#ingest(m);
          if (page.length < api.PAGE_MAX) break;
        }
      } catch (error) {
        if (!(error instanceof ApiError)) console.warn('Parley: catching up failed', error);
      }
    }
  }

  /** @param {string} reader @param {number} upTo */
  #onRead(reader, upTo) {
    const state = this.#state;
    if (reader !== state.me.id) {
      const peer = state.peer(reader);
      if (peer && upTo > peer.peerReadUpTo) {
        peer.peerReadUpTo = upTo;
        state.emit(peer.id);
      }
      return;
    }
    // Read in another tab of ours; the frame does not say which conversation.
    for (const peer of state.peersById.values()) {
      if (peer.events.has(upTo)) {
        peer.unread = 0;
        peer.readSent = Math.max(peer.readSent, upTo);
        state.emit(peer.id);
        return;
      }
    }
    state.refreshListSoon();
  }

  /** @param {string} userId */
  async #onKey(userId) {
    const state = this.#state;
    if (userId === state.me.id) {
      if (await identityReplaced(userId, state.identity)) {
        state.identityStale = true;
        state.emit(null);
      }
      return;
    }
    const peer = state.peer(userId);
    if (peer && (peer.conv || peer.historyLoaded)) {
      await state.fetchKeys(peer, true);
      state.emit(peer.id);
    }
  }
}
