// @ts-check
/**
 * Watches the signed-in session's time limits (NIST SP 800-63B §4.2.3, §7.2): 30 minutes
 * without user activity, 12 hours in all. The server is the judge; this module only estimates
 * the deadlines so it can warn in time:
 *
 * - `GET /api/me` (not activity) gives `idle_expires_at`, `absolute_expires_at` and the server's
 *   `now`, so deadlines are computed in server time (robust against a wrong local clock). It is
 *   re-read every 30 s, when the tab gains focus or becomes visible, and at a deadline.
 * - A successful user action moves the local idle estimate to now + 30 min.
 * - Two minutes before the idle deadline a dialog asks for the password
 *   (`POST /api/session/reauth`) to stay signed in (4.2.3-warn, 7.2 extend-by-prompt). Before the
 *   12-hour limit it only warns: that limit cannot be extended.
 * - When the server says the session is over, the API hook sends the app to the sign-in page.
 *
 * Nothing here fakes activity: polling is marked `background`.
 */

import { fetchMe, reauth } from './api-client/accounts.js';
import { formatCountdown, h, uid } from './dom.js';
import { passwordField } from './password-field.js';
import { busy, describeError, messageArea, usernameHint } from './ui.js';

/** The server's inactivity limit. */
export const IDLE_LIMIT_SECS = 30 * 60;
/** Warn this long before a deadline. */
export const WARN_BEFORE_SECS = 120;
const POLL_INTERVAL_MS = 30_000;
const TICK_MS = 1_000;
/** At or after a deadline, ask the server at most this often. */
const DEADLINE_CHECK_MS = 5_000;
/** Re-read on focus at most this often. */
const FOCUS_CHECK_MS = 2_000;

/**
 * @typedef {object} MonitorHooks
 * @property {(me: import('./api-client/accounts.js').Me) => void} onMe a fresh `/api/me`
 * @property {() => void} onSignOut the user chose "Sign out" in the dialog
 */

/**
 * @typedef {object} SessionMonitor
 * @property {(me: import('./api-client/accounts.js').Me) => void} update new session data from `/api/me`
 * @property {() => void} noteActivity a user action succeeded
 * @property {() => void} stop
 * @property {() => Promise<void>} check re-read `/api/me` now
 * @property {() => number} serverNow the estimated server time in seconds
 */

/**
 * Starts watching. Call `stop()` on sign-out.
 * @param {import('./api-client/accounts.js').Me} me
 * @param {MonitorHooks} hooks
 * @returns {SessionMonitor}
 */
export function startSessionMonitor(me, hooks) {
  /** Server time minus local time, in seconds. */
  let skew = 0;
  let idleDeadline = 0;
  let absoluteDeadline = 0;
  let stopped = false;
  let lastDeadlineCheck = 0;
  let lastFocusCheck = 0;
  /** The idle deadline the user dismissed the dialog for (do not nag again for it). */
  let dismissedFor = 0;
  /** @type {Promise<void> | null} */
  let checking = null;

  const localNow = () => Date.now() / 1000;
  const serverNow = () => localNow() + skew;

  /** @param {import('./api-client/accounts.js').Me} data */
  function update(data) {
    if (typeof data.now === 'number' && Number.isFinite(data.now)) {
      skew = data.now - localNow();
    }
    if (data.session) {
      applySession(data.session);
    }
  }

  /** @param {Partial<import('./api-client/accounts.js').Session>} session */
  function applySession(session) {
    if (typeof session.idle_expires_at === 'number') {
      idleDeadline = session.idle_expires_at;
    }
    if (typeof session.absolute_expires_at === 'number') {
      absoluteDeadline = session.absolute_expires_at;
    }
  }

  function check() {
    checking ??= (async () => {
      try {
        const fresh = await fetchMe();
        if (!stopped) {
          update(fresh);
          hooks.onMe(fresh);
        }
      } catch {
        // session_expired/unauthorized are handled by the API hook; network trouble is retried.
      } finally {
        checking = null;
      }
    })();
    return checking;
  }

  const dialog = createDialog(me.user.username, {
    reauth: async (password) => {
      /** @type {{ session?: Partial<import('./api-client/accounts.js').Session> }} */
      const answer = await reauth(password);
      if (answer?.session) {
        applySession(answer.session);
      } else {
        idleDeadline = serverNow() + IDLE_LIMIT_SECS;
      }
      void check();
    },
    signOut: () => hooks.onSignOut(),
    dismiss: () => {
      dismissedFor = idleDeadline;
    },
  });

  function tick() {
    if (stopped || !idleDeadline || !absoluteDeadline) {
      return;
    }
    const now = serverNow();
    const end = Math.min(idleDeadline, absoluteDeadline);
    if (now >= end) {
      dialog.close();
      if (Date.now() - lastDeadlineCheck >= DEADLINE_CHECK_MS) {
        lastDeadlineCheck = Date.now();
        void check();
      }
      return;
    }
    const absoluteFirst = absoluteDeadline <= idleDeadline;
    if (end - now <= WARN_BEFORE_SECS && (absoluteFirst || dismissedFor !== idleDeadline)) {
      dialog.show(absoluteFirst ? 'absolute' : 'idle', end - now);
    } else {
      dialog.close();
    }
  }

  const onFocus = () => {
    if (Date.now() - lastFocusCheck >= FOCUS_CHECK_MS) {
      lastFocusCheck = Date.now();
      void check();
    }
  };
  const onVisibility = () => {
    if (document.visibilityState === 'visible') {
      onFocus();
    }
  };

  update(me);
  const ticker = setInterval(tick, TICK_MS);
  const poller = setInterval(() => void check(), POLL_INTERVAL_MS);
  window.addEventListener('focus', onFocus);
  document.addEventListener('visibilitychange', onVisibility);

  return {
    update,
    noteActivity() {
      idleDeadline = Math.max(idleDeadline, serverNow() + IDLE_LIMIT_SECS);
    },
    stop() {
      stopped = true;
      clearInterval(ticker);
      clearInterval(poller);
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('visibilitychange', onVisibility);
      dialog.destroy();
    },
    check,
    serverNow,
  };
}

/**
 * The warning dialog.
 * @param {string} username
 * @param {{ reauth: (password: string) => Promise<void>, signOut: () => void, dismiss: () => void }} actions
 */
function createDialog(username, actions) {
  const titleId = uid('dialog-title');
  const textId = uid('dialog-text');
  const title = h('h2', { id: titleId });
  const text = h('p', { id: textId });
  const time = h('strong', { class: 'countdown' });
  const timeLine = h('p', { class: 'dialog-countdown' });
  const password = passwordField({ label: 'Password', autocomplete: 'current-password' });
  const message = messageArea();
  const stay = h('button', { type: 'submit', class: 'button primary' }, 'Stay signed in');
  const ok = h('button', { type: 'button', class: 'button primary', onclick: () => hide(true) }, 'OK');
  const leave = h('button', { type: 'button', class: 'button secondary', onclick: () => actions.signOut() }, 'Sign out now');
  const form = h(
    'form',
    { class: 'dialog-form', noValidate: true },
    usernameHint(username),
    password.element,
    message.element,
    h('div', { class: 'actions' }, stay, leave),
  );
  const absoluteActions = h('div', { class: 'actions' }, ok);
  const dialog = h(
    'dialog',
    { class: 'dialog', attrs: { 'aria-labelledby': titleId, 'aria-describedby': textId } },
    title,
    text,
    timeLine,
    form,
    absoluteActions,
  );

  /** @type {'idle' | 'absolute' | null} */
  let kind = null;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    if (!password.input.value) {
      password.setError('Enter your password.');
      password.input.focus();
      return;
    }
    void busy(stay, 'Checking…', async () => {
      try {
        await actions.reauth(password.input.value);
        password.clear();
        hide(false);
      } catch (error) {
        const code = /** @type {{ code?: string }} */ (error).code;
        if (code === 'invalid_credentials') {
          password.setError('Wrong password. Please try again.');
          password.input.focus();
        } else {
          message.show('error', describeError(error));
        }
      }
    });
  });
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    hide(true);
  });

  /** @param {boolean} dismissed */
  function hide(dismissed) {
    if (dialog.open) {
      dialog.close();
      if (dismissed) {
        actions.dismiss();
      }
    }
    kind = null;
  }

  return {
    /**
     * @param {'idle' | 'absolute'} which
     * @param {number} remaining seconds
     */
    show(which, remaining) {
      if (kind !== which) {
        kind = which;
        if (which === 'idle') {
          title.textContent = 'Still there?';
          text.textContent = 'You’ll be signed out soon for inactivity — enter your password to stay signed in.';
        } else {
          title.textContent = 'Your session is ending';
          text.textContent =
            'Sessions last at most 12 hours. After that you need to sign in again with your password and second factor.';
        }
        form.hidden = which !== 'idle';
        absoluteActions.hidden = which !== 'absolute';
        message.clear();
        password.clear();
        timeLine.replaceChildren(which === 'idle' ? 'Signing out in ' : 'Ends in ', time);
        if (!dialog.isConnected) {
          document.body.append(dialog);
        }
        if (!dialog.open) {
          dialog.showModal();
        }
        (which === 'idle' ? password.input : ok).focus();
      }
      time.textContent = formatCountdown(remaining);
    },
    close: () => hide(false),
    destroy() {
      hide(false);
      dialog.remove();
    },
  };
}
