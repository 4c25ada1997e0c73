// @ts-check
/**
 * `#/register`: sign-up in three steps (docs/api.md "Registration").
 *
 * 1. Username, password (+ confirmation, strength meter, rejection reasons), CAPTCHA.
 * 2. Authenticator app: QR code and key (shown once), then a code from the app.
 * 3. Ten recovery codes (copy / download), "I have saved my recovery codes", Finish.
 */

import { ApiError, post, rejectionReasons } from '../api.js';
import { captchaField } from '../captcha.js';
import { recoveryCodes, totpEnrolment } from '../codes.js';
import { h, replace } from '../dom.js';
import { TOTP_DIGITS, TOTP_PERIOD_SECS, USERNAME_MAX, USERNAME_MIN } from '../limits.js';
import { codePointLength, MIN_PASSWORD_LENGTH, newPasswordHelp, passwordField } from '../password-field.js';
import { TOTP_CODE_RE, busy, cleanCode, describeError, field, input, messageArea, rateLimitCountdown, totpInput } from '../ui.js';

export const title = 'Create account';

const USERNAME_HELP =
  `${USERNAME_MIN}–${USERNAME_MAX} characters: letters (any language), digits, and _ - . — not case-sensitive. Others will see it.`;

/**
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function render(app, scope) {
  const container = h('div', { class: 'view register' });
  /** @param {HTMLElement} step */
  const show = (step) => {
    replace(container, step);
    const heading = step.querySelector('h2');
    if (heading && container.isConnected) {
      heading.tabIndex = -1;
      heading.focus();
    }
  };
  show(accountStep(app, scope, show));
  return container;
}

/**
 * Step indicator: "Step 2 of 3".
 * @param {number} n
 * @param {string} name
 */
function stepHeader(n, name) {
  return [
    h('p', { class: 'step', attrs: { 'aria-hidden': 'true' } }, `Step ${n} of 3`),
    h('h2', {}, h('span', { class: 'visually-hidden' }, `Step ${n} of 3: `), name),
  ];
}

/**
 * Step 1: the account form.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} [username] prefill after "start again"
 * @param {import('../dom.js').Child} [note] shown above the form
 * @returns {HTMLElement}
 */
function accountStep(app, scope, show, username = '', note = null) {
  const user = field({
    label: 'Username',
    input: input({
      name: 'username',
      autocomplete: 'username',
      required: true,
      value: username,
      // `maxlength` counts UTF-16 units, and a code point is at most two: the real check is below.
      attrs: { autocapitalize: 'none', spellcheck: 'false', minlength: USERNAME_MIN, maxlength: 2 * USERNAME_MAX },
    }),
    help: USERNAME_HELP,
  });
  const password = passwordField({
    label: 'Password',
    autocomplete: 'new-password',
    help: newPasswordHelp(),
    meter: true,
    username: () => user.input.value,
    scope,
  });
  const confirm = passwordField({ label: 'Confirm password', autocomplete: 'new-password', name: 'password_confirm' });
  const captcha = captchaField(scope);
  const message = messageArea();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Continue');
  const form = h(
    'form',
    { class: 'form', noValidate: true, attrs: { 'aria-label': 'Create your account' } },
    user.element,
    password.element,
    confirm.element,
    captcha.element,
    message.element,
    h('div', { class: 'actions' }, submit),
  );
  void captcha.refresh();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    for (const f of [user, password, confirm, captcha]) {
      f.setError(null);
    }
    const values = {
      username: user.input.value.trim(),
      password: password.input.value,
      password_confirm: confirm.input.value,
      ...captcha.values(),
    };
    // Quick local checks that say the same as the server (lengths in code points).
    /** @type {{ focus: () => void } | null} */
    let first = null;
    const local = codePointLength(values.username);
    if (local < USERNAME_MIN || local > USERNAME_MAX) {
      user.setError(`Use ${USERNAME_MIN} to ${USERNAME_MAX} characters.`);
      first ??= user.input;
    }
    if (codePointLength(values.password) < MIN_PASSWORD_LENGTH) {
      password.setError(`Use at least ${MIN_PASSWORD_LENGTH} characters (an emoji or accented letter counts as one).`);
      first ??= password.input;
    } else if (values.password !== values.password_confirm) {
      confirm.setError('The two passwords don’t match.');
      first ??= confirm.input;
    }
    if (!values.captcha_answer) {
      captcha.setError('Type the characters shown in the image.');
      first ??= captcha.input;
    }
    if (first) {
      first.focus();
      return;
    }

    void busy(submit, 'Checking…', async () => {
      try {
        /** @type {{ username: string, expires_at: number, totp: import('../api.js').TotpEnrolment }} */
        const answer = await post('/api/register', values);
        show(totpStep(app, scope, show, answer.username || values.username, answer.totp));
      } catch (error) {
        if (!scope.alive()) {
          return;
        }
        // A challenge that was checked is used up; one refused earlier (weak password...) is
        // kept by the server, and so is the typed answer.
        captcha.afterError(error);
        handleAccountError(error, { user, password, confirm, captcha, message, scope, submit });
      }
    });
  });

  return h(
    'section',
    { class: 'step-panel' },
    ...stepHeader(1, 'Create your account'),
    note,
    form,
    h('p', { class: 'alt' }, 'Already have an account? ', h('a', { href: '#/login' }, 'Sign in')),
  );
}

/**
 * @param {unknown} error
 * @param {{
 *   user: import('../ui.js').Field, password: import('../password-field.js').PasswordField,
 *   confirm: import('../password-field.js').PasswordField, captcha: import('../captcha.js').CaptchaField,
 *   message: ReturnType<typeof messageArea>, scope: import('../ui.js').Scope, submit: HTMLButtonElement,
 * }} parts
 */
function handleAccountError(error, { user, password, confirm, captcha, message, scope, submit }) {
  if (!(error instanceof ApiError)) {
    message.show('error', describeError(error));
    return;
  }
  switch (error.code) {
    case 'password_rejected': {
      const reasons = rejectionReasons(error);
      if (reasons.some((r) => r.code === 'mismatch') && reasons.length === 1) {
        confirm.setError(reasons[0]?.message ?? 'The two passwords don’t match.');
        confirm.input.focus();
      } else {
        password.showRejected(reasons.length ? reasons : [{ code: 'rejected', message: error.message }]);
        password.input.focus();
      }
      break;
    }
    case 'username_taken':
      user.setError('That username is already taken. Please choose another.');
      user.input.focus();
      break;
    case 'validation_failed': {
      const fieldName = String(error.extra.field ?? '');
      if (fieldName === 'username') {
        user.setError(error.message || USERNAME_HELP);
        user.input.focus();
      } else if (fieldName === 'password') {
        password.setError(error.message);
        password.input.focus();
      } else if (fieldName === 'password_confirm') {
        confirm.setError(error.message);
        confirm.input.focus();
      } else if (fieldName.startsWith('captcha')) {
        captcha.setError(error.message);
        captcha.input.focus();
      } else {
        message.show('error', error.message);
      }
      break;
    }
    case 'captcha_failed':
      captcha.setError('The answer was wrong or the image expired. A new image has been loaded.');
      captcha.input.focus();
      break;
    case 'rate_limited':
      rateLimitCountdown(scope, message, error.retryAfter, 'Too many sign-up attempts.', submit);
      break;
    default:
      message.show('error', describeError(error));
  }
}

/**
 * The registration timed out or its cookie is gone: back to step 1.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} username
 */
function startAgain(app, scope, show, username) {
  show(
    accountStep(
      app,
      scope,
      show,
      username,
      h(
        'div',
        { class: 'message', dataset: { kind: 'warn' }, attrs: { role: 'alert' } },
        'Your sign-up took longer than 15 minutes (or was started in another browser) and has expired. Nothing was saved — please start again.',
      ),
    ),
  );
}

/**
 * Step 2: bind the authenticator app.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} username
 * @param {import('../api.js').TotpEnrolment} totp
 * @returns {HTMLElement}
 */
function totpStep(app, scope, show, username, totp) {
  const code = field({
    label: `Enter the ${TOTP_DIGITS}-digit code your app shows`,
    input: totpInput(),
    help: `The code changes every ${TOTP_PERIOD_SECS} seconds; enter the current one.`,
  });
  const message = messageArea();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Verify code');
  const form = h('form', { class: 'form', noValidate: true }, code.element, message.element, h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    code.setError(null);
    const value = cleanCode(code.input.value);
    if (!TOTP_CODE_RE.test(value)) {
      code.setError(`Enter the ${TOTP_DIGITS} digits shown in your authenticator app.`);
      code.input.focus();
      return;
    }
    void busy(submit, 'Verifying…', async () => {
      try {
        /** @type {{ recovery_codes: string[] }} */
        const answer = await post('/api/register/totp', { code: value });
        show(recoveryStep(app, scope, show, username, answer.recovery_codes));
      } catch (error) {
        if (error instanceof ApiError && error.code === 'registration_expired') {
          startAgain(app, scope, show, username);
        } else if (error instanceof ApiError && error.code === 'invalid_code') {
          code.setError('That code didn’t match. Check that your phone’s clock is right and enter the current code.');
          code.input.select();
          code.input.focus();
        } else if (error instanceof ApiError && error.code === 'rate_limited') {
          rateLimitCountdown(scope, message, error.retryAfter, 'Too many attempts.', submit);
        } else {
          message.show('error', describeError(error));
        }
      }
    });
  });

  return h(
    'section',
    { class: 'step-panel' },
    ...stepHeader(2, 'Set up your authenticator app'),
    h('p', { class: 'lead' }, 'Signing in to Parley takes your password and a code from an app on your phone.'),
    totpEnrolment(totp),
    form,
  );
}

/**
 * Step 3: recovery codes, then create the account.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {(step: HTMLElement) => void} show
 * @param {string} username
 * @param {string[]} codes
 * @returns {HTMLElement}
 */
function recoveryStep(app, scope, show, username, codes) {
  const saved = h('input', { type: 'checkbox', id: 'saved-codes', name: 'saved', required: true });
  const message = messageArea();
  const submit = h('button', { type: 'submit', class: 'button primary', disabled: true }, 'Finish');
  saved.addEventListener('change', () => {
    submit.disabled = !saved.checked;
  });
  const form = h(
    'form',
    { class: 'form', noValidate: true },
    h('div', { class: 'checkbox' }, saved, h('label', { attrs: { for: saved.id } }, 'I have saved my recovery codes')),
    message.element,
    h('div', { class: 'actions' }, submit),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    if (!saved.checked) {
      message.show('error', 'Please save your recovery codes and tick the box first.');
      return;
    }
    void busy(submit, 'Creating your account…', async () => {
      try {
        await post('/api/register/finish', { saved: true });
        app.flash('ok', `Welcome to Parley, ${username}! Your account is ready.`);
        await app.signedIn('/chat');
      } catch (error) {
        if (error instanceof ApiError && error.code === 'registration_expired') {
          startAgain(app, scope, show, username);
        } else {
          message.show('error', describeError(error));
        }
      }
    });
  });

  return h(
    'section',
    { class: 'step-panel' },
    ...stepHeader(3, 'Save your recovery codes'),
    h(
      'p',
      { class: 'lead' },
      'If you lose your phone, each of these codes lets you sign in once instead of an authenticator code. ',
      h('strong', {}, 'They are shown only now.'),
    ),
    recoveryCodes(codes, username),
    form,
  );
}
