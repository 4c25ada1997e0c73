// @ts-check
/**
 * `#/chat`: the end-to-end encrypted chat (E1–E10, X1, X3, X4). The page puts together the
 * pieces under web/chat/: the store (protocol conversations, WebSocket, receipts), the list of
 * conversations and the open conversation. On phones one pane shows at a time.
 *
 * The view lives as long as the route: leaving the page closes the WebSocket; coming back
 * reconnects and the server hands over every message not yet acknowledged.
 */

import { attention, requestPersistentStorage } from '../attention.js';
import { h, replace } from '../dom.js';
import { conversationPane } from '../chat/conversation-view.js';
import { STORAGE_CLEARED_TEXT } from '../chat/format.js';
import { listPane } from '../chat/list-view.js';
import { ChatStore } from '../chat/store.js';
import { notice } from '../ui.js';

export const title = 'Chat';

/**
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function render(app, scope) {
  const me = app.me();
  if (!me) return h('section', { class: 'view chat' });
  const cryptoLog = me.crypto_console_log === true;

  const store = new ChatStore({
    me: { id: me.user.id, username: me.user.username },
    // E9: the protocol's console lines, unless the server turned them off for production.
    log: cryptoLog ? (line) => console.log(line) : null,
    now: () => Math.floor(app.serverNow()),
    onSessionEnded: () => {
      // Ask the server why (idle, 12-hour limit, signed out elsewhere): the API hook then shows
      // the right notice on the sign-in page. If the answer does not come, end it here.
      void app.refreshMe().then(() => {
        if (app.me() && scope.alive()) app.forgetSession();
      });
    },
    sessionAlive: async () => {
      await app.refreshMe();
      return app.me() !== null && scope.alive();
    },
  });

  const banners = h('div', { class: 'chat-banners' });
  const list = listPane(store);
  const conversation = conversationPane(store);
  const watcher = attention(store, { baseTitle: () => `${title} · Parley` });
  const element = h(
    'section',
    { class: 'view chat', dataset: { pane: 'list' } },
    banners,
    h('div', { class: 'chat-layout' }, list.element, conversation.element),
    watcher.element,
  );

  let dismissedCleared = false;
  const renderBanners = () => {
    replace(
      banners,
      store.startError ? notice('error', `The chat could not start: ${store.startError}`) : null,
      store.storageCleared && !dismissedCleared
        ? notice(
            'warn',
            h('strong', {}, STORAGE_CLEARED_TEXT),
            ' ',
            h(
              'button',
              {
                type: 'button',
                class: 'link-button',
                onclick: () => {
                  dismissedCleared = true;
                  renderBanners();
                },
              },
              'Dismiss',
            ),
          )
        : null,
      store.identityStale
        ? notice(
            'warn',
            'This browser’s encryption keys were replaced in another tab. ',
            h('button', { type: 'button', class: 'link-button', onclick: () => location.reload() }, 'Reload this page'),
            ' to keep chatting.',
          )
        : null,
    );
  };

  const unsubscribe = store.subscribe((change) => {
    element.dataset.pane = store.selected ? 'conversation' : 'list';
    list.update();
    if (change.peer === null || change.peer === store.selected) conversation.update();
    if (change.peer === null) renderBanners();
    watcher.update();
  });

  const onVisible = () => {
    if (store.selected) store.maybeMarkRead(store.selected);
  };
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('focus', onVisible);
  scope.onCleanup(() => {
    unsubscribe();
    watcher.dispose();
    document.removeEventListener('visibilitychange', onVisible);
    window.removeEventListener('focus', onVisible);
    store.dispose();
  });

  void store.start();
  // The private keys live in this browser's storage: ask it not to evict them.
  void requestPersistentStorage();
  return element;
}
