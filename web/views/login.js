// @ts-check
/**
 * `#/login`: password step (with CAPTCHA), then the second factor — a code from the
 * authenticator app or, on request, one of the recovery codes (docs/api.md "Sign-in").
 */

import { login, loginSecondFactor } from '../api-client/accounts.js';
import { captchaField } from '../captcha.js';
import { h, replace } from '../dom.js';
import { TOTP_DIGITS } from '../limits.js';
import { passwordField } from '../password-field.js';
import { secondFactorField } from '../second-factor.js';
import { formElement, handleSubmit, submitButton } from '../form.js';
import { TOTP_CODE_RE, button, stepPanel, usernameField, warningAlert } from '../ui.js';

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
  const user = usernameField(username);
  const password = passwordField({ label: 'Password', autocomplete: 'current-password' });
  const captcha = captchaField(scope);
  const submit = submitButton('Sign in');
  const { form, message } = formElement({ label: 'Sign in', submit }, user.element, password.element, captcha.element);
  void captcha.refresh();

  /** @returns {import('../api-client/contract.js').Login} */
  const values = () => ({ username: user.input.value.trim(), password: password.input.value, ...captcha.values() });
  let sentUsername = '';
  handleSubmit({ form, submit, message }, {
    busyLabel: 'Signing in…',
    scope,
    fields: [user, password, captcha],
    validate: () => {
      const { username, password: typed, captcha_answer: answer } = values();
      /** @type {import('../form.js').Problem[]} */
      const problems = [];
      if (!username) problems.push([user, 'Enter your username.']);
      if (!typed) problems.push([password, 'Enter your password.']);
      if (!answer) problems.push([captcha, 'Type the characters shown in the image.']);
      return problems;
    },
    request: async () => {
      const body = values();
      sentUsername = body.username;
      await login(body);
      show(secondFactorStep(app, scope, show, body.username));
    },
    onError: (error) => captcha.afterError(error),
    errors: {
      invalid_credentials: () => {
        message.show('error', 'Wrong username or password. Please check both and try again.');
        password.input.select();
        password.input.focus();
      },
      captcha_failed: () => {
        captcha.setError('The answer was wrong or the image expired. A new image has been loaded.');
        captcha.input.focus();
      },
    },
    rateLimited: 'Too many sign-in attempts.',
    lockedUsername: () => sentUsername,
  });

  return stepPanel(
    'Sign in',
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
  const submit = submitButton('Verify');
  const cancel = button('Cancel', () => show(passwordStep(app, scope, show, username)));
  const { form, message } = formElement({ label: 'Second step', submit, more: [cancel] }, factor.element);
  /** @type {import('../second-factor.js').FactorMode} the mode of the code sent */
  let mode = factor.mode();
  /** The half-done sign-in expired: back to the password. */
  const expired = () =>
    show(passwordStep(app, scope, show, username, warningAlert('Your sign-in attempt expired. Please enter your password again.')));

  handleSubmit({ form, submit, message }, {
    busyLabel: 'Verifying…',
    scope,
    fields: [factor],
    validate: () => {
      const code = factor.code();
      if (factor.mode() === 'totp' && !TOTP_CODE_RE.test(code)) {
        return [[factor, `Enter the ${TOTP_DIGITS} digits shown in your authenticator app.`]];
      }
      return factor.mode() === 'recovery' && !code ? [[factor, 'Enter one of your recovery codes.']] : [];
    },
    request: async () => {
      mode = factor.mode();
      const answer = await loginSecondFactor(mode, factor.code());
      flashRecoveryState(app, mode, answer);
      await app.signedIn();
    },
    errors: {
      invalid_code: () => {
        factor.setError(
          mode === 'totp'
            ? 'That code is not valid. Enter the current code from your app (each code works once).'
            : 'That recovery code is not valid or has already been used.',
        );
        factor.focus();
      },
      ...Object.fromEntries(['unauthorized', 'session_expired', 'second_factor_required'].map((code) => [code, expired])),
    },
    rateLimited: 'Too many wrong codes.',
    lockedUsername: () => username,
  });

  return stepPanel(
    'Second step',
    h('p', { class: 'lead' }, 'Your password was right. Now prove it’s you with your phone (or a recovery code).'),
    form,
  );
}

/**
 * After sign-in: say how many recovery codes are left, and urge regenerating them.
 * @param {import('../app.js').App} app
 * @param {'totp' | 'recovery'} mode
 * @param {import('../api-client/accounts.js').SignedIn} answer
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
