// @ts-check
/**
 * The CAPTCHA block for sign-up and sign-in: the image (a `data:` URI from `GET /api/captcha`),
 * a "New image" button, and the answer field. An image that expires is replaced automatically.
 */

import { fetchCaptcha } from './api.js';
import { h } from './dom.js';
import { describeError, field, input } from './ui.js';

/** Replace the image this long before the server's expiry. */
const EXPIRY_MARGIN_SECS = 10;

/**
 * @typedef {object} CaptchaField
 * @property {HTMLElement} element
 * @property {HTMLInputElement} input
 * @property {(note?: string) => Promise<void>} refresh loads a new image; `note` is announced
 * @property {() => { captcha_id: string, captcha_answer: string }} values
 * @property {(message: string | null) => void} setError
 */

/**
 * @param {import('./ui.js').Scope} scope
 * @returns {CaptchaField}
 */
export function captchaField(scope) {
  const image = h('img', { class: 'captcha-image', alt: 'CAPTCHA: distorted characters to type below', width: 240, height: 90 });
  const answer = input({
    name: 'captcha_answer',
    autocomplete: 'off',
    required: true,
    attrs: { autocapitalize: 'none', autocorrect: 'off', spellcheck: 'false' },
  });
  const status = h('p', { class: 'captcha-status', attrs: { 'aria-live': 'polite' } });
  const reload = h('button', { type: 'button', class: 'button secondary small', onclick: () => void refresh() }, 'New image');
  const wrapped = field({
    label: 'Type the characters in the image',
    input: answer,
    help: 'Not case-sensitive. Can’t read it? Ask for a new image.',
  });
  const element = h(
    'div',
    { class: 'captcha' },
    h('div', { class: 'captcha-row' }, image, reload),
    status,
    wrapped.element,
  );

  let id = '';
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let expiryTimer;
  scope.onCleanup(() => clearTimeout(expiryTimer));

  /** @param {string} [note] */
  async function refresh(note) {
    clearTimeout(expiryTimer);
    reload.disabled = true;
    element.dataset.state = 'loading';
    try {
      const captcha = await fetchCaptcha();
      if (!scope.alive()) {
        return;
      }
      id = captcha.id;
      image.src = captcha.image;
      answer.value = '';
      status.textContent = note ?? '';
      const lifetime = Math.max(30, Number(captcha.expires_in) || 300) - EXPIRY_MARGIN_SECS;
      expiryTimer = setTimeout(() => void refresh('The image expired, so here is a new one.'), lifetime * 1000);
      element.dataset.state = 'ready';
    } catch (error) {
      element.dataset.state = 'error';
      status.textContent = `Couldn’t load a CAPTCHA image: ${describeError(error)} Use “New image” to try again.`;
    } finally {
      reload.disabled = false;
    }
  }

  return {
    element,
    input: answer,
    refresh,
    values: () => ({ captcha_id: id, captcha_answer: answer.value.trim() }),
    setError: wrapped.setError,
  };
}
