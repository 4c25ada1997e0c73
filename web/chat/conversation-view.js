// @ts-check
/**
 * The right pane (the whole screen on phones once a chat is open): the contact's name and
 * verification state, Safety number and Refresh keys (E6), the timeline with older pages
 * loaded on scroll or by button, and the composer (Enter sends, Shift+Enter makes a new line),
 * which is disabled while the connection is down.
 */

import { h } from '../dom.js';
import { busy, describeError, messageArea } from '../ui.js';
import { connectionText } from './list-view.js';
import { showSafetyNumber } from './safety.js';
import { reconcile, timelineItems } from './timeline.js';
import { PAGE_MAX } from '../api-client/messaging.js';

/** @typedef {import('./store.js').ChatStore} ChatStore */
/** @typedef {import('./peer.js').Peer} Peer */

/** Within this many pixels of the bottom, new messages keep the view at the bottom. */
const STICK_PX = 80;
/** Within this many pixels of the top, older messages are loaded. */
const LOAD_OLDER_PX = 40;
const MAX_ROWS = 6;

/**
 * @param {ChatStore} store
 * @returns {{ element: HTMLElement, update: () => void }}
 */
export function conversationPane(store) {
  /** @type {string | null} */
  let shownPeer = null;
  /** @type {Map<string, { sig: string, node: HTMLElement }>} */
  let cache = new Map();
  let stickToBottom = true;

  const placeholder = h(
    'div',
    { class: 'conv-empty' },
    h('p', { class: 'muted' }, 'Choose a conversation, or start one with a friend’s exact username.'),
    h('p', { class: 'muted small' }, 'Messages are encrypted in this browser; the server only ever sees ciphertext.'),
  );

  // ---- header
  const back = h('button', { type: 'button', class: 'button secondary small conv-back', onclick: () => store.select(null) }, '‹ Chats');
  // A level-one heading: on phones this pane is the whole screen (issue 14 item 6).
  const name = h('h1', { class: 'conv-title username' });
  const verified = h('span', { class: 'badge' });
  const safety = h('button', { type: 'button', class: 'button secondary small' }, 'Safety number');
  const refresh = h('button', { type: 'button', class: 'button secondary small' }, 'Refresh keys');
  const header = h(
    'header',
    { class: 'conv-head' },
    back,
    h('div', { class: 'conv-who' }, name, verified),
    h('div', { class: 'conv-actions' }, safety, refresh),
  );
  const message = messageArea();
  // The contact's security key changed and was not accepted yet (X3, issue 14 item 2): stays
  // across reloads until the user has looked at the safety number and accepted the new key.
  const keyWarningText = h('span', {});
  const keyWarningButton = h('button', { type: 'button', class: 'button secondary small' }, 'Review safety number');
  const keyWarning = h('div', { class: 'message key-warning', dataset: { kind: 'warn' }, attrs: { role: 'alert' } }, keyWarningText, ' ', keyWarningButton);
  const deletedNote = h('p', { class: 'conv-deleted', attrs: { role: 'status' } });
  deletedNote.hidden = true;

  // ---- timeline
  const older = h('button', { type: 'button', class: 'link-button load-older' }, 'Load older messages');
  const start = h('p', { class: 'timeline-start muted' }, 'Beginning of the conversation');
  const status = h('p', { class: 'timeline-status muted' });
  const list = h('div', { class: 'timeline-list', attrs: { role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' } });
  const scroller = h('div', { class: 'timeline', attrs: { tabindex: 0 } }, older, start, status, list);

  // ---- composer
  const textarea = h('textarea', { name: 'message', rows: 1, attrs: { 'aria-label': 'Message', maxlength: 20000, placeholder: 'Write a message' } });
  const sendButton = h('button', { type: 'submit', class: 'button primary' }, 'Send');
  const hint = h('p', { class: 'composer-hint muted' });
  const composer = h('form', { class: 'composer', noValidate: true }, h('div', { class: 'composer-row' }, textarea, sendButton), hint);

  const body = h('div', { class: 'conv-body' }, header, deletedNote, keyWarning, message.element, scroller, composer);
  const element = h('section', { class: 'chat-conv', attrs: { 'aria-label': 'Conversation' } }, placeholder, body);

  const peerNow = () => (shownPeer ? store.peer(shownPeer) : undefined);

  const openSafety = () => {
    const peer = peerNow();
    if (!peer) return;
    const id = peer.id;
    showSafetyNumber(peer.username, {
      number: () => store.safetyNumber(id),
      isVerified: () => store.isVerified(id),
      markVerified: () => store.markVerified(id),
      keyWarning: () => store.keyWarning(id),
      acceptKey: () => store.acceptKey(id),
    });
  };
  safety.addEventListener('click', openSafety);
  keyWarningButton.addEventListener('click', openSafety);
  verified.addEventListener('click', openSafety);

  refresh.addEventListener('click', () => {
    const peer = peerNow();
    if (!peer) return;
    message.clear();
    void busy(refresh, 'Refreshing…', async () => {
      try {
        await store.refresh(peer.id);
        stickToBottom = true;
        update();
      } catch (error) {
        message.show('error', describeRefreshError(error, peer.username));
      }
    });
  });

  older.addEventListener('click', () => {
    if (shownPeer) void store.loadOlder(shownPeer);
  });
  scroller.addEventListener('scroll', () => {
    const peer = peerNow();
    stickToBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICK_PX;
    if (peer && peer.hasOlder && !peer.loadingOlder && scroller.scrollTop < LOAD_OLDER_PX) void store.loadOlder(peer.id);
  });

  const resize = () => {
    const lines = textarea.value.split('\n').length;
    textarea.rows = Math.min(MAX_ROWS, Math.max(1, lines));
  };
  const submit = () => {
    const peer = peerNow();
    const text = textarea.value;
    if (!peer || textarea.disabled || text.trim() === '') return;
    textarea.value = '';
    resize();
    stickToBottom = true;
    store.send(peer.id, text);
    textarea.focus();
  };
  textarea.addEventListener('input', resize);
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });

  const actions = {
    showSafetyNumber: openSafety,
    /** @param {number} localId */
    retry: (localId) => shownPeer && store.retry(shownPeer, localId),
    /** @param {number} localId */
    discard: (localId) => shownPeer && store.discard(shownPeer, localId),
    loadOlder: () => {
      if (shownPeer) void store.loadOlder(shownPeer, PAGE_MAX);
    },
  };

  function update() {
    const peer = store.selected ? store.peer(store.selected) : undefined;
    placeholder.hidden = peer !== undefined;
    body.hidden = peer === undefined;
    if (!peer) {
      shownPeer = null;
      return;
    }
    if (peer.id !== shownPeer) {
      shownPeer = peer.id;
      cache = new Map();
      list.replaceChildren();
      message.clear();
      textarea.value = '';
      resize();
      stickToBottom = true;
    }

    name.textContent = peer.username;
    const isVerified = store.isVerified(peer.id);
    const warning = store.keyWarning(peer.id);
    const blocked = warning?.verified === true;
    verified.textContent = warning ? '⚠ Key changed' : isVerified ? '✓ Verified' : 'Not verified';
    verified.className = warning ? 'badge warn' : isVerified ? 'badge verified' : 'badge unverified';
    verified.title = 'Show the safety number';
    keyWarning.hidden = warning === null;
    keyWarningText.textContent = blocked
      ? `${peer.username}'s security key changed since you verified it. Sending is paused until you review the new safety number and accept the key.`
      : `${peer.username}'s security key changed. Review the new safety number with ${peer.username} before you trust this conversation.`;

    const online = store.connection.state === 'online';
    // A deleted account keeps its history here, but nobody can receive new messages.
    deletedNote.hidden = !peer.deleted;
    deletedNote.textContent = peer.deleted
      ? `${peer.username} deleted their account. Your conversation stays here to read, but you can no longer send messages to it.`
      : '';
    const noSend = peer.deleted || blocked;
    refresh.disabled = noSend || !online || !peer.historyLoaded || refresh.getAttribute('aria-busy') === 'true';
    textarea.disabled = !online || noSend;
    sendButton.disabled = !online || noSend;
    textarea.placeholder = peer.deleted
      ? 'This account was deleted'
      : blocked
        ? 'Accept the new security key to send'
        : online
          ? `Message ${peer.username}`
          : 'Offline — you can send when the connection is back';
    if (peer.deleted) {
      hint.textContent = 'This account was deleted: sending is off.';
      hint.dataset.state = 'warn';
    } else if (blocked) {
      hint.textContent = `Sending is paused: ${peer.username}'s security key changed since you verified it.`;
      hint.dataset.state = 'warn';
    } else if (!online) {
      hint.textContent = connectionText(store.connection);
      hint.dataset.state = store.connection.state;
    } else if (peer.hasKey === false) {
      hint.textContent = `${peer.username} has not set up encryption yet: they need to sign in to Parley once before you can write.`;
      hint.dataset.state = 'warn';
    } else {
      hint.textContent = 'Enter sends · Shift+Enter for a new line · end-to-end encrypted';
      hint.dataset.state = 'online';
    }

    older.hidden = !peer.hasOlder;
    older.disabled = peer.loadingOlder;
    older.textContent = peer.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    start.hidden = !peer.historyLoaded || peer.hasOlder || peer.events.size === 0;
    if (peer.loadError) {
      status.textContent = peer.loadError;
      status.dataset.kind = 'error';
    } else if (!peer.historyLoaded) {
      status.textContent = 'Loading messages…';
      status.dataset.kind = 'info';
    } else if (peer.events.size === 0 && peer.pending.length === 0 && peer.keyNotices.length === 0) {
      status.textContent = `No messages yet. Your first message starts an end-to-end encrypted session with ${peer.username}.`;
      status.dataset.kind = 'info';
    } else {
      status.textContent = '';
    }
    status.hidden = status.textContent === '';
    list.dataset.loaded = String(peer.historyLoaded);

    const firstBefore = list.firstElementChild;
    const heightBefore = scroller.scrollHeight;
    const topBefore = scroller.scrollTop;
    reconcile(list, timelineItems(peer, actions), cache);
    if (stickToBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (firstBefore && list.firstElementChild !== firstBefore) {
      // Older messages were put above: keep what the user was looking at in place.
      scroller.scrollTop = topBefore + (scroller.scrollHeight - heightBefore);
    }
  }

  update();
  return { element, update };
}

/**
 * @param {unknown} error
 * @param {string} username
 * @returns {string}
 */
function describeRefreshError(error, username) {
  const code = /** @type {{ code?: unknown }} */ (error)?.code;
  if (code === 'no_peer_key') return `${username} has not set up encryption yet, so there are no keys to refresh.`;
  if (error instanceof Error && error.name === 'ProtocolError') return `The keys could not be refreshed (${String(code)}).`;
  return `The keys could not be refreshed: ${describeError(error)}`;
}
