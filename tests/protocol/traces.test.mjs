// @ts-check
/**
 * The trace vectors (tests/protocol/traces.json, issue 8) against the browser module: every trace
 * replayed through web/protocol/conversation.js with the recorded inputs (clock, server items, the
 * server's answers, the salt nonces) gives the recorded events, errors, posted payloads and state
 * probes; and make-traces.mjs regenerates the file exactly, so it cannot drift from the JS.
 * crates/protocol/tests/traces.rs replays the same file through the Rust state machine.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { TRACES_PATH, buildTraces, replay } from './make-traces.mjs';

const file = JSON.parse(readFileSync(TRACES_PATH, 'utf8'));

test('traces.json covers every failure reason and the required scenarios', () => {
  const reasons = new Set();
  const kinds = new Set();
  const errors = new Set();
  for (const t of file.traces) {
    for (const s of t.steps) {
      if (s.expect.error) errors.add(s.expect.error);
      for (const e of s.expect.events ?? []) {
        kinds.add(e.kind);
        if (e.reason) reasons.add(e.reason);
        if (e.kind === 'replay_rejected') reasons.add('replay');
      }
    }
  }
  for (const r of ['malformed', 'wrong_conversation', 'unknown_key_set', 'not_my_key', 'bad_mac', 'bad_tag', 'retired_key', 'replay', 'bad_mac_old', 'bad_mac_new', 'bad_salt', 'bad_key_set']) {
    assert.ok(reasons.has(r), `no trace rejects with ${r}`);
  }
  for (const k of ['message', 'exchange', 'keys_changed', 'replay_rejected', 'undecryptable', 'peer_key_changed']) assert.ok(kinds.has(k), `no ${k} event`);
  assert.ok(errors.has('key_change_unconfirmed') && errors.has('iv_reused'));
  const names = file.traces.map((/** @type {any} */ t) => t.name);
  for (const n of ['honest', 'refresh-alice', 'refresh-bob', 'out-of-order', 'replayed-ecdh', 'stand-in-verified', 'verified-key-change', 'restore']) assert.ok(names.includes(n), n);
});

for (const trace of file.traces) {
  test(`trace ${trace.name}: the JS module gives the recorded outputs`, async () => {
    const outs = await replay(trace);
    trace.steps.forEach((/** @type {any} */ step, /** @type {number} */ i) => {
      const { posted, ...out } = outs[i];
      assert.deepEqual(out, step.expect, `step ${i} (${step.party} ${step.op})`);
      assert.deepEqual(posted ?? [], (step.posts ?? []).map((/** @type {any} */ p) => p.payload), `step ${i}: posted payloads`);
    });
  });
}

test('make-traces.mjs regenerates traces.json exactly (deterministic, no drift)', async () => {
  const again = await buildTraces();
  assert.equal(`${JSON.stringify(again, null, 1)}\n`, readFileSync(TRACES_PATH, 'utf8'));
});

test('a changed expectation is caught (the replay can fail)', async () => {
  const trace = structuredClone(file.traces.find((/** @type {any} */ t) => t.name === 'honest'));
  const step = trace.steps.find((/** @type {any} */ s) => s.op === 'receive' && s.expect.events?.[0]?.kind === 'message');
  const outs = await replay(trace);
  const i = trace.steps.indexOf(step);
  step.expect.events[0].text = 'something else';
  assert.notDeepEqual(outs[i].events, step.expect.events);
});
