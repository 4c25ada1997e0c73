// @ts-check
/**
 * Issue 14 item 1 (A4, WCAG 1.1.1) in real Chromium: the CAPTCHA a newcomer meets.
 *
 * - A sign-up refused for the password keeps the image and the typed answer (the server kept
 *   the challenge), and the corrected form goes through with that same answer.
 * - A wrong answer clears it and loads a new image, with a note saying why.
 * - "Listen" plays the same challenge as audio made by the server (a WAV Chromium decodes),
 *   and listening does not use the challenge up.
 * - Screenshots of the block at desktop and phone sizes (test-output/browser/captcha-*.png).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SIZES } from './axe.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { CAPTCHA_ANSWER, EXPECTED_ME_401, GOOD_PASSWORD, newUsername } from './flows.mjs';
import { OUTPUT_DIR, assertClean, screenshot } from './harness.mjs';

const fx = useBrowserFixture();

describe('issue 14 item 1: the CAPTCHA', { timeout: 60_000 }, () => {
  test('issue14 item 1: answer kept after a password refusal, new image after a wrong answer, audio alternative', async () => {
    await fx.withPage({ viewport: SIZES.desktop }, async (handle) => {
      const { page } = handle;
      await page.goto(new URL('/#/register', fx.server.url).href);
      const image = page.locator('.captcha[data-state="ready"] img.captcha-image[src^="data:image/png"]');
      await image.waitFor();
      const answerBox = page.getByLabel('Type the characters in the image');
      const firstImage = await image.getAttribute('src');
      await screenshot(page, 'captcha-desktop');

      // Refused for the password (a common one): image and answer stay.
      const username = newUsername('cap');
      await page.getByLabel('Username').fill(username);
      await page.locator('input[name="password"]').fill('password1');
      await page.locator('input[name="password_confirm"]').fill('password1');
      await answerBox.fill(CAPTCHA_ANSWER);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('.rejected', { hasText: 'Please choose a different password' }).waitFor();
      assert.equal(await answerBox.inputValue(), CAPTCHA_ANSWER, 'the typed answer is kept');
      assert.equal(await image.getAttribute('src'), firstImage, 'the same image');
      assert.equal(await page.locator('.captcha-status').innerText(), '', 'no "new image" note');

      // A wrong answer: cleared, a new image, and a note that says why.
      await page.locator('input[name="password"]').fill(GOOD_PASSWORD);
      await page.locator('input[name="password_confirm"]').fill(GOOD_PASSWORD);
      await answerBox.fill('wrong');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('.captcha .field-error', { hasText: 'The answer was wrong' }).waitFor();
      await page.locator('.captcha[data-state="ready"]').waitFor();
      assert.equal(await answerBox.inputValue(), '', 'a used-up challenge takes its answer with it');
      assert.notEqual(await image.getAttribute('src'), firstImage, 'a new image');

      // Audio: the same challenge, spoken; a real WAV that Chromium decodes.
      await page.getByRole('button', { name: 'Listen' }).click();
      const audio = page.locator('audio.captcha-audio');
      await audio.waitFor();
      const media = await audio.evaluate(
        (el) =>
          new Promise((resolve, reject) => {
            const a = /** @type {HTMLAudioElement} */ (el);
            const done = () => resolve({ duration: a.duration, src: a.currentSrc });
            if (a.readyState >= 1) done();
            a.addEventListener('loadedmetadata', done, { once: true });
            a.addEventListener('error', () => reject(new Error(`audio error ${a.error?.code}`)), { once: true });
          }),
      );
      const { duration, src } = /** @type {{ duration: number, src: string }} */ (media);
      assert.match(src, /\/api\/captcha\/[^/]+\/audio$/);
      assert.ok(duration > 4 && duration < 30, `a few seconds of speech, got ${duration}`);
      const head = await page.evaluate(async (url) => {
        const r = await fetch(url);
        return { type: r.headers.get('content-type'), bytes: new Uint8Array(await r.arrayBuffer()).slice(0, 4) };
      }, src);
      assert.equal(head.type, 'audio/wav');
      assert.equal(String.fromCharCode(...Object.values(head.bytes)), 'RIFF');
      await screenshot(page, 'captcha-audio-desktop');

      // Listening did not use it up: the answer still signs up.
      await answerBox.fill(CAPTCHA_ANSWER);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: /Set up your authenticator app/ }).waitFor();

      // Phone size: the block fits and reads well.
      await page.setViewportSize(SIZES.phone);
      await page.goto(new URL('/#/login', fx.server.url).href);
      await image.waitFor();
      await screenshot(page, 'captcha-phone-page');
      await page.locator('.captcha').screenshot({ path: `${OUTPUT_DIR}/captcha-phone.png` });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(overflow, false, 'no horizontal scrolling on a phone');

      await assertClean(handle, { allow: [EXPECTED_ME_401, /\/api\/register\b.*HTTP 422|status of 422/] });
    });
  });
});
