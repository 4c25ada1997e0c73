// @ts-check
/**
 * Getting the user's attention while the tab is in the background (issue 14 item 8):
 *
 * - the unread count in the document title ("(3) Chat · Parley") while the tab is hidden;
 * - a system notification per conversation with new messages — only after the user asked for
 *   notifications and the browser granted the permission, and without the message text unless
 *   the user opted in to "Show message text" (the text is decrypted in this browser; a
 *   notification may show on a locked screen);
 * - `navigator.storage.persist()`, so that the browser is less likely to evict the keys.
 *
 * The preference is stored in localStorage under `parley:prefs:notify-text` (not a secret; not
 * per account). No server involvement.
 */

import { h } from './dom.js';

const TEXT_PREF = 'parley:prefs:notify-text';

/**
 * Ask the browser to keep this site's storage (the private keys live in localStorage) under
 * storage pressure. Chromium decides by engagement; the answer is only logged.
 * @returns {Promise<boolean>}
 */
export async function requestPersistentStorage() {
  try {
    if (!navigator.storage?.persist) return false;
    if (await navigator.storage.persisted()) return true;
    return await navigator.storage.persist();
  } catch {
    return false;
  }
}

/** @returns {boolean} */
function showTextPref() {
  try {
    return localStorage.getItem(TEXT_PREF) === 'yes';
  } catch {
    return false;
  }
}

/**
 * @param {import('./chat/store.js').ChatStore} store
 * @param {{ baseTitle: () => string }} opts
 * @returns {{ element: HTMLElement, update: () => void, dispose: () => void }}
 */
export function attention(store, { baseTitle }) {
  const supported = typeof Notification === 'function';
  /** @type {Map<string, number>} */
  const seenUnread = new Map();

  const status = h('p', { class: 'notify-status muted small', attrs: { role: 'status' } });
  const enable = h('button', { type: 'button', class: 'button secondary small' }, 'Turn on notifications');
  const showText = h('input', { type: 'checkbox', id: 'notify-text', name: 'notify-text', checked: showTextPref() });
  const textRow = h(
    'div',
    { class: 'checkbox' },
    showText,
    h('label', { attrs: { for: showText.id } }, 'Show the message text in notifications (others may see your screen)'),
  );
  const element = h(
    'section',
    { class: 'notify-prefs', attrs: { 'aria-labelledby': 'notify-heading' } },
    h('h2', { id: 'notify-heading', class: 'notify-heading' }, 'Notifications'),
    enable,
    textRow,
    status,
  );

  const render = () => {
    const permission = supported ? Notification.permission : 'denied';
    enable.hidden = !supported || permission !== 'default';
    textRow.hidden = permission !== 'granted';
    status.textContent = !supported
      ? 'This browser cannot show notifications.'
      : permission === 'granted'
        ? 'On: you are told about new messages while Parley is in the background.'
        : permission === 'denied'
          ? 'Blocked in the browser’s site settings.'
          : 'Off: turn them on to hear about new messages while Parley is in the background.';
  };
  enable.addEventListener('click', () => {
    void Notification.requestPermission().then(render, render);
  });
  showText.addEventListener('change', () => {
    try {
      localStorage.setItem(TEXT_PREF, showText.checked ? 'yes' : 'no');
    } catch {
      // Private mode without storage: the box still works for this page.
    }
  });
  render();

  /** @param {import('./chat/peer.js').Peer} peer */
  const notify = (peer) => {
    if (!supported || Notification.permission !== 'granted') return;
    let body = `New message from ${peer.username}`;
    if (showText.checked) {
      let newest = null;
      for (const ev of peer.events.values()) {
        if (ev.kind === 'message' && !ev.mine && (newest === null || ev.id > newest.id)) newest = ev;
      }
      if (newest && newest.kind === 'message') body = `${peer.username}: ${newest.text}`;
    }
    try {
      const n = new Notification('Parley', { body, tag: `parley-${peer.id}`, icon: '/icons/icon-192.png' });
      n.addEventListener('click', () => {
        window.focus();
        store.select(peer.id);
        n.close();
      });
    } catch (error) {
      // Some platforms allow notifications from service workers only.
      console.warn('Parley: could not show a notification', error);
    }
  };

  const update = () => {
    let total = 0;
    for (const peer of store.peers()) {
      total += peer.unread;
      const before = seenUnread.get(peer.id) ?? peer.unread;
      if (peer.unread > before && document.visibilityState === 'hidden') notify(peer);
      seenUnread.set(peer.id, peer.unread);
    }
    const base = baseTitle();
    document.title = document.visibilityState === 'hidden' && total > 0 ? `(${total}) ${base}` : base;
  };
  document.addEventListener('visibilitychange', update);
  return {
    element,
    update,
    dispose: () => {
      document.removeEventListener('visibilitychange', update);
      document.title = baseTitle();
    },
  };
}
