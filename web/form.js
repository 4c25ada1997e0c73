// @ts-check
/**
 * One submit path for every form of the views (issue 11): clear the old errors → validate
 * locally → busy button → request → map the server's error codes to fields and messages.
 *
 * A form says only what differs: its local checks, its request, and what an error code means
 * for its fields. The rest is the same everywhere: an error that is not an `ApiError`, or a code
 * the form does not name, is described by `describeError`; `rate_limited` starts a countdown
 * that keeps the button locked; `factor_locked` says how to unlock; an error that arrives after
 * the view was left is dropped.
 */

import { ApiError } from './api-client/http.js';
import { h } from './dom.js';
import { TOTP_CODE_RE, busy, cleanCode, describeError, factorLockedMessage, messageArea, rateLimitCountdown } from './ui.js';

/**
 * Anything with an error line: a field, a password field, the CAPTCHA, the second factor.
 * @typedef {{ setError: (message: string | null) => void, focus?: () => void, input?: HTMLInputElement }} Checked
 */

/**
 * A local problem: the field it belongs to (focused when it is the first), or null for the
 * form's message area, and what to say.
 * @typedef {[Checked | null, string]} Problem
 */

/**
 * @typedef {ReturnType<typeof import('./ui.js').messageArea>} MessageArea
 */

/**
 * A form's parts the submit path works with (what `formElement` makes, with its submit button).
 * @typedef {object} FormParts
 * @property {HTMLFormElement} form
 * @property {HTMLButtonElement} submit
 * @property {MessageArea} message
 */

/**
 * @typedef {object} SubmitOptions
 * @property {string} busyLabel the button's text while the request runs
 * @property {import('./ui.js').Scope} [scope] the view's scope: errors after it ended are dropped
 * @property {Checked[]} [fields] whose errors are cleared on each submit
 * @property {() => Problem[]} [validate] local checks: any problem stops the submit
 * @property {() => Promise<unknown>} request
 * @property {(error: unknown) => void} [onError] runs first for every error (e.g. the CAPTCHA
 *   loads a new image)
 * @property {Record<string, (error: ApiError) => void>} [errors] what a code means for this form
 * @property {string} [rateLimited] `rate_limited`: the countdown's first sentence
 * @property {() => string} [lockedUsername] `factor_locked`: the username the unlock command names
 */

/** @typedef {FormParts & SubmitOptions} FormOptions */

/**
 * A form of the views: its fields, then the message area, then the actions (submit first).
 * @param {{ label?: string, submit: HTMLButtonElement, more?: HTMLButtonElement[] }} options
 *   `label`: the form's accessible name; `more`: buttons after the submit button
 * @param {...import('./dom.js').Child} children
 * @returns {{ form: HTMLFormElement, message: MessageArea }}
 */
export function formElement({ label, submit, more = [] }, ...children) {
  const message = messageArea();
  const form = h(
    'form',
    { class: 'form', noValidate: true, attrs: { 'aria-label': label } },
    ...children,
    message.element,
    h('div', { class: 'actions' }, submit, ...more),
  );
  return { form, message };
}

/**
 * A submit button.
 * @param {string} label
 * @param {string} [className]
 * @returns {HTMLButtonElement}
 */
export function submitButton(label, className = 'button primary') {
  return h('button', { type: 'submit', class: className }, label);
}

/**
 * The local check of a typed authenticator code.
 * @param {import('./ui.js').Field} code
 * @param {string} problem what to say when it is not `TOTP_DIGITS` digits
 * @returns {Problem[]}
 */
export function totpCodeProblems(code, problem) {
  return TOTP_CODE_RE.test(cleanCode(code.input.value)) ? [] : [[code, problem]];
}

/**
 * Wires a form's submit event to `submitForm`.
 * @param {FormParts} parts
 * @param {SubmitOptions} options
 */
export function handleSubmit(parts, options) {
  parts.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitForm({ ...parts, ...options });
  });
}

/**
 * Focuses a field: its own `focus`, else its input.
 * @param {Checked} target
 */
export function focusField(target) {
  if (target.focus) {
    target.focus();
  } else {
    target.input?.focus();
  }
}

/**
 * One submit: see the module comment.
 * @param {FormOptions} options
 * @returns {Promise<void>}
 */
export async function submitForm(options) {
  const { submit, busyLabel, message, scope, fields = [], validate, request } = options;
  message.clear();
  for (const f of fields) {
    f.setError(null);
  }
  const problems = validate?.() ?? [];
  for (const [target, text] of problems) {
    if (target) {
      target.setError(text);
    } else {
      message.show('error', text);
    }
  }
  const first = problems.find(([target]) => target !== null)?.[0];
  if (first) {
    focusField(first);
  }
  if (problems.length) {
    return;
  }
  await busy(submit, busyLabel, async () => {
    try {
      await request();
    } catch (error) {
      if (scope && !scope.alive()) {
        return;
      }
      showError(error, options);
    }
  });
}

/**
 * @param {unknown} error
 * @param {FormOptions} options
 */
function showError(error, { submit, message, scope, onError, errors = {}, rateLimited, lockedUsername }) {
  onError?.(error);
  if (!(error instanceof ApiError)) {
    message.show('error', describeError(error));
    return;
  }
  const own = Object.hasOwn(errors, error.code) ? errors[error.code] : undefined;
  if (own) {
    own(error);
  } else if (error.code === 'rate_limited' && rateLimited !== undefined && scope) {
    rateLimitCountdown(scope, message, error.retryAfter, rateLimited, submit);
  } else if (error.code === 'factor_locked' && lockedUsername) {
    message.show('error', factorLockedMessage(error.extra.factor, lockedUsername()));
  } else {
    message.show('error', describeError(error));
  }
}
