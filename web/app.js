// @ts-check
/**
 * Parley browser client: entry point, router and signed-in state.
 *
 * Loaded as an ES module from index.html. The page runs under a strict Content Security Policy
 * with Trusted Types enforced, so this code never assigns HTML strings: it builds the DOM with
 * `h()` (web/dom.js), and user data only ever becomes text nodes.
 *
 * Routes (hash based, so the server serves one page): `#/` landing, `#/register`, `#/login`,
 * `#/account`, `#/chat`. On load `GET /api/me` decides whether we are signed in.
 *
 * Session data (user, CSRF token, deadlines) lives in memory only: never in localStorage,
 * sessionStorage, IndexedDB or script-readable cookies. A reload asks the server again.
 */

import { fetchMe, logout } from './api-client/accounts.js';
import { ApiError, configureApi, setCsrfToken } from './api-client/http.js';
import { h, replace } from './dom.js';
import { startSessionMonitor } from './session.js';
import { createScope, notice } from './ui.js';
import * as accountView from './views/account.js';
import * as chatView from './views/chat.js';
import * as landingView from './views/landing.js';
import * as loginView from './views/login.js';
import * as registerView from './views/register.js';

/**
 * A notice carried to the next page (e.g. "Your session ended").
 * @typedef {{ kind: import('./ui.js').MessageKind, content: import('./dom.js').Child[] }} Flash
 */

/**
 * What views get to work with.
 * @typedef {object} App
 * @property {() => import('./api-client/accounts.js').Me | null} me the signed-in state, or null
 * @property {(path: string) => void} go navigate to a route, e.g. `/account`
 * @property {(kind: import('./ui.js').MessageKind, ...content: import('./dom.js').Child[]) => void} flash
 *   shows a notice at the top of the next page
 * @property {(next?: string) => Promise<void>} signedIn after sign-in or sign-up: load `/api/me`
 *   and go on to `next` (default: the page that was asked for, or the chat)
 * @property {() => Promise<void>} signOut `POST /api/logout`, then the landing page
 * @property {(flash?: Flash, path?: string) => void} forgetSession the server ended the session (or
 *   we ended it): forget it locally and go to the sign-in page (or `path`)
 * @property {() => Promise<void>} refreshMe re-read `/api/me` in the background
 * @property {() => number} serverNow estimated server time (Unix seconds)
 */

/**
 * A page.
 * @typedef {object} View
 * @property {string} title for `document.title`
 * @property {(app: App, scope: import('./ui.js').Scope) => HTMLElement} render
 */

/**
 * @typedef {'public' | 'signed-out' | 'signed-in'} Access
 * @type {Record<string, { view: View, access: Access }>}
 */
const ROUTES = {
  '/': { view: landingView, access: 'signed-out' },
  '/register': { view: registerView, access: 'signed-out' },
  '/login': { view: loginView, access: 'signed-out' },
  '/chat': { view: chatView, access: 'signed-in' },
  '/account': { view: accountView, access: 'signed-in' },
};

/** Tells other tabs of this browser that the session changed (no data, just a nudge). */
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('parley-session') : null;

/** @type {import('./api-client/accounts.js').Me | null} */
let me = null;
/** @type {import('./session.js').SessionMonitor | null} */
let monitor = null;
/** @type {Flash | null} */
let pendingFlash = null;
/** Where to go after signing in (the signed-in page that was asked for). */
let afterSignIn = '/chat';
/** @type {ReturnType<typeof createScope> | null} */
let currentScope = null;
let firstRender = true;

/** The notice for a session the server no longer accepts. */
export const SESSION_ENDED_TEXT =
  'Your session ended (signed out elsewhere, idle for 30 minutes, or the 12-hour limit) — please sign in again.';

/**
 * The notice for why a session ended, from the server's error.
 * @param {ApiError | null} error
 * @returns {string}
 */
function sessionEndedText(error) {
  const reason = error?.extra.reason;
  if (reason === 'idle') {
    return 'Your session ended because you were inactive for 30 minutes — please sign in again.';
  }
  if (reason === 'absolute') {
    return 'Your session ended at its 12-hour limit — please sign in again.';
  }
  return SESSION_ENDED_TEXT;
}

/** @param {import('./api-client/accounts.js').Me} data */
function setMe(data) {
  me = data;
  setCsrfToken(data.csrf_token);
  if (monitor) {
    monitor.update(data);
  } else {
    monitor = startSessionMonitor(data, {
      onMe: (fresh) => {
        me = fresh;
        setCsrfToken(fresh.csrf_token);
        renderUserBits();
      },
      onSignOut: () => void app.signOut(),
    });
  }
}

function clearMe() {
  me = null;
  setCsrfToken(null);
  monitor?.stop();
  monitor = null;
}

/** @type {App} */
const app = {
  me: () => me,
  go(path) {
    const target = `#${path}`;
    if (location.hash === target) {
      render();
    } else {
      location.hash = target;
    }
  },
  flash(kind, ...content) {
    pendingFlash = { kind, content };
  },
  async signedIn(next) {
    const data = await fetchMe();
    setMe(data);
    channel?.postMessage('signed-in');
    const target = next ?? afterSignIn;
    afterSignIn = '/chat';
    app.go(target);
  },
  async signOut() {
    try {
      await logout();
    } catch (error) {
      // Already gone on the server is fine: we are signed out either way.
      if (!(error instanceof ApiError && (error.code === 'unauthorized' || error.code === 'session_expired'))) {
        console.warn('Parley: sign-out request failed', error);
      }
    }
    clearMe();
    channel?.postMessage('signed-out');
    app.flash('ok', 'You have signed out.');
    app.go('/');
  },
  forgetSession(flash, path = '/login') {
    const wasSignedIn = me !== null;
    clearMe();
    if (wasSignedIn) {
      channel?.postMessage('signed-out');
    }
    pendingFlash = flash ?? { kind: 'warn', content: [SESSION_ENDED_TEXT] };
    app.go(path);
  },
  async refreshMe() {
    await monitor?.check();
  },
  serverNow: () => monitor?.serverNow() ?? Date.now() / 1000,
};

/** Current route path from the hash, e.g. `/account`. */
function currentPath() {
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  return path in ROUTES ? path : '/';
}

/** The bar on signed-in pages: logo, Chat / Account, username, Sign out. */
const topbar = (() => {
  const username = h('span', { class: 'topbar-user', attrs: { title: 'Signed in as' } });
  const links = {
    '/chat': h('a', { href: '#/chat' }, 'Chat'),
    '/account': h('a', { href: '#/account' }, 'Account'),
  };
  const signOut = h('button', { type: 'button', class: 'button secondary small', onclick: () => void app.signOut() }, 'Sign out');
  const element = h(
    'header',
    { class: 'topbar' },
    h(
      'a',
      { class: 'topbar-brand', href: '#/chat' },
      // The logo carries the link's name: the word beside it is hidden on phones (axe link-name).
      h('img', { src: '/favicon.svg', alt: 'Parley', width: 32, height: 32 }),
      h('span', { attrs: { 'aria-hidden': 'true' } }, 'Parley'),
    ),
    h('nav', { class: 'topbar-nav', attrs: { 'aria-label': 'Main' } }, links['/chat'], links['/account']),
    h('div', { class: 'topbar-session' }, username, signOut),
  );
  return {
    element,
    /** @param {string} path */
    update(path) {
      username.textContent = me?.user.username ?? '';
      for (const [route, link] of Object.entries(links)) {
        if (route === path) {
          link.setAttribute('aria-current', 'page');
        } else {
          link.removeAttribute('aria-current');
        }
      }
    },
  };
})();

function renderUserBits() {
  topbar.update(currentPath());
}

/** Shows the page for the current hash (after access checks). */
function render() {
  const root = document.getElementById('app');
  if (!root) {
    return;
  }
  const path = currentPath();
  const route = /** @type {{ view: View, access: Access }} */ (ROUTES[path]);
  if (route.access === 'signed-in' && !me) {
    afterSignIn = path;
    app.go('/login');
    return;
  }
  if (route.access === 'signed-out' && me) {
    app.go('/chat');
    return;
  }
  if (me?.must_change_password && path !== '/account') {
    app.go('/account');
    return;
  }

  currentScope?.dispose();
  currentScope = createScope();
  const signedIn = route.access === 'signed-in';
  document.body.classList.toggle('signed-in', signedIn);
  const brand = document.getElementById('brand');
  if (brand) {
    brand.hidden = signedIn;
  }
  if (signedIn) {
    if (!topbar.element.isConnected) {
      document.body.prepend(topbar.element);
    }
    topbar.update(path);
  } else {
    topbar.element.remove();
  }
  document.getElementById('main')?.classList.toggle('wide', path === '/account');
  document.getElementById('main')?.classList.toggle('chat-page', path === '/chat');

  const view = route.view.render(app, currentScope);
  const flash = pendingFlash;
  pendingFlash = null;
  // A notice carried to this page can be dismissed, and goes away with the next page.
  const flashNotice = flash ? notice(flash.kind, ...flash.content) : null;
  if (flashNotice) {
    flashNotice.classList.add('flash');
    flashNotice.append(
      h(
        'button',
        {
          type: 'button',
          class: 'flash-dismiss',
          attrs: { 'aria-label': 'Dismiss this notice' },
          onclick: () => {
            flashNotice.remove();
            // Focus would fall to the page body: put it on the page's heading instead.
            const heading = view.querySelector('h1, h2');
            if (heading instanceof HTMLElement) {
              heading.tabIndex = -1;
              heading.focus();
            }
          },
        },
        '×',
      ),
    );
  }
  replace(root, flashNotice, view);
  root.hidden = false;
  document.title = route.view.title === 'Parley' ? 'Parley' : `${route.view.title} · Parley`;

  // Move focus to the new page's heading (not on first load: let the page start at the top).
  if (!firstRender) {
    const heading = view.querySelector('h1, h2');
    if (heading instanceof HTMLElement) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
  firstRender = false;
}

async function boot() {
  configureApi({
    isSignedIn: () => me !== null,
    onSessionEnded: (error) => {
      // Several requests may fail at once: the first one ends the session, once.
      if (me) {
        app.forgetSession({ kind: 'warn', content: [sessionEndedText(error)] });
      }
    },
    onUserActivity: () => monitor?.noteActivity(),
    onPasswordChangeRequired: () => {
      if (currentPath() !== '/account') {
        void app.refreshMe().then(() => app.go('/account'));
      }
    },
  });
  channel?.addEventListener('message', () => {
    // Another tab signed in or out: ask the server what is true now. If our session is gone the
    // API hook sends us to the sign-in page; if a new one exists, we join it.
    fetchMe()
      .then((data) => {
        if (me) {
          setMe(data);
        } else {
          setMe(data);
          app.go('/chat');
        }
      })
      .catch(() => {});
  });
  window.addEventListener('hashchange', render);

  try {
    setMe(await fetchMe());
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== 'unauthorized' && error.code !== 'session_expired')) {
      console.warn('Parley: could not read the session', error);
    }
  }
  render();
}

void boot();
