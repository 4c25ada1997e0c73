// @ts-check
/**
 * The safety-number dialog (X3): both people see the same 60 digits, computed from both identity
 * keys (docs/protocol.md §3.3). If they match when compared in person or on a call, nobody sits
 * in the middle; "Mark as verified" records the contact's current key as verified, until it
 * changes. When the contact's key changed, the dialog says so and "Accept new key" ends the
 * warning (issue 14 item 2; for a verified contact it also lets sending resume, issue 8).
 */

import { h, uid } from '../dom.js';

/**
 * @typedef {object} SafetyActions
 * @property {() => Promise<string | null>} number
 * @property {() => boolean} isVerified
 * @property {() => void} markVerified
 * @property {() => import('../protocol.js').KeyWarning | null} keyWarning
 * @property {() => void} acceptKey
 */

/**
 * Opens the dialog for a contact; it removes itself when closed.
 * @param {string} username
 * @param {SafetyActions} actions
 */
export function showSafetyNumber(username, actions) {
  const titleId = uid('safety-title');
  const digits = h('p', { class: 'safety-number', attrs: { 'aria-live': 'polite' } }, 'Computing…');
  const status = h('p', { class: 'safety-status' });
  const verify = h('button', { type: 'button', class: 'button primary' }, 'Mark as verified');
  const accept = h('button', { type: 'button', class: 'button secondary', dataset: { action: 'accept-key' } }, 'Accept new key');
  const changed = h('p', { class: 'message safety-changed', dataset: { kind: 'warn' }, attrs: { role: 'alert' } });
  const close = h('button', { type: 'button', class: 'button secondary' }, 'Close');
  const dialog = h(
    'dialog',
    { class: 'dialog safety', attrs: { 'aria-labelledby': titleId } },
    h('h2', { id: titleId }, `Safety number with ${username}`),
    h(
      'p',
      {},
      `Compare these digits with ${username} in person or on a call (not through this chat). If they match on both screens, your messages go only to ${username} — nobody can read them in between.`,
    ),
    changed,
    digits,
    status,
    h('div', { class: 'actions' }, verify, accept, close),
  );

  const showStatus = () => {
    const warning = actions.keyWarning();
    changed.hidden = warning === null;
    accept.hidden = warning === null;
    changed.textContent = warning
      ? `${username}'s security key changed${warning.verified ? ' since you verified it' : ''}. These digits are for the new key: compare them before you accept it.${warning.verified ? ' Sending is paused until you do.' : ''}`
      : '';
    const verified = actions.isVerified();
    status.replaceChildren(
      verified
        ? h('span', { class: 'badge' }, '✓ Verified')
        : h('span', { class: 'badge warn' }, 'Not verified'),
      verified ? ` You verified ${username}'s current key.` : ' Mark it as verified only after comparing.',
    );
    verify.hidden = verified;
  };

  verify.addEventListener('click', () => {
    actions.markVerified();
    showStatus();
    close.focus();
  });
  accept.addEventListener('click', () => {
    actions.acceptKey();
    showStatus();
    close.focus();
  });
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());

  document.body.append(dialog);
  dialog.showModal();
  showStatus();
  verify.disabled = true;
  accept.disabled = true;
  actions
    .number()
    .then((number) => {
      if (number) {
        // 12 groups of 5 digits, shown as 3 rows of 4 groups.
        const groups = number.split(' ');
        digits.replaceChildren(
          ...[0, 4, 8].map((i) => h('span', { class: 'safety-row' }, groups.slice(i, i + 4).join(' '))),
        );
        verify.disabled = false;
        accept.disabled = false;
      } else {
        digits.textContent = `${username} has not published a key yet: there is nothing to compare.`;
      }
    })
    .catch(() => {
      digits.textContent = 'The safety number could not be computed.';
    });
}
