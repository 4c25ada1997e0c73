// @ts-check
/**
 * `#/register`: sign-up in three steps (docs/api.md "Registration").
 *
 * 1. Username, password (+ confirmation, strength meter, rejection reasons), CAPTCHA.
 * 2. Authenticator app: QR code and key (shown once), then a code from the app.
 * 3. Ten recovery codes (copy / download), "I have saved my recovery codes", Finish.
 */

import { register, registerFinish, registerTotp, rejectionReasons } from '../api-client/accounts.js';
import { captchaField } from '../captcha.js';
import { recoveryCodes, totpEnrolment } from '../codes.js';
import { h, replace } from '../dom.js';
import { TOTP_DIGITS, TOTP_PERIOD_SECS, USERNAME_MAX, USERNAME_MIN } from '../limits.js';
import { codePointLength, MIN_PASSWORD_LENGTH, newPasswordHelp, passwordField } from '../password-field.js';
import { focusField, formElement, handleSubmit, submitButton, totpCodeProblems } from '../form.js';
import { cleanCode, field, totpInput, usernameField, warningAlert } from '../ui.js';

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
  const user = usernameField(username, {
    help: USERNAME_HELP,
    // `maxlength` counts UTF-16 units, and a code point is at most two: the real check is below.
    attrs: { minlength: USERNAME_MIN, maxlength: 2 * USERNAME_MAX },
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
  const submit = submitButton('Continue');
  const { form, message } = formElement(
    { label: 'Create your account', submit },
    user.element,
    password.element,
    confirm.element,
    captcha.element,
  );
  void captcha.refresh();

  /** @returns {import('../api-client/contract.js').RegisterStart} */
  const values = () => ({
    username: user.input.value.trim(),
    password: password.input.value,
    password_confirm: confirm.input.value,
    ...captcha.values(),
  });
  handleSubmit({ form, submit, message }, {
    busyLabel: 'Checking…',
    scope,
    fields: [user, password, confirm, captcha],
    // Quick local checks that say the same as the server (lengths in code points).
    validate: () => {
      const typed = values();
      /** @type {import('../form.js').Problem[]} */
      const problems = [];
      const local = codePointLength(typed.username);
      if (local < USERNAME_MIN || local > USERNAME_MAX) {
        problems.push([user, `Use ${USERNAME_MIN} to ${USERNAME_MAX} characters.`]);
      }
      if (codePointLength(typed.password) < MIN_PASSWORD_LENGTH) {
        problems.push([password, `Use at least ${MIN_PASSWORD_LENGTH} characters (an emoji or accented letter counts as one).`]);
      } else if (typed.password !== typed.password_confirm) {
        problems.push([confirm, 'The two passwords don’t match.']);
      }
      if (!typed.captcha_answer) {
        problems.push([captcha, 'Type the characters shown in the image.']);
      }
      return problems;
    },
    request: async () => {
      const body = values();
      const answer = await register(body);
      show(totpStep(app, scope, show, answer.username || body.username, answer.totp));
    },
    // A challenge that was checked is used up; one refused earlier (weak password...) is
    // kept by the server, and so is the typed answer.
    onError: (error) => captcha.afterError(error),
    errors: accountErrors({ user, password, confirm, captcha, message }),
    rateLimited: 'Too many sign-up attempts.',
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
 * What the server's refusals of step 1 mean for its fields.
 * @param {{
 *   user: import('../ui.js').Field, password: import('../password-field.js').PasswordField,
 *   confirm: import('../password-field.js').PasswordField, captcha: import('../captcha.js').CaptchaField,
 *   message: import('../form.js').MessageArea,
 * }} parts
 * @returns {Record<string, (error: import('../api-client/http.js').ApiError) => void>}
 */
function accountErrors({ user, password, confirm, captcha, message }) {
  return {
    password_rejected: (error) => {
      const reasons = rejectionReasons(error);
      if (reasons.some((r) => r.code === 'mismatch') && reasons.length === 1) {
        confirm.setError(reasons[0]?.message ?? 'The two passwords don’t match.');
        confirm.input.focus();
      } else {
        password.showRejected(reasons.length ? reasons : [{ code: 'rejected', message: error.message }]);
        password.input.focus();
      }
    },
    username_taken: () => {
      user.setError('That username is already taken. Please choose another.');
      user.input.focus();
    },
    validation_failed: (error) => {
      const fieldName = String(error.extra.field ?? '');
      /** @type {import('../form.js').Checked | null} */
      let target = null;
      if (fieldName === 'username') {
        target = user;
      } else if (fieldName === 'password') {
        target = password;
      } else if (fieldName === 'password_confirm') {
        target = confirm;
      } else if (fieldName.startsWith('captcha')) {
        target = captcha;
      }
      if (!target) {
        message.show('error', error.message);
        return;
      }
      target.setError(target === user ? error.message || USERNAME_HELP : error.message);
      focusField(target);
    },
    captcha_failed: () => {
      captcha.setError('The answer was wrong or the image expired. A new image has been loaded.');
      captcha.input.focus();
    },
  };
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
      warningAlert(
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
 * @param {import('../api-client/accounts.js').TotpEnrolment} totp
 * @returns {HTMLElement}
 */
function totpStep(app, scope, show, username, totp) {
  const code = field({
    label: `Enter the ${TOTP_DIGITS}-digit code your app shows`,
    input: totpInput(),
    help: `The code changes every ${TOTP_PERIOD_SECS} seconds; enter the current one.`,
  });
  const submit = submitButton('Verify code');
  const { form, message } = formElement({ submit }, code.element);

  handleSubmit({ form, submit, message }, {
    busyLabel: 'Verifying…',
    scope,
    fields: [code],
    validate: () => totpCodeProblems(code, `Enter the ${TOTP_DIGITS} digits shown in your authenticator app.`),
    request: async () => {
      const answer = await registerTotp(cleanCode(code.input.value));
      show(recoveryStep(app, scope, show, username, answer.recovery_codes));
    },
    errors: {
      registration_expired: () => startAgain(app, scope, show, username),
      invalid_code: () => {
        code.setError('That code didn’t match. Check that your phone’s clock is right and enter the current code.');
        code.input.select();
        code.input.focus();
      },
    },
    rateLimited: 'Too many attempts.',
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
  const submit = submitButton('Finish');
  submit.disabled = true;
  saved.addEventListener('change', () => {
    submit.disabled = !saved.checked;
  });
  const { form, message } = formElement(
    { submit },
    h('div', { class: 'checkbox' }, saved, h('label', { attrs: { for: saved.id } }, 'I have saved my recovery codes')),
  );

  handleSubmit({ form, submit, message }, {
    busyLabel: 'Creating your account…',
    scope,
    validate: () => (saved.checked ? [] : [[null, 'Please save your recovery codes and tick the box first.']]),
    request: async () => {
      await registerFinish();
      app.flash('ok', `Welcome to Parley, ${username}! Your account is ready.`);
      await app.signedIn('/chat');
    },
    errors: { registration_expired: () => startAgain(app, scope, show, username) },
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
