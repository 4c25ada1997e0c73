// @ts-check
/**
 * The chat page's store: what the views read and call (no DOM: views subscribe and render).
 * It puts together the chat's parts, each in its own module:
 * - state.js: the contacts, their protocol conversations, receipts, the subscription;
 * - identity.js: this browser's identity key, loaded or made and published (E4, E7);
 * - inbox.js: frames from the WebSocket and pages of history, into the state;
 * - outbox.js: messages the user sends, Retry, Discard and Refresh;
 * - socket.js: the WebSocket (X1).
 */

import { ApiError } from '../api-client/http.js';
import * as api from '../api-client/messaging.js';
import { Conversation } from '../protocol.js';
import { setUpIdentity } from './identity.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';
import { connectSocket } from './socket.js';
import { ChatState } from './state.js';

export { sendErrorText } from './outbox.js';

/** @typedef {import('./state.js').Change} Change */
/** @typedef {import('./state.js').StoreOptions} StoreOptions */

export class ChatStore extends ChatState {
  /** @type {import('./socket.js').ChatSocket | null} */
  #socket = null;
  #inbox = new Inbox(this, (frame) => void this.#socket?.send(frame));
  #outbox = new Outbox(this);

  // ---------------------------------------------------------------- start and stop

  /** Identity (E4, E7), the contact list, the socket (X1). */
  async start() {
    try {
      const { identity, storageCleared } = await setUpIdentity(this.opts);
      this.identity = identity;
      this.storageCleared = storageCleared;
      // Loading the page is not a user action (4.2.3-idle-30m): background requests only.
      await this.mergeList(await api.conversations(true));
    } catch (error) {
      if (this.disposed) return;
      this.startError = error instanceof ApiError ? error.message : 'The chat could not start.';
      if (!(error instanceof ApiError)) console.warn('Parley: chat start failed', error);
      this.emit(null);
      return;
    }
    if (this.disposed) return;
    this.ready = true;
    this.emit(null);
    this.#socket = connectSocket({
      onFrame: (frame) => this.#inbox.onFrame(frame),
      onState: (state, retryInMs) => {
        this.connection = { state, retryInMs };
        this.emit(null);
      },
      onSessionEnded: () => this.opts.onSessionEnded(),
      beforeReconnect: () => this.opts.sessionAlive(),
    });
  }

  dispose() {
    this.disposed = true;
    this.#socket?.stop();
    this.unsubscribeAll();
  }

  // ---------------------------------------------------------------- contacts

  /**
   * "Start a chat": exact username. Resolves to an error text, or null when the chat is open.
   * @param {string} username
   * @returns {Promise<string | null>}
   */
  async startChat(username) {
    const name = username.trim();
    if (!name) return 'Type the exact username of the person you want to chat with.';
    /** @type {import('../api-client/messaging.js').FoundUser} */
    let user;
    try {
      user = await api.findUser(name);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') return `No user is called “${name}”. Check the spelling: usernames must match exactly.`;
      if (error instanceof ApiError) return error.message;
      throw error;
    }
    if (user.id === this.me.id) return 'That is you. Type the username of someone else.';
    const peer = this.peerFor(user.id, user.username);
    if (peer.knownLastId === 0 && peer.startedAt === 0) peer.startedAt = Date.now();
    peer.hasKey = user.keys.current !== null;
    this.select(user.id);
    return null;
  }

  /** @param {string | null} id the conversation to open, or none */
  select(id) {
    this.selected = id;
    this.emit(null);
    const peer = id ? this.peer(id) : undefined;
    if (peer && !peer.historyLoaded) void this.open(peer.id);
    if (peer) this.maybeMarkRead(peer.id);
  }

  /** @param {string} id @returns {Promise<void>} the latest page and the contact's keys */
  open(id) {
    return this.#inbox.open(id);
  }

  /** @param {string} id @param {number} [limit] "Load older messages" */
  loadOlder(id, limit) {
    return this.#inbox.loadOlder(id, limit);
  }

  // ---------------------------------------------------------------- sending

  /** @param {string} id @param {string} text */
  send(id, text) {
    this.#outbox.send(id, text);
  }

  /** @param {string} id @param {number} localId */
  retry(id, localId) {
    this.#outbox.retry(id, localId);
  }

  /** @param {string} id @param {number} localId */
  discard(id, localId) {
    this.#outbox.discard(id, localId);
  }

  /** @param {string} id The Refresh button (E6). Throws what the user should see. */
  refresh(id) {
    return this.#outbox.refresh(id);
  }

  // ---------------------------------------------------------------- keys and verification (X3)

  /** @param {string} id @returns {Promise<string | null>} */
  async safetyNumber(id) {
    const peer = this.peer(id);
    return peer ? this.conv(peer).safetyNumber() : null;
  }

  /** @param {string} id @returns {boolean} */
  isVerified(id) {
    const peer = this.peer(id);
    return peer?.conv ? peer.conv.isVerified() : false;
  }

  /** @param {string} id */
  markVerified(id) {
    const peer = this.peer(id);
    if (!peer) return;
    this.conv(peer).markVerified();
    this.emit(null);
  }

  /**
   * The contact's security key changed and the user has not accepted it yet (X3, issue 14 item 2):
   * kept in localStorage, so it stays across reloads, in the conversation and in the list.
   * @param {string} id
   * @returns {import('../protocol.js').KeyWarning | null}
   */
  keyWarning(id) {
    const peer = this.peer(id);
    if (peer?.conv) return peer.conv.keyWarning();
    return Conversation.keyWarningOf(localStorage, this.me.id, id);
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
    const peer = this.peer(id);
    if (!peer) return;
    this.conv(peer).acceptPeerKey();
    for (const item of peer.pending) {
      if (item.error !== null) item.error = item.error.includes('security key changed') ? 'Not sent yet: press Retry to send it with the new key.' : item.error;
    }
    this.emit(null);
  }
}
