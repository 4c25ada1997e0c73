// @ts-check
/**
 * Issue 11: the browser's types are the server's contract. web/api-client/contract.d.ts is rendered
 * from the running server's GET /api/openapi.json (which the server generates from the
 * parley-api types) by scripts/web-contract.mjs; the browser typecheck (`npx tsc -p
 * tsconfig.json`) checks web/ against it. This test renders it again and fails when the
 * committed file differs, so a field renamed on the server fails here and then in the typecheck.
 * `PARLEY_UPDATE_WEB_CONTRACT=1` rewrites the file instead.
 */

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';

import { CONTRACT_PATH, render } from '../../scripts/web-contract.mjs';
import { useBrowserFixture } from './fixture.mjs';
import { serverRequest } from './harness.mjs';

// The server as deployed (no test clock): its document is the contract.
const fx = useBrowserFixture({ plain: true, browser: false });

describe('issue 11: the web contract', { timeout: 60_000 }, () => {
  test('issue11 web/api-client/contract.d.ts is rendered from the server\'s /api/openapi.json', async () => {
    const answer = await serverRequest(fx.server, 'GET', '/api/openapi.json');
    assert.equal(answer.status, 200);
    const expected = render(answer.body);
    if (process.env.PARLEY_UPDATE_WEB_CONTRACT) {
      await writeFile(CONTRACT_PATH, expected);
      return;
    }
    const committed = await readFile(CONTRACT_PATH, 'utf8').catch(() => '');
    assert.ok(
      committed === expected,
      'web/api-client/contract.d.ts differs from the server\'s /api/openapi.json; run\n' +
        '  PARLEY_UPDATE_WEB_CONTRACT=1 PARLEY_BIN=… node --test tests/browser/contract.test.mjs\n' +
        'then `npx tsc -p tsconfig.json` to see what in web/ the change breaks',
    );
  });
});
