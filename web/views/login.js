// @ts-check
/**
 * `#/login`: password step (with CAPTCHA), then the second factor — a code from the
 * authenticator app or, on request, one of the recovery codes (docs/api.md "Sign-in").
 */

import { ApiError, post } from '../api.js';
import { captchaField } from '../captcha.js';
import { h, replace } from '../dom.js';
import { TOTP_DIGITS } from '../limits.js';
import { passwordField } from '../password-field.js';
import { secondFactorField } from '../second-factor.js';
import { TOTP_CODE_RE, busy, describeError, factorLockedMessage, field, input, messageArea, rateLimitCountdown } from '../ui.js';

export const title = 'Sign in';

/** Warn about running out of recovery codes at or below this many. */
const FEW_RECOVERY_CODES = 3;

/**
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function render(app, scope) {
  const container = h('div', { class: 'view login' });
  /** @param {HTMLElement} step */
  const show = (step) => {
    replace(container, step);
    if (container.isConnected) {
      const focusable = step.querySelector('input:not([disabled])');
      if (focusable instanceof HTMLElement) {
        focusable.focus();
      }
    }
  };
  show(passwordStep(app, scope, show));
  return container;
}

/**
 * Step 1: username, password, CAPTCHA.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} [username]
 * @param {import('../dom.js').Child} [note]
 * @returns {HTMLElement}
 */
function passwordStep(app, scope, show, username = '', note = null) {
  const user = field({
    label: 'Username',
    input: input({
      name: 'username',
      autocomplete: 'username',
      required: true,
      value: username,
      attrs: { autocapitalize: 'none', spellcheck: 'false' },
    }),
  });
  const password = passwordField({ label: 'Password', autocomplete: 'current-password' });
  const captcha = captchaField(scope);
  const message = messageArea();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'form', noValidate: true, attrs: { 'aria-label': 'Sign in' } },
    user.element,
    password.element,
    captcha.element,
    message.element,
    h('div', { class: 'actions' }, submit),
  );
  void captcha.refresh();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    for (const f of [user, password, captcha]) {
      f.setError(null);
    }
    const values = {
      username: user.input.value.trim(),
      password: password.input.value,
      ...captcha.values(),
    };
    /** @type {HTMLInputElement | null} */
    let first = null;
    if (!values.username) {
      user.setError('Enter your username.');
      first ??= user.input;
    }
    if (!values.password) {
      password.setError('Enter your password.');
      first ??= password.input;
    }
    if (!values.captcha_answer) {
      captcha.setError('Type the characters shown in the image.');
      first ??= captcha.input;
    }
    if (first) {
      first.focus();
      return;
    }

    void busy(submit, 'Signing in…', async () => {
      try {
        await post('/api/login', values);
        show(secondFactorStep(app, scope, show, values.username));
      } catch (error) {
        if (!scope.alive()) {
          return;
        }
        captcha.afterError(error);
        if (!(error instanceof ApiError)) {
          message.show('error', describeError(error));
          return;
        }
        switch (error.code) {
          case 'invalid_credentials':
            message.show('error', 'Wrong username or password. Please check both and try again.');
            password.input.select();
            password.input.focus();
            break;
          case 'captcha_failed':
            captcha.setError('The answer was wrong or the image expired. A new image has been loaded.');
            captcha.input.focus();
            break;
          case 'rate_limited':
            rateLimitCountdown(scope, message, error.retryAfter, 'Too many sign-in attempts.', submit);
            break;
          case 'factor_locked':
            message.show('error', factorLockedMessage(error.extra.factor, values.username));
            break;
          default:
            message.show('error', describeError(error));
        }
      }
    });
  });

  return h(
    'section',
    { class: 'step-panel' },
    h('h2', {}, 'Sign in'),
    note,
    form,
    h('p', { class: 'alt' }, 'New to Parley? ', h('a', { href: '#/register' }, 'Create an account')),
  );
}

/**
 * Step 2: authenticator code or recovery code.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} username
 * @returns {HTMLElement}
 */
function secondFactorStep(app, scope, show, username) {
  const factor = secondFactorField();
  const message = messageArea();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Verify');
  const cancel = h(
    'button',
    { type: 'button', class: 'button secondary', onclick: () => show(passwordStep(app, scope, show, username)) },
    'Cancel',
  );
  const form = h(
    'form',
    { class: 'form', noValidate: true, attrs: { 'aria-label': 'Second step' } },
    factor.element,
    message.element,
    h('div', { class: 'actions' }, submit, cancel),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    factor.setError(null);
    const mode = factor.mode();
    const code = factor.code();
    if (mode === 'totp' && !TOTP_CODE_RE.test(code)) {
      factor.setError(`Enter the ${TOTP_DIGITS} digits shown in your authenticator app.`);
      factor.focus();
      return;
    }
    if (mode === 'recovery' && !code) {
      factor.setError('Enter one of your recovery codes.');
      factor.focus();
      return;
    }
    void busy(submit, 'Verifying…', async () => {
      try {
        /** @type {{ recovery_codes_remaining?: number, warning?: string }} */
        const answer = await post(mode === 'totp' ? '/api/login/totp' : '/api/login/recovery', { code });
        flashRecoveryState(app, mode, answer);
        await app.signedIn();
      } catch (error) {
        if (!scope.alive()) {
          return;
        }
        if (!(error instanceof ApiError)) {
          message.show('error', describeError(error));
          return;
        }
        switch (error.code) {
          case 'invalid_code':
            factor.setError(
              mode === 'totp'
                ? 'That code is not valid. Enter the current code from your app (each code works once).'
                : 'That recovery code is not valid or has already been used.',
            );
            factor.focus();
            break;
          case 'rate_limited':
            rateLimitCountdown(scope, message, error.retryAfter, 'Too many wrong codes.', submit);
            break;
          case 'factor_locked':
            message.show('error', factorLockedMessage(error.extra.factor, username));
            break;
          case 'unauthorized':
          case 'session_expired':
          case 'second_factor_required':
            show(
              passwordStep(
                app,
                scope,
                show,
                username,
                h(
                  'div',
                  { class: 'message', dataset: { kind: 'warn' }, attrs: { role: 'alert' } },
                  'Your sign-in attempt expired. Please enter your password again.',
                ),
              ),
            );
            break;
          default:
            message.show('error', describeError(error));
        }
      }
    });
  });

  return h(
    'section',
    { class: 'step-panel' },
    h('h2', {}, 'Second step'),
    h('p', { class: 'lead' }, 'Your password was right. Now prove it’s you with your phone (or a recovery code).'),
    form,
  );
}

/**
 * After sign-in: say how many recovery codes are left, and urge regenerating them.
 * @param {import('../app.js').App} app
 * @param {'totp' | 'recovery'} mode
 * @param {{ recovery_codes_remaining?: number, warning?: string }} answer
 */
function flashRecoveryState(app, mode, answer) {
  const remaining = typeof answer.recovery_codes_remaining === 'number' ? answer.recovery_codes_remaining : null;
  const link = h('a', { href: '#/account' }, 'Create new recovery codes on your account page');
  if (mode === 'recovery') {
    app.flash(
      'warn',
      h('strong', { class: 'flash-title' }, 'You signed in with a recovery code.'),
      ' ',
      // The count is said once, here (issue 14 item 7); the server's own sentence repeats
      // it, so it is shown only when the count is missing.
      remaining === null ? (answer.warning ?? 'That code can’t be used again.') : 'That code can’t be used again.',
      h(
        'span',
        { class: 'flash-line' },
        remaining === null ? '' : h('strong', { class: 'flash-count' }, `Recovery codes left: ${remaining}. `),
        link,
        '.',
      ),
    );
  } else if (remaining !== null && remaining <= FEW_RECOVERY_CODES) {
    app.flash(
      'warn',
      `You have only ${remaining} recovery ${remaining === 1 ? 'code' : 'codes'} left. `,
      link,
      '.',
    );
  }
}
