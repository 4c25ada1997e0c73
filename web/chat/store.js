// @ts-check
/**
 * The chat's state in this tab: the contacts, each contact's protocol `Conversation`
 * (web/protocol.js, docs/protocol.md §13.1) and the events it produced, delivery and read
 * receipts, and the WebSocket that feeds it all. No DOM: views subscribe and render.
 *
 * Rules it keeps (docs/protocol.md §13.1, docs/api.md "WebSocket"):
 * - every message the server pushes (the backlog, live pushes, the user's own messages from
 *   other tabs, reconnect catch-up) goes through `receive`, one at a time in arrival order;
 * - a message addressed to us is acknowledged only after it was processed;
 * - events are kept by server id (the same message seen twice renders once);
 * - after a reconnect and on `resync`, every opened conversation fetches `after=<last id>`;
 * - fetches caused by pushes, reconnects and read receipts are background requests.
 */

import { ApiError } from '../api.js';
import { MAX_PLAINTEXT_BYTES } from '../limits.js';
import { Conversation, ProtocolError, loadIdentity, loadOrCreateIdentity } from '../protocol.js';
import * as api from './api.js';
import { Peer } from './peer.js';
import { connectSocket } from './socket.js';

/** @typedef {import('../protocol.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('../protocol.js').Identity} Identity */
/** @typedef {import('./api.js').StoredMessage} StoredMessage */
/** @typedef {import('./socket.js').SocketState} SocketState */
/** @typedef {import('./peer.js').Pending} Pending */

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

let localSeq = 0;

/**
 * @param {unknown} m
 * @returns {m is StoredMessage}
 */
function isStored(m) {
  if (typeof m !== 'object' || m === null) return false;
  const r = /** @type {Record<string, unknown>} */ (m);
  return Number.isSafeInteger(r.id) && typeof r.sender_id === 'string' && typeof r.recipient_id === 'string' && typeof r.created_at === 'number';
}

/**
 * Order of the list: contacts just started (no messages yet) first, then newest message first.
 * @param {Peer} p
 */
const rank = (p) => (p.knownLastId > 0 ? p.knownLastId : 1e15 + p.startedAt);

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

export class ChatStore {
  /** @type {StoreOptions} */
  #opts;
  /** @type {Map<string, Peer>} */
  #peers = new Map();
  /** @type {Set<(change: Change) => void>} */
  #listeners = new Set();
  /** @type {Promise<void>} incoming messages, one at a time */
  #inbox = Promise.resolve();
  /** @type {import('./socket.js').ChatSocket | null} */
  #socket = null;
  /** @type {Identity | null} */
  #identity = null;
  /** Delivered receipts that arrived before the message they are about. @type {Map<number, number>} */
  #earlyDelivered = new Map();
  #connections = 0;
  #disposed = false;
  /** @type {Set<string | null>} */
  #dirty = new Set();
  #flushQueued = false;

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
    this.#opts = opts;
  }

  get me() {
    return this.#opts.me;
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

  /**
   * Coalesces changes within one task, then tells the views.
   * @param {string | null} peer
   */
  #emit(peer) {
    this.#dirty.add(peer);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      if (this.#disposed) return;
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

  // ---------------------------------------------------------------- start and stop

  /** Identity (E4, E7), the contact list, the socket (X1). */
  async start() {
    try {
      await this.#initIdentity();
      // Loading the page is not a user action (4.2.3-idle-30m): background requests only.
      await this.#mergeList(await api.conversations(true));
    } catch (error) {
      if (this.#disposed) return;
      this.startError = error instanceof ApiError ? error.message : 'The chat could not start.';
      if (!(error instanceof ApiError)) console.warn('Parley: chat start failed', error);
      this.#emit(null);
      return;
    }
    if (this.#disposed) return;
    this.ready = true;
    this.#emit(null);
    this.#socket = connectSocket({
      onFrame: (frame) => this.#onFrame(frame),
      onState: (state, retryInMs) => {
        this.connection = { state, retryInMs };
        this.#emit(null);
      },
      onSessionEnded: () => this.#opts.onSessionEnded(),
      beforeReconnect: () => this.#opts.sessionAlive(),
    });
  }

  dispose() {
    this.#disposed = true;
    this.#socket?.stop();
    this.#listeners.clear();
  }

  async #initIdentity() {
    const { me, log, now } = this.#opts;
    const load = () => loadOrCreateIdentity(localStorage, me.id, { log, now });
    // One identity per browser: two tabs starting at once must not both create one.
    const { identity, created } = navigator.locks
      ? await navigator.locks.request(`parley-identity-${me.id}`, load)
      : await load();
    this.#identity = identity;
    const mine = await api.userKeys(me.id, true);
    if (created || mine.current?.public_key !== identity.publicKey) {
      await api.publishKey(identity.publicKey);
    }
    this.storageCleared = created && mine.history.some((k) => k.public_key !== identity.publicKey);
  }

  // ---------------------------------------------------------------- contacts

  /** @returns {Peer[]} newest first; contacts without messages (just started) on top */
  peers() {
    return [...this.#peers.values()]
      .filter((p) => p.username !== '')
      .sort((a, b) => rank(b) - rank(a));
  }

  /** @param {string} id @returns {Peer | undefined} */
  peer(id) {
    return this.#peers.get(id);
  }

  /**
   * @param {string} id
   * @param {string} [username]
   * @returns {Peer}
   */
  #peerFor(id, username) {
    let peer = this.#peers.get(id);
    if (!peer) {
      peer = new Peer(id, username ?? '');
      this.#peers.set(id, peer);
      if (!username) this.#refreshListSoon();
    } else if (username) {
      peer.username = username;
    }
    return peer;
  }

  /** @param {import('./api.js').ConversationRow[]} rows */
  async #mergeList(rows) {
    for (const row of rows) {
      const peer = this.#peerFor(row.peer_id, row.peer_username);
      if (row.peer_deleted) peer.deleted = true;
      peer.lastActivity = Math.max(peer.lastActivity, row.last_activity);
      if (!this.#isVisible(peer)) peer.unread = row.unread;
      peer.knownLastId = Math.max(peer.knownLastId, row.last_id);
    }
    this.#emit(null);
  }

  /** @type {ReturnType<typeof setTimeout> | null} */
  #listTimer = null;

  #refreshListSoon() {
    if (this.#listTimer !== null || this.#disposed) return;
    this.#listTimer = setTimeout(() => {
      this.#listTimer = null;
      if (this.#disposed) return;
      api.conversations(true).then((rows) => this.#mergeList(rows)).catch((e) => console.warn('Parley: could not refresh the conversation list', e));
    }, 200);
  }

  /**
   * "Start a chat": exact username. Resolves to an error text, or null when the chat is open.
   * @param {string} username
   * @returns {Promise<string | null>}
   */
  async startChat(username) {
    const name = username.trim();
    if (!name) return 'Type the exact username of the person you want to chat with.';
    /** @type {import('./api.js').FoundUser} */
    let user;
    try {
      user = await api.findUser(name);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') return `No user is called “${name}”. Check the spelling: usernames must match exactly.`;
      if (error instanceof ApiError) return error.message;
      throw error;
    }
    if (user.id === this.#opts.me.id) return 'That is you. Type the username of someone else.';
    const peer = this.#peerFor(user.id, user.username);
    if (peer.knownLastId === 0 && peer.startedAt === 0) peer.startedAt = Date.now();
    peer.hasKey = user.keys.current !== null;
    this.select(user.id);
    return null;
  }

  // ---------------------------------------------------------------- the open conversation

  /** @param {string | null} id */
  select(id) {
    this.selected = id;
    this.#emit(null);
    const peer = id ? this.#peers.get(id) : undefined;
    if (peer && !peer.historyLoaded) void this.open(peer.id);
    if (peer) this.maybeMarkRead(peer.id);
  }

  /** @param {Peer} peer */
  #isVisible(peer) {
    return this.selected === peer.id && this.paneVisible && document.visibilityState === 'visible';
  }

  /**
   * @param {Peer} peer
   * @returns {Conversation}
   */
  #conv(peer) {
    if (!peer.conv) {
      const identity = /** @type {Identity} */ (this.#identity);
      peer.conv = new Conversation({
        me: this.#opts.me.id,
        peer: peer.id,
        identity,
        storage: localStorage,
        log: this.#opts.log,
        now: this.#opts.now,
        // E3 after a restored localStorage: resume above every IV the server holds (issue 8).
        lastIv: (keySet) => api.lastIv(keySet),
      });
    }
    return peer.conv;
  }

  /**
   * Loads the latest page and the contact's keys.
   * @param {string} id
   * @returns {Promise<void>}
   */
  open(id) {
    const peer = this.#peers.get(id);
    if (!peer) return Promise.resolve();
    peer.opening ??= (async () => {
      peer.loadError = null;
      try {
        const conv = this.#conv(peer);
        const [keys, page] = await Promise.all([api.userKeys(peer.id), api.history(peer.id, { limit: api.PAGE })]);
        peer.apply(await conv.loadHistory(page));
        for (const m of page) peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
        peer.oldestId = page.length ? /** @type {StoredMessage} */ (page[0]).id : null;
        peer.hasOlder = page.length === api.PAGE;
        peer.historyLoaded = true;
        await this.#takeKeys(peer, keys);
      } catch (error) {
        peer.loadError = error instanceof ApiError ? error.message : 'The conversation could not be loaded.';
        if (!(error instanceof ApiError)) console.warn('Parley: loading a conversation failed', error);
      } finally {
        peer.opening = null;
      }
      this.#emit(peer.id);
      this.maybeMarkRead(peer.id);
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
    const peer = this.#peers.get(id);
    if (!peer || !peer.hasOlder || peer.loadingOlder || peer.oldestId === null) return;
    peer.loadingOlder = true;
    this.#emit(peer.id);
    try {
      const page = await api.history(peer.id, { before: peer.oldestId, limit });
      peer.apply(await this.#conv(peer).loadHistory(page));
      for (const m of page) peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
      if (page.length) peer.oldestId = /** @type {StoredMessage} */ (page[0]).id;
      peer.hasOlder = page.length === limit;
    } catch (error) {
      peer.loadError = error instanceof ApiError ? error.message : 'Older messages could not be loaded.';
    } finally {
      peer.loadingOlder = false;
      this.#emit(peer.id);
    }
  }

  /**
   * The contact's published keys → `setPeerKeys` (X3: a changed key is announced).
   * @param {Peer} peer
   * @param {import('./api.js').Keys} keys
   */
  async #takeKeys(peer, keys) {
    peer.hasKey = keys.current !== null;
    peer.apply(await this.#conv(peer).setPeerKeys(keys));
  }

  /** @param {Peer} peer @param {boolean} background */
  async #fetchKeys(peer, background) {
    await this.#takeKeys(peer, await api.userKeys(peer.id, background));
  }

  /**
   * A `post` for the protocol that remembers what the server stored.
   * @param {Peer} peer
   * @param {StoredMessage[]} stored
   * @returns {import('../protocol.js').PostFn}
   */
  #poster(peer, stored) {
    return async (payload) => {
      const answer = await api.sendPayload(peer.id, payload);
      stored.push(answer.message);
      return answer.message;
    };
  }

  /**
   * Queue a message typed by the user; it shows as pending until the server stored it.
   * @param {string} id
   * @param {string} text
   */
  send(id, text) {
    const peer = this.#peers.get(id);
    if (!peer || peer.deleted) return;
    localSeq += 1;
    /** @type {Pending} */
    const item = { localId: localSeq, text, error: null };
    peer.pending.push(item);
    this.#emit(peer.id);
    this.#queueSend(peer, item);
  }

  /** @param {string} id @param {number} localId */
  retry(id, localId) {
    const peer = this.#peers.get(id);
    const item = peer?.pending.find((p) => p.localId === localId);
    if (!peer || !item || item.error === null) return;
    item.error = null;
    this.#emit(peer.id);
    this.#queueSend(peer, item);
  }

  /** @param {string} id @param {number} localId */
  discard(id, localId) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    peer.pending = peer.pending.filter((p) => p.localId !== localId || p.error === null);
    this.#emit(peer.id);
  }

  /** @param {Peer} peer @param {Pending} item */
  #queueSend(peer, item) {
    peer.sendChain = peer.sendChain.then(async () => {
      /** @type {StoredMessage[]} */
      const stored = [];
      try {
        const conv = this.#conv(peer);
        if (peer.hasKey !== true || !conv.peerKey()) await this.#fetchKeys(peer, false);
        const events = await conv.send(item.text, this.#poster(peer, stored));
        for (const m of stored) peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
        peer.apply(events);
        peer.pending = peer.pending.filter((p) => p !== item);
      } catch (error) {
        for (const m of stored) peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
        item.error = sendErrorText(error, peer.username);
        if (error instanceof ApiError && error.code === 'account_deleted') peer.deleted = true;
      }
      this.#emit(peer.id);
    });
  }

  /**
   * The Refresh button (E6). Throws what the user should see.
   * @param {string} id
   */
  async refresh(id) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    const conv = this.#conv(peer);
    if (!conv.peerKey()) await this.#fetchKeys(peer, false);
    /** @type {StoredMessage[]} */
    const stored = [];
    try {
      peer.apply(await conv.refresh(this.#poster(peer, stored)));
    } finally {
      for (const m of stored) peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
      this.#emit(peer.id);
    }
  }

  /** @param {string} id @returns {Promise<string | null>} */
  async safetyNumber(id) {
    const peer = this.#peers.get(id);
    return peer ? this.#conv(peer).safetyNumber() : null;
  }

  /** @param {string} id @returns {boolean} */
  isVerified(id) {
    const peer = this.#peers.get(id);
    return peer?.conv ? peer.conv.isVerified() : false;
  }

  /** @param {string} id */
  markVerified(id) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#conv(peer).markVerified();
    this.#emit(null);
  }

  /**
   * The contact's security key changed and the user has not accepted it yet (X3, issue 14 item 2):
   * kept in localStorage, so it stays across reloads, in the conversation and in the list.
   * @param {string} id
   * @returns {import('../protocol.js').KeyWarning | null}
   */
  keyWarning(id) {
    const peer = this.#peers.get(id);
    if (peer?.conv) return peer.conv.keyWarning();
    return Conversation.keyWarningOf(localStorage, this.#opts.me.id, id);
  }

  /**
   * Sending to this contact is held back until the new key is accepted (a verified contact).
   * @param {string} id
   */
  sendBlocked(id) {
    return this.keyWarning(id)?.verified === true;
  }

  /**
   * The user looked at the safety number and accepts the contact's new key.
   * @param {string} id
   */
  acceptKey(id) {
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#conv(peer).acceptPeerKey();
    for (const item of peer.pending) {
      if (item.error !== null) item.error = item.error.includes('security key changed') ? 'Not sent yet: press Retry to send it with the new key.' : item.error;
    }
    this.#emit(null);
  }

  /**
   * Sends a read receipt when the conversation is on screen and has unread messages.
   * @param {string} id
   */
  maybeMarkRead(id) {
    const peer = this.#peers.get(id);
    if (!peer || !peer.historyLoaded || !this.#isVisible(peer)) return;
    let newest = 0;
    for (const ev of peer.events.values()) {
      if (!ev.mine && ev.id > newest) newest = ev.id;
    }
    if (peer.unread) {
      peer.unread = 0;
      this.#emit(peer.id);
    }
    if (newest <= peer.readSent) return;
    peer.readSent = newest;
    api.markRead(peer.id, newest).catch((e) => {
      peer.readSent = 0;
      if (!(e instanceof ApiError && (e.code === 'network' || e.code === 'timeout'))) console.warn('Parley: read receipt failed', e);
    });
  }

  // ---------------------------------------------------------------- incoming

  /** @param {() => Promise<void>} fn */
  #enqueue(fn) {
    this.#inbox = this.#inbox.then(async () => {
      if (this.#disposed) return;
      try {
        await fn();
      } catch (error) {
        console.warn('Parley: processing an incoming event failed', error);
      }
    });
  }

  /** @param {Record<string, unknown>} frame */
  #onFrame(frame) {
    switch (frame.type) {
      case 'message':
        if (isStored(frame.message)) {
          const m = frame.message;
          this.#enqueue(() => this.#ingest(m));
        }
        break;
      case 'backlog_done':
        this.#connections += 1;
        if (this.#connections > 1) this.#enqueue(() => this.#catchUpAll());
        break;
      case 'resync':
        this.#enqueue(() => this.#catchUpAll());
        break;
      case 'delivered':
        if (typeof frame.id === 'number' && typeof frame.at === 'number') this.#onDelivered(frame.id, frame.at);
        break;
      case 'read':
        if (typeof frame.reader === 'string' && typeof frame.up_to === 'number') this.#onRead(frame.reader, frame.up_to);
        break;
      case 'account_deleted': {
        const gone = typeof frame.user_id === 'string' ? this.#peers.get(frame.user_id) : undefined;
        if (gone) {
          gone.deleted = true;
          this.#emit(gone.id);
        }
        break;
      }
      case 'key':
        if (typeof frame.user_id === 'string') {
          const user = frame.user_id;
          this.#enqueue(() => this.#onKey(user));
        }
        break;
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
    const me = this.#opts.me.id;
    if (m.sender_id !== me && m.recipient_id !== me) return;
    const peer = this.#peerFor(m.sender_id === me ? m.recipient_id : m.sender_id);
    const conv = this.#conv(peer);
    const isNew = m.id > peer.knownLastId;
    /** @type {ProtocolEvent[]} */
    let events;
    try {
      events = await conv.receive(m);
    } catch (error) {
      console.warn('Parley: a message could not be processed', error);
      events = [{ kind: 'undecryptable', reason: 'malformed', id: m.id, mine: m.sender_id === me, created_at: m.created_at, type: 'unknown' }];
    }
    peer.noteStored(m, this.#opts.me.id, this.#earlyDelivered);
    peer.apply(events);
    if (m.recipient_id === me) this.#socket?.send({ type: 'ack', id: m.id });
    if (isNew && m.sender_id !== me && m.kind === 'msg' && !this.#isVisible(peer)) peer.unread += 1;
    this.#emit(peer.id);
    if (m.sender_id !== me && conv.exchangeReason() === 'requested') {
      // The contact wrote with keys this browser does not have (E5/E7): answer with a fresh
      // exchange now, so that the contact's next message is readable here.
      /** @type {StoredMessage[]} */
      const stored = [];
      try {
        await this.#fetchKeys(peer, true);
        peer.apply(await conv.exchange(this.#poster(peer, stored)));
      } catch (error) {
        console.warn('Parley: could not start a key exchange', error);
      }
      for (const s of stored) peer.noteStored(s, this.#opts.me.id, this.#earlyDelivered);
      this.#emit(peer.id);
    }
    this.maybeMarkRead(peer.id);
  }

  async #catchUpAll() {
    void api.conversations(true).then((rows) => this.#mergeList(rows)).catch(() => {});
    for (const peer of this.#peers.values()) {
      if (!peer.historyLoaded) continue;
      try {
        await this.#fetchKeys(peer, true);
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

  /** @param {number} id @param {number} at */
  #onDelivered(id, at) {
    for (const peer of this.#peers.values()) {
      const r = peer.receipts.get(id);
      if (r) {
        r.delivered ??= at;
        this.#emit(peer.id);
        return;
      }
    }
    this.#earlyDelivered.set(id, at);
    if (this.#earlyDelivered.size > 500) {
      const first = this.#earlyDelivered.keys().next().value;
      if (first !== undefined) this.#earlyDelivered.delete(first);
    }
  }

  /** @param {string} reader @param {number} upTo */
  #onRead(reader, upTo) {
    if (reader !== this.#opts.me.id) {
      const peer = this.#peers.get(reader);
      if (peer && upTo > peer.peerReadUpTo) {
        peer.peerReadUpTo = upTo;
        this.#emit(peer.id);
      }
      return;
    }
    // Read in another tab of ours; the frame does not say which conversation.
    for (const peer of this.#peers.values()) {
      if (peer.events.has(upTo)) {
        peer.unread = 0;
        peer.readSent = Math.max(peer.readSent, upTo);
        this.#emit(peer.id);
        return;
      }
    }
    this.#refreshListSoon();
  }

  /** @param {string} userId */
  async #onKey(userId) {
    if (userId === this.#opts.me.id) {
      const stored = await loadIdentity(localStorage, userId);
      if (!stored || stored.publicKey !== this.#identity?.publicKey) {
        this.identityStale = true;
        this.#emit(null);
      }
      return;
    }
    const peer = this.#peers.get(userId);
    if (peer && (peer.conv || peer.historyLoaded)) {
      await this.#fetchKeys(peer, true);
      this.#emit(peer.id);
    }
  }

  // ---------------------------------------------------------------- bookkeeping
}
