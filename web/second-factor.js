// @ts-check
/**
 * The second-factor input: a 6-digit authenticator code, or — after "Use a recovery code
 * instead" — one of the recovery codes. The user always types it (authentication intent); it is
 * never stored or replayed.
 */

import { h } from './dom.js';
import { TOTP_DIGITS } from './limits.js';
import { cleanCode, field, recoveryInput, totpInput } from './ui.js';

/**
 * @typedef {'totp' | 'recovery'} FactorMode
 * @typedef {object} SecondFactorField
 * @property {HTMLElement} element
 * @property {() => FactorMode} mode
 * @property {(mode: FactorMode) => void} setMode
 * @property {() => string} code the typed code, cleaned
 * @property {() => ({ totp_code: string } | { recovery_code: string })} value for account calls
 * @property {(message: string | null) => void} setError
 * @property {() => void} focus
 * @property {() => void} clear
 */

/**
 * @param {object} [options]
 * @param {string} [options.totpLabel]
 * @param {string} [options.recoveryLabel]
 * @returns {SecondFactorField}
 */
export function secondFactorField({
  totpLabel = `Enter the ${TOTP_DIGITS}-digit code from your authenticator app`,
  recoveryLabel = 'Enter one of your recovery codes',
} = {}) {
  const totp = field({ label: totpLabel, input: totpInput() });
  const recovery = field({
    label: recoveryLabel,
    input: recoveryInput(),
    help: 'Each recovery code works only once.',
  });
  recovery.element.hidden = true;
  recovery.input.disabled = true;

  const switcher = h('button', { type: 'button', class: 'link-button', onclick: () => setMode(current === 'totp' ? 'recovery' : 'totp') });

  /** @type {FactorMode} */
  let current = 'totp';

  /** @param {FactorMode} mode */
  function setMode(mode) {
    current = mode;
    totp.element.hidden = mode !== 'totp';
    totp.input.disabled = mode !== 'totp';
    recovery.element.hidden = mode !== 'recovery';
    recovery.input.disabled = mode !== 'recovery';
    switcher.textContent = mode === 'totp' ? 'Use a recovery code instead' : 'Use your authenticator app instead';
    totp.setError(null);
    recovery.setError(null);
    active().input.focus();
  }
  const active = () => (current === 'totp' ? totp : recovery);
  setMode('totp');

  return {
    element: h('div', { class: 'second-factor' }, totp.element, recovery.element, h('p', { class: 'switch' }, switcher)),
    mode: () => current,
    setMode,
    code: () => (current === 'totp' ? cleanCode(totp.input.value) : recovery.input.value.trim()),
    value: () =>
      current === 'totp' ? { totp_code: cleanCode(totp.input.value) } : { recovery_code: recovery.input.value.trim() },
    setError: (message) => active().setError(message),
    focus: () => active().input.focus(),
    clear() {
      totp.input.value = '';
      recovery.input.value = '';
      totp.setError(null);
      recovery.setError(null);
    },
  };
}
