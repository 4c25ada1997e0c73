// @ts-check
/**
 * Small shared pieces of UI: labelled fields with help and error text, form messages, busy
 * buttons, countdowns, and the texts for the API's error codes.
 */

import { ApiError } from './api-client/http.js';
import { formatCountdown, h, replace, uid } from './dom.js';
import { TOTP_DIGITS } from './limits.js';

/**
 * A view's lifetime: cleanups run when the router leaves the view.
 * @typedef {object} Scope
 * @property {(fn: () => void) => void} onCleanup
 * @property {() => boolean} alive false once the view has been left
 */

/**
 * @returns {Scope & { dispose: () => void }}
 */
export function createScope() {
  /** @type {(() => void)[]} */
  const cleanups = [];
  let alive = true;
  return {
    onCleanup(fn) {
      if (alive) {
        cleanups.push(fn);
      } else {
        fn();
      }
    },
    alive: () => alive,
    dispose() {
      alive = false;
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch (error) {
          console.error('Parley: cleanup failed', error);
        }
      }
    },
  };
}

/**
 * @typedef {object} Field
 * @property {HTMLElement} element the wrapper
 * @property {HTMLInputElement} input
 * @property {(message: string | null) => void} setError shows an error under the field and marks it invalid
 */

/**
 * A labelled input with optional help text and an error line wired with aria-describedby.
 * @param {object} options
 * @param {string} options.label
 * @param {HTMLInputElement} options.input its `id` is set if missing
 * @param {import('./dom.js').Child} [options.help]
 * @param {import('./dom.js').Child} [options.after] extra content below the input (e.g. a meter)
 * @param {import('./dom.js').Child} [options.inline] content on the input's row (e.g. a toggle)
 * @returns {Field}
 */
export function field({ label, input, help, after, inline }) {
  if (!input.id) {
    input.id = uid('field');
  }
  const errorId = `${input.id}-error`;
  const helpId = `${input.id}-help`;
  const error = h('p', { class: 'field-error', id: errorId, attrs: { 'aria-live': 'polite' } });
  error.hidden = true;
  const describedBy = [help ? helpId : null, errorId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  const element = h(
    'div',
    { class: 'field' },
    h('label', { attrs: { for: input.id } }, label),
    inline ? h('div', { class: 'input-row' }, input, inline) : input,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    error,
    after,
  );
  return {
    element,
    input,
    setError(message) {
      error.textContent = message ?? '';
      error.hidden = !message;
      if (message) {
        input.setAttribute('aria-invalid', 'true');
      } else {
        input.removeAttribute('aria-invalid');
      }
    },
  };
}

/**
 * An `<input>` with sensible defaults.
 * @param {import('./dom.js').Props} props
 * @returns {HTMLInputElement}
 */
export function input(props) {
  return h('input', { type: 'text', ...props });
}

/**
 * The username field of sign-up and sign-in.
 * @param {string} value prefilled
 * @param {{ help?: string, attrs?: Record<string, string | number> }} [more]
 * @returns {Field}
 */
export function usernameField(value, { help, attrs = {} } = {}) {
  const element = input({
    name: 'username',
    autocomplete: 'username',
    required: true,
    value,
    attrs: { autocapitalize: 'none', spellcheck: 'false', ...attrs },
  });
  return field({ label: 'Username', input: element, ...(help === undefined ? {} : { help }) });
}

/** A whole TOTP code, after `cleanCode`: exactly `TOTP_DIGITS` digits. */
export const TOTP_CODE_RE = new RegExp(`^\\d{${TOTP_DIGITS}}$`);

/**
 * A one-time code input (a TOTP code of `TOTP_DIGITS` digits).
 * @param {string} [autocomplete]
 * @returns {HTMLInputElement}
 */
export function totpInput(autocomplete = 'one-time-code') {
  return input({
    name: 'totp',
    inputMode: 'numeric',
    autocomplete,
    required: true,
    attrs: { pattern: `\\s*(\\d\\s*){${TOTP_DIGITS}}`, spellcheck: 'false', placeholder: '123456' },
    class: 'code-input',
  });
}

/**
 * A recovery-code input.
 * @returns {HTMLInputElement}
 */
export function recoveryInput() {
  return input({
    name: 'recovery_code',
    autocomplete: 'off',
    required: true,
    attrs: { autocapitalize: 'none', spellcheck: 'false', placeholder: 'abcd-efgh-ijkl-mnop' },
    class: 'code-input',
  });
}

/** Removes whitespace from a typed one-time code. */
export const cleanCode = (/** @type {string} */ value) => value.replace(/\s+/g, '');

/**
 * @typedef {'info' | 'ok' | 'warn' | 'error'} MessageKind
 */

/**
 * A message area for a form or page; empty and hidden until used. Announced politely, or
 * assertively for errors.
 * @returns {{ element: HTMLElement, show: (kind: MessageKind, ...content: import('./dom.js').Child[]) => void, clear: () => void }}
 */
export function messageArea() {
  const element = h('div', { class: 'message', attrs: { 'aria-live': 'polite' } });
  element.hidden = true;
  return {
    element,
    show(kind, ...content) {
      element.dataset.kind = kind;
      element.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      replace(element, ...content);
      element.hidden = false;
    },
    clear() {
      replace(element);
      element.hidden = true;
      element.removeAttribute('role');
    },
  };
}

/**
 * A notice box that is there from the start (not live).
 * @param {MessageKind} kind
 * @param {...import('./dom.js').Child} content
 * @returns {HTMLElement}
 */
export function notice(kind, ...content) {
  return h('div', { class: 'message', dataset: { kind }, attrs: { role: kind === 'error' ? 'alert' : 'status' } }, ...content);
}

/**
 * A warning announced at once (above a form that had to start again).
 * @param {string} text
 * @returns {HTMLElement}
 */
export function warningAlert(text) {
  return h('div', { class: 'message', dataset: { kind: 'warn' }, attrs: { role: 'alert' } }, text);
}

/**
 * Runs `action` with the button disabled and showing `busyLabel`.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {string} busyLabel
 * @param {() => Promise<T>} action
 * @returns {Promise<T>}
 */
export async function busy(button, busyLabel, action) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = busyLabel;
  try {
    return await action();
  } finally {
    // A rate-limit countdown may have locked the button meanwhile.
    button.disabled = button.dataset.locked === 'true';
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

/**
 * A live "m:ss" countdown in `element`; calls `done` at zero. Returns a stop function and
 * registers it with the scope.
 * @param {Scope} scope
 * @param {number} seconds
 * @param {(remaining: string) => void} render
 * @param {() => void} done
 * @returns {() => void}
 */
export function countdown(scope, seconds, render, done) {
  const end = Date.now() + seconds * 1000;
  const tick = () => {
    const left = (end - Date.now()) / 1000;
    if (left <= 0) {
      stop();
      done();
      return;
    }
    render(formatCountdown(left));
  };
  const timer = setInterval(tick, 250);
  const stop = () => clearInterval(timer);
  scope.onCleanup(stop);
  render(formatCountdown(seconds));
  return stop;
}

/**
 * What to tell people for an error; specific texts for the codes a form does not handle itself.
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (!(error instanceof ApiError)) {
    console.error('Parley: unexpected error', error);
    return 'Something went wrong. Please try again.';
  }
  switch (error.code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'invalid_code':
      return 'That code is not valid: it may be mistyped, expired or already used.';
    case 'captcha_failed':
      return 'The CAPTCHA answer was wrong or the image expired. A new image has been loaded — please try again.';
    case 'csrf_failed':
    case 'cross_site':
      return 'The request was refused for security reasons. Reload the page and try again.';
    case 'rate_limited':
      return `Too many attempts. Please wait ${formatCountdown(error.retryAfter)} before trying again.`;
    case 'busy':
      return 'The server is busy right now. Please try again in a moment.';
    case 'password_change_required':
      return 'Please change your password first (on your account page).';
    case 'internal':
      return 'Something went wrong on the server. Please try again in a moment.';
    default:
      return error.message;
  }
}

/**
 * What to do when a factor is locked after too many failures.
 * @param {unknown} factor `password`, `totp` or `recovery`
 * @param {string} username
 * @returns {string}
 */
export function factorLockedMessage(factor, username) {
  const who = username || '<username>';
  const operator = `ask the server operator to run “parley admin unlock ${who}”`;
  switch (factor) {
    case 'totp':
      return `Authenticator codes are locked for this account after too many wrong codes. Use one of your recovery codes instead, or ${operator}.`;
    case 'recovery':
      return `Recovery codes are locked for this account after too many wrong codes. Use your authenticator app instead, or ${operator}.`;
    case 'password':
      return `Password sign-in is locked for this account after too many wrong passwords. To unlock it, ${operator}.`;
    default:
      return `This sign-in method is locked after too many failed attempts. To unlock it, ${operator}.`;
  }
}

/**
 * A button that is not a submit button.
 * @param {string} label
 * @param {(event: MouseEvent) => void} onClick
 * @param {string} [className]
 * @returns {HTMLButtonElement}
 */
export function button(label, onClick, className = 'button secondary') {
  return h('button', { type: 'button', class: className, onclick: onClick }, label);
}

/**
 * A live countdown message for `rate_limited`; `button` stays disabled until the wait is over.
 * @param {Scope} scope
 * @param {{ show: (kind: MessageKind, ...content: import('./dom.js').Child[]) => void, clear: () => void }} area
 * @param {number} seconds
 * @param {string} prefix e.g. "Too many attempts."
 * @param {HTMLButtonElement} [lockButton]
 * @returns {() => void} stop
 */
export function rateLimitCountdown(scope, area, seconds, prefix, lockButton) {
  const time = h('strong', { class: 'countdown' });
  area.show('error', `${prefix} Please wait `, time, ' before trying again.');
  const unlock = () => {
    if (lockButton) {
      delete lockButton.dataset.locked;
      lockButton.disabled = false;
    }
  };
  if (lockButton) {
    lockButton.dataset.locked = 'true';
    lockButton.disabled = true;
  }
  scope.onCleanup(unlock);
  return countdown(
    scope,
    Math.max(1, seconds),
    (remaining) => {
      time.textContent = remaining;
    },
    () => {
      unlock();
      area.show('info', 'You can try again now.');
    },
  );
}

/**
 * One step of the sign-in or sign-up flow: its heading, then its content.
 * @param {import('./dom.js').Child} heading the h2's content
 * @param {...import('./dom.js').Child} content
 * @returns {HTMLElement}
 */
export function stepPanel(heading, ...content) {
  return h('section', { class: 'step-panel' }, h('h2', {}, heading), ...content);
}

/**
 * A titled section of the page.
 * @param {string} id
 * @param {string} heading
 * @param {...import('./dom.js').Child} content
 * @returns {HTMLElement}
 */
export function section(id, heading, ...content) {
  return h('section', { class: 'panel', id, attrs: { 'aria-labelledby': `${id}-title` } }, h('h2', { id: `${id}-title` }, heading), ...content);
}

/**
 * A hidden username field for forms that ask only for a password, so that password managers
 * know which account the password belongs to.
 * @param {string} username
 * @returns {HTMLInputElement}
 */
export function usernameHint(username) {
  return h('input', {
    type: 'text',
    name: 'username',
    autocomplete: 'username',
    value: username,
    readOnly: true,
    hidden: true,
    tabIndex: -1,
    attrs: { 'aria-hidden': 'true' },
  });
}
