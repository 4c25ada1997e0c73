// @ts-check
/**
 * `#/account`: who you are, where you are signed in, what happened to your account, and the
 * forms that change your authenticators (in account-forms.js).
 */

import * as accounts from '../api-client/accounts.js';
import { ApiError } from '../api-client/http.js';
import { listSessions, revokeAllSessions, revokeSession } from '../api-client/sessions.js';
import { formatTime, h, replace } from '../dom.js';
import { button, describeError, messageArea, notice, section } from '../ui.js';
import { changePasswordSection, deleteAccountSection, recoveryCodesSection, replaceTotpSection } from './account-forms.js';

export const title = 'Account';

/** @typedef {import('../api-client/contract.js').SessionInfo} SessionRow */
/** @typedef {import('../api-client/contract.js').SecurityEvent} LogEvent */
/** @typedef {import('../api-client/contract.js').Authenticator} Authenticator */

/** People's words for the security log's events. */
const EVENT_LABELS = /** @type {Record<string, string>} */ ({
  registered: 'Account created',
  login_password_ok: 'Password accepted (second step pending)',
  login_password_failed: 'Wrong password',
  login_totp_failed: 'Wrong authenticator code',
  login_recovery_failed: 'Wrong recovery code',
  login_succeeded: 'Signed in',
  recovery_code_used: 'Recovery code used',
  password_changed: 'Password changed',
  totp_reenrolled: 'Authenticator app replaced',
  recovery_codes_regenerated: 'New recovery codes created',
  session_revoked: 'Session signed out remotely',
  logout: 'Signed out',
  factor_locked: 'Sign-in method locked after too many failures',
  factor_unlocked: 'Sign-in method unlocked',
});

/** Events that are worth a second look. */
const ALERT_EVENTS = new Set([
  'login_password_failed',
  'login_totp_failed',
  'login_recovery_failed',
  'factor_locked',
]);

const AUTHENTICATOR_LABELS = /** @type {Record<string, string>} */ ({
  password: 'Password',
  totp: 'Authenticator app',
  recovery: 'Recovery codes',
  recovery_codes: 'Recovery codes',
  webauthn: 'Security key',
});

/**
 * "Chrome on Linux" from a user-agent string (best effort; the full string is in the tooltip).
 * @param {string | null | undefined} ua
 * @returns {string}
 */
export function describeAgent(ua) {
  if (!ua) {
    return 'Unknown browser';
  }
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /HeadlessChrome\//.test(ua)
          ? 'Chrome (headless)'
          : /Chrom(e|ium)\//.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua)
              ? 'Safari'
              : /curl|node|python|Go-http/i.test(ua)
                ? 'Script or tool'
                : 'Browser';
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad|iPod/.test(ua)
        ? 'iOS'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : '';
  return os ? `${browser} on ${os}` : browser;
}

/**
 * "5 minutes ago" relative to the server's clock.
 * @param {number} secs
 * @param {number} now
 * @returns {string}
 */
function ago(secs, now) {
  const diff = Math.round(secs - now);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const abs = Math.abs(diff);
  if (abs < 60) {
    return format.format(0, 'second');
  }
  if (abs < 3600) {
    return format.format(Math.round(diff / 60), 'minute');
  }
  if (abs < 86_400) {
    return format.format(Math.round(diff / 3600), 'hour');
  }
  return format.format(Math.round(diff / 86_400), 'day');
}

/**
 * A `<time>` with the local date and, optionally, the relative time.
 * @param {number} secs
 * @param {number} [now] add "(5 minutes ago)"
 */
function time(secs, now) {
  return h(
    'time',
    { dateTime: new Date(secs * 1000).toISOString() },
    formatTime(secs),
    now === undefined ? '' : h('span', { class: 'muted' }, ` (${ago(secs, now)})`),
  );
}

/**
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function render(app, scope) {
  const me = app.me();
  const info = h('dl', { class: 'facts' });
  const sessions = h('div', { class: 'sessions-wrap' }, h('p', { class: 'muted' }, 'Loading sessions…'));
  const log = h('div', { class: 'log-wrap' }, h('p', { class: 'muted' }, 'Loading the security log…'));
  const sessionsMessage = messageArea();

  const renderInfo = (/** @type {Authenticator[] | null} */ authenticators) => {
    const current = app.me();
    if (!current) {
      return;
    }
    const remaining = current.recovery_codes_remaining;
    replace(
      info,
      h('dt', {}, 'Username'),
      h('dd', { class: 'username' }, current.user.username),
      h('dt', {}, 'Member since'),
      h('dd', {}, time(current.user.created_at)),
      h('dt', {}, 'Recovery codes left'),
      h('dd', { class: remaining <= 3 ? 'low' : '' }, String(remaining), remaining <= 3 ? ' — create new ones below' : ''),
      authenticators
        ? [
            h('dt', {}, 'Sign-in methods'),
            h(
              'dd',
              {},
              h(
                'ul',
                { class: 'plain' },
                // The contract's statuses are `active` and `replaced` (a `current` or `locked`
                // status checked here before was never sent: the typecheck found it).
                authenticators
                  .filter((a) => a.status === 'active')
                  .map((a) => h('li', {}, AUTHENTICATOR_LABELS[a.kind] ?? a.kind, ' — since ', time(a.created_at))),
              ),
            ),
          ]
        : null,
    );
  };

  async function loadAuthenticators() {
    try {
      const answer = await accounts.authenticators();
      renderInfo(Array.isArray(answer.authenticators) ? answer.authenticators : null);
    } catch {
      renderInfo(null);
    }
  }

  async function loadSessions() {
    try {
      const answer = await listSessions();
      if (scope.alive()) {
        replace(sessions, sessionsTable(answer.sessions ?? [], app, reloadAll, sessionsMessage));
      }
    } catch (error) {
      if (scope.alive()) {
        replace(sessions, notice('error', `Couldn’t load your sessions: ${describeError(error)}`));
      }
    }
  }

  async function loadLog() {
    try {
      const answer = await accounts.securityLog();
      if (scope.alive()) {
        replace(log, securityLog(answer.events ?? [], app.serverNow()));
      }
    } catch (error) {
      if (scope.alive()) {
        replace(log, notice('error', `Couldn’t load the security log: ${describeError(error)}`));
      }
    }
  }

  function reloadAll() {
    void loadSessions();
    void loadLog();
    void app.refreshMe().then(() => void loadAuthenticators());
  }

  renderInfo(null);
  if (me?.must_change_password) {
    // Until the password is changed the server allows nothing else (5.1.1.2-force-change).
    return h(
      'div',
      { class: 'view account' },
      h('h1', {}, 'Your account'),
      notice(
        'error',
        h('strong', {}, 'Your password must be changed. '),
        'There are signs that it may have been exposed. Please choose a new password before continuing.',
      ),
      section('account-info', 'Account', info),
      changePasswordSection(app, scope, () => void app.refreshMe().then(() => app.go('/account'))),
    );
  }
  void loadAuthenticators();
  void loadSessions();
  void loadLog();

  const signOutEverywhere = button('Sign out everywhere', () => {
    void (async () => {
      signOutEverywhere.disabled = true;
      try {
        await revokeAllSessions();
        app.forgetSession({ kind: 'ok', content: ['You signed out everywhere, including this browser.'] });
      } catch (error) {
        sessionsMessage.show('error', describeError(error));
        signOutEverywhere.disabled = false;
      }
    })();
  }, 'button danger-outline');

  return h(
    'div',
    { class: 'view account' },
    h('h1', {}, 'Your account'),
    section('account-info', 'Account', info),
    section(
      'account-sessions',
      'Active sessions',
      h('p', { class: 'help' }, 'Everywhere you are signed in. Sign out any session you don’t recognise, then change your password.'),
      sessions,
      sessionsMessage.element,
      h('div', { class: 'actions' }, signOutEverywhere),
    ),
    section('account-log', 'Security log', h('p', { class: 'help' }, 'Recent sign-ins and changes to your account, newest first.'), log),
    changePasswordSection(app, scope, reloadAll),
    replaceTotpSection(app, scope, reloadAll),
    recoveryCodesSection(app, scope, reloadAll),
    deleteAccountSection(app, scope),
  );
}

/**
 * @param {SessionRow[]} rows
 * @param {import('../app.js').App} app
 * @param {() => void} reload
 * @param {ReturnType<typeof messageArea>} message
 * @returns {HTMLElement}
 */
function sessionsTable(rows, app, reload, message) {
  if (rows.length === 0) {
    return h('p', { class: 'muted' }, 'No active sessions.');
  }
  const now = app.serverNow();
  const sorted = [...rows].sort((a, b) => Number(b.current) - Number(a.current) || b.last_active_at - a.last_active_at);
  return h(
    'table',
    { class: 'sessions' },
    h('caption', { class: 'visually-hidden' }, 'Your active sessions'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Browser'),
        h('th', { scope: 'col' }, 'Signed in'),
        h('th', { scope: 'col' }, 'Last active'),
        h('th', { scope: 'col' }, 'IP address'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Action')),
      ),
    ),
    h(
      'tbody',
      {},
      sorted.map((row) => {
        const signOut = button('Sign out', () => {
          void (async () => {
            signOut.disabled = true;
            try {
              await revokeSession(row.id);
              if (row.current) {
                app.forgetSession({ kind: 'ok', content: ['You have signed out.'] });
              } else {
                message.show('ok', `Signed out ${describeAgent(row.user_agent)} (${row.ip ?? 'unknown IP'}).`);
                reload();
              }
            } catch (error) {
              if (!(error instanceof ApiError && error.code === 'unauthorized')) {
                message.show('error', describeError(error));
                signOut.disabled = false;
              }
            }
          })();
        }, 'button secondary small');
        signOut.setAttribute(
          'aria-label',
          row.current ? 'Sign out this session' : `Sign out ${describeAgent(row.user_agent)} from ${row.ip ?? 'unknown IP'}`,
        );
        return h(
          'tr',
          { class: row.current ? 'current' : '', dataset: { sessionId: row.id } },
          h(
            'td',
            { dataset: { label: 'Browser' }, attrs: { title: row.user_agent ?? '' } },
            h(
              'span',
              {},
              h('span', { class: 'agent' }, describeAgent(row.user_agent)),
              row.current ? h('span', { class: 'badge' }, 'This session') : null,
            ),
          ),
          h('td', { dataset: { label: 'Signed in' } }, time(row.created_at)),
          h('td', { dataset: { label: 'Last active' } }, time(row.last_active_at, now)),
          h('td', { dataset: { label: 'IP address' } }, h('span', { class: 'ip' }, row.ip ?? 'unknown')),
          h('td', { class: 'cell-action' }, signOut),
        );
      }),
    ),
  );
}

/** How many log entries to show before "Show all". */
const LOG_PREVIEW = 15;

/**
 * @param {LogEvent[]} events newest first
 * @param {number} now
 * @returns {HTMLElement}
 */
function securityLog(events, now) {
  if (events.length === 0) {
    return h('p', { class: 'muted' }, 'Nothing yet.');
  }
  const items = events.map((event) =>
    h(
      'li',
      { class: ALERT_EVENTS.has(event.event) ? 'alert' : '', dataset: { event: event.event } },
      h('span', { class: 'log-event' }, EVENT_LABELS[event.event] ?? event.event.replace(/_/g, ' ')),
      h(
        'span',
        { class: 'log-meta' },
        time(event.at, now),
        ' · ',
        event.ip ?? 'unknown IP',
        ' · ',
        h('span', { attrs: { title: event.user_agent ?? '' } }, describeAgent(event.user_agent)),
        detailText(event.detail) ? ` · ${detailText(event.detail)}` : '',
      ),
    ),
  );
  const list = h('ol', { class: 'log' }, items.slice(0, LOG_PREVIEW));
  if (items.length <= LOG_PREVIEW) {
    return list;
  }
  const more = button(`Show all ${items.length} events`, () => {
    replace(list, items);
    more.remove();
  }, 'link-button');
  return h('div', {}, list, more);
}

/**
 * A log entry's detail as text (any JSON shape).
 * @param {unknown} detail
 * @returns {string}
 */
function detailText(detail) {
  if (detail === null || detail === undefined || detail === '') {
    return '';
  }
  if (typeof detail === 'string') {
    return detail;
  }
  if (typeof detail === 'object') {
    return Object.entries(/** @type {Record<string, unknown>} */ (detail))
      .map(([key, value]) => `${key.replace(/_/g, ' ')}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
      .join(', ');
  }
  return String(detail);
}
