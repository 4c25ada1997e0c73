// Renders the app icons of the web app manifest (web/manifest.webmanifest, issue 14 item 8)
// from web/favicon.svg with the machine's Chromium: 192 and 512 px, plus a "maskable" 512 px
// icon (logo inside the 80 % safe zone on the brand colour). Run once when the logo changes:
//   node scripts/make-icons.mjs
import { readFile, writeFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url);
const svg = await readFile(new URL('web/favicon.svg', root), 'utf8');
const dataUri = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
const browser = await chromium.launch({ executablePath: process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium' });
try {
  const page = await browser.newPage();
  /** @type {[string, number, boolean][]} */
  const icons = [
    ['icon-192.png', 192, false],
    ['icon-512.png', 512, false],
    ['maskable-512.png', 512, true],
  ];
  for (const [name, size, maskable] of icons) {
    await page.setViewportSize({ width: size, height: size });
    const inner = maskable ? Math.round(size * 0.62) : size;
    const background = maskable ? '#eef1f6' : 'transparent';
    await page.setContent(
      `<body style="margin:0;width:${size}px;height:${size}px;display:grid;place-items:center;background:${background}">` +
        `<img src="${dataUri}" width="${inner}" height="${inner}"></body>`,
    );
    await page.locator('img').evaluate((img) => /** @type {HTMLImageElement} */ (img).decode());
    await writeFile(new URL(`web/icons/${name}`, root), await page.screenshot({ omitBackground: !maskable }));
  }
} finally {
  await browser.close();
}
