// @ts-check
/**
 * The shared password input (NIST SP 800-63B §5.1.1.2): any characters, no maximum length,
 * pasting and password managers allowed (no paste/drop/copy blocking), a show/hide toggle, and
 * optionally a strength meter fed by `POST /api/password/check` (debounced) that shows the
 * score, the server's warning and suggestions, and — after a `password_rejected` error — every
 * reason, with the request to choose a different password.
 */

import { checkPassword } from './api-client/accounts.js';
import { h, replace, uid } from './dom.js';
import { PASSWORD_MIN_CODE_POINTS } from './limits.js';
import { field } from './ui.js';

/** Wait this long after the last keystroke before asking the server. */
const CHECK_DEBOUNCE_MS = 300;
/** The minimum length, counted in Unicode code points (as the server does). */
export const MIN_PASSWORD_LENGTH = PASSWORD_MIN_CODE_POINTS;
const SCORE_LABELS = ['Very weak', 'Weak', 'Fair', 'Good', 'Strong'];

/**
 * Length in Unicode code points: `😀` is one character, not two UTF-16 units.
 * @param {string} text
 * @returns {number}
 */
export function codePointLength(text) {
  return [...text].length;
}

/**
 * @typedef {object} PasswordField
 * @property {HTMLElement} element
 * @property {HTMLInputElement} input
 * @property {HTMLButtonElement} toggle
 * @property {(message: string | null) => void} setError
 * @property {(reasons: import('./api-client/accounts.js').Reason[]) => void} showRejected
 * @property {() => void} clear empties the field and its feedback
 */

/**
 * @param {object} options
 * @param {string} options.label
 * @param {'new-password' | 'current-password'} options.autocomplete
 * @param {string} [options.name]
 * @param {import('./dom.js').Child} [options.help]
 * @param {boolean} [options.meter] show the strength meter (for new passwords)
 * @param {() => string} [options.username] context for the server's check
 * @param {import('./ui.js').Scope} [options.scope] cancels pending checks when the view goes
 * @returns {PasswordField}
 */
export function passwordField({ label, autocomplete, name = 'password', help, meter = false, username, scope }) {
  const input = h('input', {
    type: 'password',
    name,
    id: uid('password'),
    autocomplete,
    required: true,
    class: 'password-input',
    attrs: { autocapitalize: 'none', autocorrect: 'off', spellcheck: 'false' },
  });
  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'toggle',
      attrs: { 'aria-controls': input.id, 'aria-pressed': 'false', 'aria-label': `Show ${label.toLowerCase()}` },
      onclick: () => setVisible(input.type === 'password'),
    },
    'Show',
  );

  /** @param {boolean} visible */
  function setVisible(visible) {
    input.type = visible ? 'text' : 'password';
    toggle.textContent = visible ? 'Hide' : 'Show';
    toggle.setAttribute('aria-pressed', String(visible));
    toggle.setAttribute('aria-label', `${visible ? 'Hide' : 'Show'} ${label.toLowerCase()}`);
  }

  const rejected = h('div', { class: 'rejected', attrs: { role: 'alert' } });
  rejected.hidden = true;
  const meterView = meter ? createMeter(input, username, scope) : null;

  const base = field({
    label,
    input,
    help,
    inline: toggle,
    after: [rejected, meterView?.element],
  });

  input.addEventListener('input', () => {
    rejected.hidden = true;
    base.setError(null);
  });

  return {
    element: base.element,
    input,
    toggle,
    setError: base.setError,
    showRejected(reasons) {
      replace(
        rejected,
        h('p', { class: 'rejected-title' }, 'This password can’t be used:'),
        h('ul', {}, reasons.map((reason) => h('li', { dataset: { code: reason.code } }, reason.message))),
        h('p', { class: 'rejected-advice' }, 'Please choose a different password.'),
      );
      rejected.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      meterView?.refresh();
    },
    clear() {
      input.value = '';
      setVisible(false);
      rejected.hidden = true;
      base.setError(null);
      meterView?.refresh();
    },
  };
}

/**
 * The strength meter under a new-password input.
 * @param {HTMLInputElement} input
 * @param {(() => string) | undefined} username
 * @param {import('./ui.js').Scope | undefined} scope
 */
function createMeter(input, username, scope) {
  const fill = h('div', { class: 'meter-fill' });
  const label = h('span', { class: 'meter-label' });
  const length = h('span', { class: 'meter-length' });
  const details = h('div', { class: 'meter-details' });
  const element = h(
    'div',
    { class: 'meter', dataset: { score: 'none' }, attrs: { 'aria-live': 'polite' } },
    h('div', { class: 'meter-track', attrs: { 'aria-hidden': 'true' } }, fill),
    h('p', { class: 'meter-summary' }, label, length),
    details,
  );
  element.hidden = true;

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let sequence = 0;
  scope?.onCleanup(() => clearTimeout(timer));

  function refresh() {
    clearTimeout(timer);
    sequence += 1;
    const password = input.value;
    if (!password) {
      element.hidden = true;
      return;
    }
    element.hidden = false;
    const count = codePointLength(password);
    length.textContent = ` · ${count} ${count === 1 ? 'character' : 'characters'}`;
    if (count < MIN_PASSWORD_LENGTH) {
      // Known locally at once; the server's check below says the same.
      element.dataset.score = '0';
      label.textContent = 'Too short';
      replace(details, h('p', { class: 'meter-warning' }, `Use at least ${MIN_PASSWORD_LENGTH} characters (an emoji or accented letter counts as one).`));
    } else {
      // A verdict belongs to the password it was given for: never show the previous one
      // while this one is being checked (issue 14 item 5).
      element.dataset.score = 'none';
      element.dataset.state = 'checking';
      delete element.dataset.acceptable;
      delete element.dataset.checkedLength;
      label.textContent = 'Checking…';
      replace(details);
    }
    const mine = sequence;
    timer = setTimeout(() => void check(password, mine), CHECK_DEBOUNCE_MS);
  }

  /**
   * @param {string} password
   * @param {number} mine
   */
  async function check(password, mine) {
    /** @type {import('./api-client/accounts.js').PasswordFeedback} */
    let result;
    try {
      result = await checkPassword({ password, username: username?.() ?? '' });
    } catch {
      if (mine === sequence) {
        label.textContent = 'Strength check unavailable right now';
        element.dataset.score = 'none';
        replace(details);
      }
      return;
    }
    if (mine !== sequence || scope?.alive() === false) {
      return;
    }
    element.dataset.state = 'checked';
    const score = Math.max(0, Math.min(4, Math.round(Number(result.score) || 0)));
    element.dataset.score = String(result.acceptable ? score : 0);
    element.dataset.acceptable = String(Boolean(result.acceptable));
    element.dataset.checkedLength = String(result.length);
    label.textContent = result.acceptable ? `Strength: ${SCORE_LABELS[score]}` : 'Not allowed';
    const reasons = Array.isArray(result.reasons) ? result.reasons : [];
    const suggestions = Array.isArray(result.suggestions) ? result.suggestions : [];
    replace(
      details,
      reasons.length
        ? h('ul', { class: 'meter-reasons' }, reasons.map((r) => h('li', { dataset: { code: String(r.code) } }, String(r.message))))
        : null,
      result.warning ? h('p', { class: 'meter-warning' }, String(result.warning)) : null,
      suggestions.length ? h('ul', { class: 'meter-suggestions' }, suggestions.map((s) => h('li', {}, String(s)))) : null,
    );
  }

  input.addEventListener('input', refresh);
  return { element, refresh };
}

/**
 * Help text for choosing a new password (§5.1.1.2: guidance and the Unicode advice; no
 * composition rules, no hints, no personal-information prompts).
 * @returns {HTMLElement}
 */
export function newPasswordHelp() {
  return h(
    'span',
    {},
    `At least ${MIN_PASSWORD_LENGTH} characters. Use a long passphrase; any characters, spaces and emoji are allowed. `,
    'Some devices may enter some characters differently (e.g. accented letters), so make sure you can type it everywhere you sign in.',
  );
}
