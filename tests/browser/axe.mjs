// @ts-check
/**
 * axe-core (npm `axe-core`) in the page under test, for issue 14 item 6: every screen, at
 * desktop and phone sizes, must have no violation at all (every rule axe runs by default,
 * WCAG 2.x A/AA and best practices).
 *
 * The app's CSP stays strict (script-src 'self', Trusted Types): axe's source is evaluated
 * through the DevTools protocol (`page.evaluate`), which the page's CSP does not govern, and
 * axe itself creates no HTML from strings.
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Desktop and phone viewports. */
export const SIZES = /** @type {const} */ ({
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844 },
});

/**
 * Runs axe on the page as it is now; returns the violations (id, impact, nodes' targets).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{ id: string, impact: string | null, help: string, targets: string[] }[]>}
 */
export async function axeViolations(page) {
  const loaded = await page.evaluate(() => typeof (/** @type {any} */ (window).axe) === 'object');
  if (!loaded) {
    await page.evaluate(AXE_SOURCE);
  }
  return page.evaluate(async () => {
    const axe = /** @type {any} */ (window).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((/** @type {any} */ v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((/** @type {any} */ n) => `${n.target.join(' ')} — ${n.failureSummary ?? ''}`.slice(0, 300)),
    }));
  });
}

/**
 * Fails with a readable list when axe finds anything on the page.
 * @param {import('playwright-core').Page} page
 * @param {string} screen a name for the message
 */
export async function assertNoAxeViolations(page, screen) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe violations on ${screen} at ${JSON.stringify(page.viewportSize())}`);
}
