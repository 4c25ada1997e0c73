// @ts-check
/**
 * Showing secrets that exist only once: the TOTP enrolment (QR code and key for manual entry)
 * and a set of recovery codes (copy, download as a text file). Nothing here is stored anywhere.
 */

import { h } from './dom.js';
import { TOTP_DIGITS, TOTP_PERIOD_SECS } from './limits.js';

/** The file name offered for downloaded recovery codes. */
export const RECOVERY_FILE_NAME = 'parley-recovery-codes.txt';

/**
 * Groups a base32 key in fours for reading and typing.
 * @param {string} secret
 * @returns {string}
 */
export function groupSecret(secret) {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * Copies text; says how it went in `status`. Falls back to selecting `selectable` so the user
 * can copy by hand.
 * @param {string} text
 * @param {HTMLElement} status
 * @param {Element} selectable
 * @param {string} what e.g. "Recovery codes"
 */
async function copyText(text, status, selectable, what) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = `${what} copied to the clipboard.`;
  } catch {
    const selection = window.getSelection();
    selection?.removeAllRanges();
    const range = document.createRange();
    range.selectNodeContents(selectable);
    selection?.addRange(range);
    status.textContent = 'Copying was not allowed by the browser. The text is selected: press Ctrl+C (or ⌘C) to copy it.';
  }
}

/**
 * The TOTP enrolment panel (5.2.1-instructions, 5.1.4.1: shown once).
 * @param {import('./api-client/accounts.js').TotpEnrolment} totp
 * @returns {HTMLElement}
 */
export function totpEnrolment(totp) {
  const secret = totp.secret.replace(/\s+/g, '');
  const secretBox = h('code', { class: 'secret', attrs: { 'aria-label': `Key: ${secret.split('').join(' ')}` } }, groupSecret(secret));
  const status = h('p', { class: 'copy-status', attrs: { 'aria-live': 'polite' } });
  const digits = Number(totp.digits) || TOTP_DIGITS;
  const period = Number(totp.period) || TOTP_PERIOD_SECS;
  return h(
    'div',
    { class: 'enrolment' },
    h(
      'p',
      {},
      'Scan with an authenticator app such as Google Authenticator, Aegis or 1Password. ',
      h('strong', {}, 'This code is shown only once; keep your phone safe — anyone with it and your password can sign in.'),
    ),
    h('div', { class: 'qr-frame' }, h('img', { class: 'qr', src: totp.qr, alt: 'QR code to add Parley to your authenticator app', width: 200, height: 200 })),
    totp.otpauth_uri
      ? h('p', { class: 'help' }, 'Setting up on this device? ', h('a', { href: totp.otpauth_uri }, 'Open in your authenticator app'), '.')
      : null,
    h('p', { class: 'help' }, 'Can’t scan? Enter this key in the app instead (time-based, ', `${digits} digits, every ${period} seconds):`),
    h(
      'div',
      { class: 'secret-row' },
      secretBox,
      h('button', { type: 'button', class: 'button secondary small', onclick: () => void copyText(secret, status, secretBox, 'Key') }, 'Copy key'),
    ),
    status,
  );
}

/**
 * The recovery codes with Copy and Download (5.1.2.1, 5.2.1-instructions).
 * @param {string[]} codes
 * @param {string} username
 * @returns {HTMLElement}
 */
export function recoveryCodes(codes, username) {
  const list = h('ol', { class: 'codes' }, codes.map((code) => h('li', {}, h('code', {}, code))));
  const status = h('p', { class: 'copy-status', attrs: { 'aria-live': 'polite' } });
  const text = codes.join('\n');
  return h(
    'div',
    { class: 'recovery' },
    list,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', onclick: () => void copyText(text, status, list, 'Recovery codes') }, 'Copy'),
      h('button', { type: 'button', class: 'button secondary', onclick: () => download(codes, username, status) }, 'Download'),
    ),
    status,
    h(
      'p',
      { class: 'advice' },
      'Store them offline, e.g. printed or in a password manager; each works once. ',
      'They let you sign in if you lose your phone, so keep them apart from it.',
    ),
  );
}

/**
 * Offers the codes as a text file (a Blob behind an object URL, revoked right after).
 * @param {string[]} codes
 * @param {string} username
 * @param {HTMLElement} status
 */
function download(codes, username, status) {
  const body = [
    `Parley recovery codes for ${username}`,
    `Created ${new Date().toISOString()}`,
    '',
    ...codes.map((code, i) => `${String(i + 1).padStart(2, ' ')}. ${code}`),
    '',
    'Each code works once. Keep this file offline (printed or in a password manager).',
    '',
  ].join('\n');
  const url = URL.createObjectURL(new Blob([body], { type: 'text/plain;charset=utf-8' }));
  const link = h('a', { href: url, download: RECOVERY_FILE_NAME, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  status.textContent = `Saved as ${RECOVERY_FILE_NAME} in your downloads.`;
}
