// @ts-check
/**
 * The CAPTCHA block for sign-up and sign-in: the image (a `data:` URI from `GET /api/captcha`),
 * a "New image" button, a "Listen" button that plays the same challenge spoken
 * (`GET /api/captcha/{id}/audio`, WCAG 1.1.1), and the answer field. An image that expires is
 * replaced automatically. After a refused attempt, `afterError` keeps the image and the typed
 * answer when the server says the challenge was not used (`"captcha": "kept"`).
 */

import { fetchCaptcha } from './api-client/accounts.js';
import { ApiError } from './api-client/http.js';
import { h } from './dom.js';
import { CAPTCHA_TTL_SECS } from './limits.js';
import { describeError, field, input } from './ui.js';

/** Replace the image this long before the server's expiry. */
const EXPIRY_MARGIN_SECS = 10;

/**
 * @typedef {object} CaptchaField
 * @property {HTMLElement} element
 * @property {HTMLInputElement} input
 * @property {(note?: string) => Promise<void>} refresh loads a new image; `note` is announced
 * @property {(error: unknown) => void} afterError after a refused attempt: keep the challenge
 *   and the answer if the server kept it, else load a new one and say why
 * @property {() => { captcha_id: string, captcha_answer: string }} values
 * @property {(message: string | null) => void} setError
 */

/**
 * @param {import('./ui.js').Scope} scope
 * @returns {CaptchaField}
 */
export function captchaField(scope) {
  const image = h('img', {
    class: 'captcha-image',
    alt: 'CAPTCHA: five distorted letters and digits to type below. To hear them instead, use “Listen”.',
    width: 260,
    height: 90,
  });
  const audio = h('audio', { class: 'captcha-audio', controls: true, preload: 'none' });
  audio.hidden = true;
  const listen = h(
    'button',
    {
      type: 'button',
      class: 'button secondary small',
      onclick: () => {
        if (!id) {
          return;
        }
        audio.src = `/api/captcha/${encodeURIComponent(id)}/audio`;
        audio.hidden = false;
        void audio.play().catch(() => {
          status.textContent = 'Use the player’s play button to hear the characters.';
        });
      },
    },
    'Listen',
  );
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
    help: 'Letters and digits, not case-sensitive. Can’t read it? Ask for a new image, or listen to it.',
  });
  const element = h(
    'div',
    { class: 'captcha' },
    h('div', { class: 'captcha-row' }, image, h('div', { class: 'captcha-buttons' }, reload, listen)),
    audio,
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
    listen.disabled = true;
    element.dataset.state = 'loading';
    try {
      const captcha = await fetchCaptcha();
      if (!scope.alive()) {
        return;
      }
      id = captcha.id;
      image.src = captcha.image;
      audio.pause();
      audio.removeAttribute('src');
      audio.hidden = true;
      answer.value = '';
      status.textContent = note ?? '';
      const lifetime = Math.max(30, Number(captcha.expires_in) || CAPTCHA_TTL_SECS) - EXPIRY_MARGIN_SECS;
      expiryTimer = setTimeout(() => void refresh('The image expired, so here is a new one.'), lifetime * 1000);
      element.dataset.state = 'ready';
    } catch (error) {
      element.dataset.state = 'error';
      status.textContent = `Couldn’t load a CAPTCHA image: ${describeError(error)} Use “New image” to try again.`;
    } finally {
      reload.disabled = false;
      listen.disabled = !id;
    }
  }

  return {
    element,
    input: answer,
    refresh,
    afterError(error) {
      if (error instanceof ApiError && error.extra.captcha === 'kept' && element.dataset.state === 'ready') {
        status.textContent = '';
        return;
      }
      // A wrong answer is explained at the answer field by the form itself.
      void refresh(
        error instanceof ApiError && error.code === 'captcha_failed'
          ? undefined
          : 'That attempt used up the image, so here is a new one: please type its characters.',
      );
    },
    values: () => ({ captcha_id: id, captcha_answer: answer.value.trim() }),
    setError: wrapped.setError,
  };
}
