// @ts-check
/**
 * The left pane (the whole screen on phones until a chat is opened): "Chats", the connection
 * state, "Start a chat" by exact username, and the conversations with their last activity and
 * unread count.
 */

import { h, replace, uid } from '../dom.js';
import { busy } from '../ui.js';
import { shortWhen } from './format.js';

/** @typedef {import('./store.js').ChatStore} ChatStore */

/**
 * The connection indicator's words.
 * @param {ChatStore['connection']} connection
 * @returns {string}
 */
export function connectionText(connection) {
  switch (connection.state) {
    case 'online':
      return 'Connected';
    case 'connecting':
      return 'Connecting…';
    case 'offline':
      return 'Offline — reconnecting…';
    default:
      return 'Disconnected';
  }
}

/**
 * @param {ChatStore} store
 * @returns {HTMLElement}
 */
export function connectionIndicator(store) {
  return h('span', { class: 'conn', dataset: { state: store.connection.state }, attrs: { role: 'status' } }, connectionText(store.connection));
}

/**
 * @param {ChatStore} store
 * @returns {{ element: HTMLElement, update: () => void }}
 */
export function listPane(store) {
  const inputId = uid('start-chat');
  const errorId = `${inputId}-error`;
  const input = h('input', {
    type: 'text',
    id: inputId,
    name: 'username',
    autocomplete: 'off',
    attrs: { autocapitalize: 'none', spellcheck: 'false', placeholder: 'Exact username', 'aria-describedby': errorId },
  });
  const error = h('p', { class: 'field-error', id: errorId, attrs: { 'aria-live': 'polite' } });
  error.hidden = true;
  const start = h('button', { type: 'submit', class: 'button primary small' }, 'Start');
  const form = h(
    'form',
    { class: 'start-chat', noValidate: true },
    h('label', { attrs: { for: inputId } }, 'Start a chat'),
    h('div', { class: 'input-row' }, input, start),
    error,
  );
  /** @param {string | null} text */
  const setError = (text) => {
    error.textContent = text ?? '';
    error.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setError(null);
    void busy(start, 'Finding…', async () => {
      try {
        const problem = await store.startChat(input.value);
        if (problem) {
          setError(problem);
          input.focus();
        } else {
          input.value = '';
          // Straight on to writing (issue 14 item 7): the new chat's composer, once rendered.
          requestAnimationFrame(() => {
            const composer = document.querySelector('.chat-conv textarea[name="message"]');
            const title = document.querySelector('.chat-conv .conv-title');
            if (composer instanceof HTMLTextAreaElement && !composer.disabled) composer.focus();
            else if (title instanceof HTMLElement) {
              title.tabIndex = -1;
              title.focus();
            }
          });
        }
      } catch (e) {
        console.warn('Parley: starting a chat failed', e);
        setError('Something went wrong. Please try again.');
      }
    });
  });

  const conn = h('span', { class: 'conn' });
  const list = h('ul', { class: 'conversations', attrs: { 'aria-label': 'Conversations' } });
  const empty = h('p', { class: 'muted conversations-empty' }, 'No conversations yet. Type a friend’s exact username above to start one.');
  const element = h(
    'aside',
    { class: 'chat-list', attrs: { 'aria-label': 'Conversations' } },
    h('div', { class: 'chat-list-head' }, h('h1', {}, 'Chats'), conn),
    form,
    list,
    empty,
  );

  /** @type {Map<string, { li: HTMLElement, button: HTMLElement }>} the list's row of each peer */
  const rows = new Map();
  const update = () => {
    conn.dataset.state = store.connection.state;
    conn.textContent = connectionText(store.connection);
    const peers = store.peers();
    empty.hidden = peers.length > 0 || !store.ready;
    // One row per peer, kept across updates and changed in place: a catch-up of thousands of
    // messages updates the list many times a second, and a row rebuilt each time could not be
    // clicked (it is detached under the pointer) or keep the keyboard focus.
    // Moving a row (a conversation with a new message goes up) loses its keyboard focus.
    const focused = document.activeElement instanceof HTMLElement && list.contains(document.activeElement) ? document.activeElement : null;
    const items = peers.map((peer) => {
      let row = rows.get(peer.id);
      if (!row) {
        const button = h('button', { type: 'button', class: 'conv-item', dataset: { peer: peer.id }, onclick: () => store.select(peer.id) });
        row = { li: h('li', {}, button), button };
        rows.set(peer.id, row);
      }
      const current = store.selected === peer.id;
      const unread = current ? 0 : peer.unread;
      if (current) row.button.setAttribute('aria-current', 'true');
      else row.button.removeAttribute('aria-current');
      replace(
        row.button,
        h('span', { class: 'conv-name username' }, peer.username),
        peer.deleted ? h('span', { class: 'badge deleted' }, 'Deleted account') : null,
        h('span', { class: 'conv-when' }, shortWhen(peer.lastActivity)),
        // A security key change not accepted yet stays visible in the list (issue 14 item 2).
        store.keyWarning(peer.id) ? h('span', { class: 'badge warn key-changed', attrs: { title: 'Security key changed: review the safety number' } }, '⚠ Key changed') : null,
        unread > 0 ? h('span', { class: 'badge unread', attrs: { 'aria-label': `${unread} unread` } }, String(unread)) : null,
      );
      return row.li;
    });
    const shown = new Set(peers.map((peer) => peer.id));
    for (const id of [...rows.keys()]) if (!shown.has(id)) rows.delete(id);
    // Move a row only where the order changed (moving detaches it), then drop the rest.
    items.forEach((li, i) => {
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
    });
    while (list.children.length > items.length) list.lastElementChild?.remove();
    if (focused?.isConnected && document.activeElement !== focused) focused.focus();
  };
  update();
  return { element, update };
}
