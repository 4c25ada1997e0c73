// @ts-check
/**
 * The account page's forms that change authenticators (docs/api.md "Managing
 * authenticators"): change password, replace the authenticator app, new recovery codes, delete
 * the account. Each asks again for the password and, except the password change, a second
 * factor (authenticator code or a recovery code).
 */

import { changePassword, confirmTotp, deleteAccount, newRecoveryCodes, rejectionReasons, startTotp } from '../api-client/accounts.js';
import { recoveryCodes, totpEnrolment } from '../codes.js';
import { h, replace } from '../dom.js';
import { TOTP_DIGITS } from '../limits.js';
import { newPasswordHelp, passwordField } from '../password-field.js';
import { forgetAll } from '../protocol.js';
import { secondFactorField } from '../second-factor.js';
import { formElement, handleSubmit, submitButton, totpCodeProblems } from '../form.js';
import { TOTP_CODE_RE, button, cleanCode, describeError, field, notice, section, totpInput, usernameHint } from '../ui.js';

/** @typedef {import('../api-client/accounts.js').Credentials} Credentials */

/**
 * A form asking for the password and a second factor, with the common error handling.
 * @param {object} options
 * @param {import('../app.js').App} options.app
 * @param {import('../ui.js').Scope} options.scope
 * @param {string} options.submitLabel
 * @param {string} options.busyLabel
 * @param {boolean} [options.danger]
 * @param {import('../dom.js').Child} [options.extra] more fields (e.g. a confirmation checkbox)
 * @param {() => string | null} [options.validate] a problem to show instead of submitting
 * @param {(credentials: Credentials) => Promise<void>} options.onSubmit
 */
function reauthForm({ app, scope, submitLabel, busyLabel, danger = false, extra, validate, onSubmit }) {
  const password = passwordField({ label: 'Your password', autocomplete: 'current-password' });
  const factor = secondFactorField({
    totpLabel: 'Code from your authenticator app',
    recoveryLabel: 'One of your recovery codes',
  });
  const submit = submitButton(submitLabel, danger ? 'button danger' : 'button primary');
  const { form, message } = formElement(
    { submit },
    usernameHint(app.me()?.user.username ?? ''),
    password.element,
    factor.element,
    extra,
  );

  handleSubmit({ form, submit, message }, {
    busyLabel,
    scope,
    fields: [password, factor],
    validate: () => {
      if (!password.input.value) {
        return [[password, 'Enter your password.']];
      }
      const code = factor.code();
      if (factor.mode() === 'totp' ? !TOTP_CODE_RE.test(code) : !code) {
        return [[factor, factor.mode() === 'totp' ? `Enter the ${TOTP_DIGITS} digits from your authenticator app.` : 'Enter one of your recovery codes.']];
      }
      const problem = validate?.();
      return problem ? [[null, problem]] : [];
    },
    request: async () => {
      await onSubmit({ password: password.input.value, ...factor.value() });
      password.clear();
      factor.clear();
    },
    ...reauthErrors(app, { password, factor, message }),
  });

  return { form, message, reset: () => (password.clear(), factor.clear(), message.clear()) };
}

/**
 * What a refused re-authentication means: the password or the code was wrong, too many tries,
 * or a locked factor.
 * @param {import('../app.js').App} app
 * @param {{
 *   password: import('../password-field.js').PasswordField,
 *   factor?: import('../second-factor.js').SecondFactorField,
 *   message: import('../form.js').MessageArea,
 * }} parts
 * @returns {Pick<import('../form.js').FormOptions, 'errors' | 'rateLimited' | 'lockedUsername'>}
 */
function reauthErrors(app, { password, factor, message }) {
  return {
    errors: {
      invalid_credentials: () => {
        password.setError('That is not your current password.');
        password.input.focus();
      },
      invalid_code: (error) => {
        if (factor) {
          factor.setError('That code is not valid: it may be mistyped, expired or already used.');
          factor.focus();
        } else {
          message.show('error', describeError(error));
        }
      },
    },
    rateLimited: 'Too many attempts.',
    lockedUsername: () => app.me()?.user.username ?? '',
  };
}

/**
 * "Change password": current, new (with meter), confirmation.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
export function changePasswordSection(app, scope, reload) {
  const current = passwordField({ label: 'Current password', autocomplete: 'current-password' });
  const next = passwordField({
    label: 'New password',
    name: 'new_password',
    autocomplete: 'new-password',
    help: newPasswordHelp(),
    meter: true,
    username: () => app.me()?.user.username ?? '',
    scope,
  });
  const confirm = passwordField({ label: 'Confirm new password', name: 'new_password_confirm', autocomplete: 'new-password' });
  const submit = submitButton('Change password');
  const { form, message } = formElement(
    { label: 'Change password', submit },
    usernameHint(app.me()?.user.username ?? ''),
    current.element,
    next.element,
    confirm.element,
  );

  const { errors, ...reauth } = reauthErrors(app, { password: current, message });
  handleSubmit({ form, submit, message }, {
    busyLabel: 'Changing…',
    scope,
    fields: [current, next, confirm],
    validate: () => {
      if (!current.input.value) {
        return [[current, 'Enter your current password.']];
      }
      return next.input.value !== confirm.input.value ? [[confirm, 'The two new passwords don’t match.']] : [];
    },
    request: async () => {
      await changePassword({
        password: current.input.value,
        new_password: next.input.value,
        new_password_confirm: confirm.input.value,
      });
      current.clear();
      next.clear();
      confirm.clear();
      message.show('ok', 'Your password has been changed. Use the new one next time you sign in. Every other session of your account has been signed out.');
      reload();
    },
    ...reauth,
    errors: {
      ...errors,
      password_rejected: (error) => {
        const reasons = rejectionReasons(error);
        next.showRejected(reasons.length ? reasons : [{ code: 'rejected', message: error.message }]);
        next.input.focus();
      },
      validation_failed: (error) => {
        if (String(error.extra.field).startsWith('new_password')) {
          next.setError(error.message);
          next.input.focus();
        } else {
          message.show('error', describeError(error));
        }
      },
    },
  });

  return section('account-password', 'Change password', form);
}

/**
 * A section that asks again for the password and a second factor (`reauthForm`) after `intro`,
 * sends them with `request` and hands the answer to `then`, which shows what comes next in the
 * section's `body`; `start` shows the form again (after `note`).
 * @template T
 * @param {object} options
 * @param {import('../app.js').App} options.app
 * @param {import('../ui.js').Scope} options.scope
 * @param {string} options.id
 * @param {string} options.heading
 * @param {import('../dom.js').Child} options.intro
 * @param {string} options.submitLabel
 * @param {string} options.busyLabel
 * @param {(credentials: Credentials) => Promise<T>} options.request
 * @param {(answer: T, body: HTMLElement, start: (note?: import('../dom.js').Child) => void) => void} options.then
 * @returns {HTMLElement}
 */
function reauthSection({ app, scope, id, heading, intro, submitLabel, busyLabel, request, then }) {
  const body = h('div', {});
  function start(/** @type {import('../dom.js').Child} */ note = null) {
    const { form } = reauthForm({
      app,
      scope,
      submitLabel,
      busyLabel,
      onSubmit: async (credentials) => then(await request(credentials), body, start),
    });
    replace(body, note, intro, form);
  }
  start();
  return section(id, heading, body);
}

/**
 * "Replace authenticator app": re-authenticate, scan the new QR, confirm with a code.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
export function replaceTotpSection(app, scope, reload) {
  return reauthSection({
    app,
    scope,
    id: 'account-totp',
    heading: 'Replace authenticator app',
    intro: h(
      'p',
      { class: 'help' },
      'Moving to a new phone or app? Confirm it’s you, then scan the new QR code. The old app stops working once the new one is confirmed.',
    ),
    submitLabel: 'Set up a new app',
    busyLabel: 'Checking…',
    request: startTotp,
    then: (answer, body, start) => confirmTotpStep(scope, reload, body, start, answer.totp),
  });
}

/**
 * The second step of "Replace authenticator app": the new QR code and a code from the new app.
 * @param {import('../ui.js').Scope} scope
 * @param {() => void} reload
 * @param {HTMLElement} body the section's
 * @param {(note?: import('../dom.js').Child) => void} start back to the first step
 * @param {import('../api-client/accounts.js').TotpEnrolment} totp
 */
function confirmTotpStep(scope, reload, body, start, totp) {
  const code = field({ label: `Enter the ${TOTP_DIGITS}-digit code the new app shows`, input: totpInput() });
  const submit = submitButton('Activate new app');
  const cancel = button('Cancel', () => start());
  const { form, message } = formElement({ submit, more: [cancel] }, code.element);
  handleSubmit({ form, submit, message }, {
    busyLabel: 'Verifying…',
    scope,
    fields: [code],
    validate: () => totpCodeProblems(code, `Enter the ${TOTP_DIGITS} digits shown in your new authenticator app.`),
    request: async () => {
      await confirmTotp(cleanCode(code.input.value));
      start(notice('ok', 'Your new authenticator app is active. Codes from the old one no longer work. Every other session of your account has been signed out.'));
      reload();
    },
    errors: {
      invalid_code: () => {
        code.setError('That code didn’t match. Check that your phone’s clock is right and enter the current code.');
        code.input.focus();
      },
    },
    rateLimited: 'Too many attempts.',
  });
  replace(body, totpEnrolment(totp), form);
  code.input.focus();
}

/**
 * "New recovery codes": re-authenticate, show ten new codes; the old ones die.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
export function recoveryCodesSection(app, scope, reload) {
  return reauthSection({
    app,
    scope,
    id: 'account-recovery',
    heading: 'New recovery codes',
    intro: h('p', { class: 'help' }, 'Lost your codes or used some? Create a fresh set of ten. Your current codes stop working at once.'),
    submitLabel: 'Create new recovery codes',
    busyLabel: 'Creating…',
    request: newRecoveryCodes,
    then: (answer, body, start) => {
      reload();
      const done = button('I have saved them', () => start(), 'button primary');
      replace(
        body,
        notice('ok', 'Here are your new recovery codes. Your old codes no longer work. These are shown only now. Every other session of your account has been signed out.'),
        recoveryCodes(answer.recovery_codes, app.me()?.user.username ?? ''),
        h('div', { class: 'actions' }, done),
      );
      done.focus();
    },
  });
}

/**
 * "Delete account": re-authenticate and confirm; then the account is gone.
 * @param {import('../app.js').App} app
 * @param {import('../ui.js').Scope} scope
 * @returns {HTMLElement}
 */
export function deleteAccountSection(app, scope) {
  const understood = h('input', { type: 'checkbox', id: 'confirm-delete', name: 'confirm' });
  const { form } = reauthForm({
    app,
    scope,
    danger: true,
    submitLabel: 'Delete my account',
    busyLabel: 'Deleting…',
    extra: h(
      'div',
      { class: 'checkbox' },
      understood,
      h('label', { attrs: { for: understood.id } }, 'I understand that my account, my sessions and my keys will be deleted permanently. The people I talked to keep their copy of our conversations.'),
    ),
    validate: () => (understood.checked ? null : 'Tick the box to confirm that you want to delete your account.'),
    onSubmit: async (credentials) => {
      const userId = app.me()?.user.id;
      await deleteAccount(credentials);
      // The account is gone, so are its keys in this browser: the private identity key, the
      // key sets and counters (issue 14 item 3). Other tabs lose them too (shared storage).
      if (userId) {
        forgetAll(localStorage, userId);
      }
      app.forgetSession({ kind: 'ok', content: ['Your account has been deleted. Its keys were erased from this browser. Goodbye!'] }, '/');
    },
  });
  return section(
    'account-delete',
    'Delete account',
    h('p', { class: 'help' }, 'This cannot be undone. Your username may later be taken by someone else.'),
    form,
  );
}
