// @ts-check
/**
 * `#/chat`: a placeholder until the chat itself arrives.
 */

import { h } from '../dom.js';

export const title = 'Chat';

/**
 * @param {import('../app.js').App} app
 * @returns {HTMLElement}
 */
export function render(app) {
  const username = app.me()?.user.username ?? '';
  return h(
    'section',
    { class: 'view chat' },
    h('h1', {}, 'Chat arrives soon'),
    h('p', { class: 'lead' }, 'Signed in as ', h('strong', { class: 'username' }, username), '.'),
    h(
      'p',
      {},
      'End-to-end encrypted conversations are on their way. Meanwhile, check your sessions and security settings on your ',
      h('a', { href: '#/account' }, 'account page'),
      '.',
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', onclick: () => void app.signOut() }, 'Sign out'),
    ),
  );
}
