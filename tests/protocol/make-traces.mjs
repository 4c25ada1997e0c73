// @ts-check
/**
 * Trace vectors of the conversation state machine (issue 8; docs/protocol.md "The Rust state
 * machine and trace vectors"): scripted scenarios driven through the browser module
 * (web/protocol/conversation.js), written to tests/protocol/traces.json with every input (keys,
 * clock, server items, the server's answers to posts and last-IV queries, the salt nonces) and the
 * events, errors and state probes the module produced. tests/protocol/traces.test.mjs replays the
 * file through the JS module and checks this script regenerates it byte for byte;
 * crates/protocol/tests/traces.rs replays it through the Rust state machine.
 *
 *   node tests/protocol/make-traces.mjs            # rewrite tests/protocol/traces.json
 *
 * Randomness: the only random values the module draws while running are the 16-byte salt nonces
 * (crypto.js newNonce → globalThis.crypto.getRandomValues). The runner swaps that function for one
 * returning fixed nonces (SHA-256 of the trace name and a counter) while a step runs; the module
 * itself is unchanged.
 */

import { createECDH, createHash, webcrypto } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  Conversation, changeMacInput, encryptDetailed, fromB64, importPrivateJwk, loadKeySet, memoryLock, msgLabel, msgMacInput,
  toB64, u96be, deriveKeySet, makeExchange,
} from '../../web/protocol.js';
import { ALICE, BOB, FakeServer, MemoryStorage } from './helpers.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
export const TRACES_PATH = `${here}traces.json`;
const CAROL = '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e';
const START = 1_750_000_000;

// ---------------------------------------------------------------- keys

/** The JWK (and b64 public key) of a fixed private scalar `d` (48 bytes). @param {Buffer} d */
function jwkOf(d) {
  const ecdh = createECDH('secp384r1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  return {
    jwk: { kty: 'EC', crv: 'P-384', x: pub.subarray(1, 49).toString('base64url'), y: pub.subarray(49).toString('base64url'), d: d.toString('base64url') },
    public_key: pub.toString('base64'),
  };
}

/** The identities of the traces: Alice and Bob of vectors.json, and fixed extra keys. */
function keys() {
  const vectors = JSON.parse(readFileSync(`${here}vectors.json`, 'utf8'));
  /** @type {Record<string, { jwk: any, public_key: string }>} */
  const out = {};
  for (const [name, u] of [['alice', vectors.users[0]], ['bob', vectors.users[1]]]) {
    out[name] = { jwk: { kty: 'EC', crv: 'P-384', x: u.private_jwk.x, y: u.private_jwk.y, d: u.private_jwk.d }, public_key: u.public_key_b64 };
  }
  for (const name of ['mallory', 'bob2', 'alice2']) {
    const d = createHash('sha384').update(`parley trace key ${name}`).digest();
    d[0] = 0x7f; // below the group order
    out[name] = jwkOf(d);
  }
  return out;
}
const KEYS = keys();

// ---------------------------------------------------------------- the runner

/**
 * Runs the steps of one trace against the JS module. In record mode the answers come from a
 * FakeServer and nonces from a hash; in replay mode both come from the recorded step.
 */
export class Runner {
  /** @type {Map<string, { conv: Conversation, storage: MemoryStorage, me: string, peer: string, key: string }>} */
  parties = new Map();
  /** @type {Map<string, Map<string, string>>} */
  snapshots = new Map();
  now = START;
  nonceCount = 0;

  /** @param {string} name @param {FakeServer | null} server */
  constructor(name, server) {
    this.name = name;
    this.server = server;
  }

  /** @param {string} party */
  party(party) {
    const p = this.parties.get(party);
    if (!p) throw new Error(`no party ${party}`);
    return p;
  }

  /** @param {{ name: string, me: string, peer: string, key: string }} def @param {MemoryStorage} [storage] */
  async open(def, storage) {
    const k = KEYS[def.key];
    const identity = { userId: def.me, publicKey: k.public_key, privateKey: await importPrivateJwk(k.jwk), createdAt: 0 };
    const st = storage ?? new MemoryStorage();
    /** @type {any} */
    const io = this;
    const conv = new Conversation({
      me: def.me, peer: def.peer, identity, storage: st, now: () => this.now, lock: memoryLock,
      lastIv: async (ks) => io.lastIv(def.name, ks),
    });
    this.parties.set(def.name, { conv, storage: st, me: def.me, peer: def.peer, key: def.key });
  }

  // The I/O of the step being run: answers are recorded (record mode) or consumed (replay mode).
  /** @type {any} */
  step = null;

  /** @param {string} party @param {string} ks */
  lastIv(party, ks) {
    if (this.server) {
      const answer = this.server.lastIv(this.party(party).me, ks);
      this.step.last_iv.push({ key_set: ks, ...answer });
      return answer;
    }
    const a = this.step.last_iv[this.step.lastIvAt++];
    if (!a || a.key_set !== ks) throw new Error(`unexpected last-IV query for ${ks}`);
    return { last_iv: a.last_iv, closed: a.closed };
  }

  /** @param {string} party @returns {(payload: any) => Promise<any>} */
  poster(party) {
    const p = this.party(party);
    return async (payload) => {
      const copy = JSON.parse(JSON.stringify(payload));
      if (this.server) {
        try {
          const stored = await this.server.poster(p.me, p.peer)(payload);
          this.step.posts.push({ payload: copy, answer: { id: stored.id, created_at: stored.created_at } });
          return stored;
        } catch (e) {
          this.step.posts.push({ payload: copy, answer: { error: /** @type {any} */ (e).code } });
          throw e;
        }
      }
      const post = this.step.posts[this.step.postAt++];
      if (!post) throw new Error('unexpected post');
      this.step.seen_posts.push(copy);
      if (post.answer.error) throw Object.assign(new Error(post.answer.error), { code: post.answer.error });
      return { id: post.answer.id, sender_id: p.me, recipient_id: p.peer, created_at: post.answer.created_at, payload: copy };
    };
  }

  /** Nonces for the step: fixed hashes (record) or the recorded ones (replay). */
  withNonces(/** @type {() => Promise<any>} */ fn) {
    const crypto = globalThis.crypto;
    const original = crypto.getRandomValues;
    crypto.getRandomValues = /** @type {any} */ ((/** @type {any} */ a) => {
      if (!(a instanceof Uint8Array) || a.length !== 16) return original.call(crypto, a);
      let nonce;
      if (this.server) {
        nonce = createHash('sha256').update(`parley trace ${this.name} nonce ${this.nonceCount++}`).digest().subarray(0, 16);
        this.step.nonces.push(nonce.toString('base64'));
      } else {
        const b64 = this.step.nonces[this.step.nonceAt++];
        if (b64 === undefined) throw new Error('unexpected nonce draw');
        nonce = Buffer.from(b64, 'base64');
      }
      a.set(nonce);
      return a;
    });
    return fn().finally(() => {
      crypto.getRandomValues = original;
    });
  }

  /**
   * Run one step (its inputs as stored in the trace); returns its outputs.
   * @param {any} step
   */
  async run(step) {
    this.now = step.now;
    this.step = this.server ? step : { ...step, posts: step.posts ?? [], last_iv: step.last_iv ?? [], nonces: step.nonces ?? [], postAt: 0, lastIvAt: 0, nonceAt: 0, seen_posts: [] };
    if (this.server) Object.assign(step, { posts: [], last_iv: [], nonces: [] });
    const out = await this.withNonces(() => this.#op(step));
    if (!this.server) {
      const s = this.step;
      if (s.postAt !== s.posts.length || s.lastIvAt !== s.last_iv.length || s.nonceAt !== s.nonces.length) {
        throw new Error(`step ${step.op}: fewer server calls or nonces than recorded`);
      }
      out.posted = s.seen_posts;
    }
    const conv = this.parties.get(step.party)?.conv;
    if (conv) {
      out.probe = {
        reason: conv.exchangeReason(), blocked: conv.sendBlocked(), verified: conv.isVerified(), warning: conv.keyWarning(),
        peer_key: conv.peerKey(), head: conv.currentKeySetId(),
      };
    }
    return JSON.parse(JSON.stringify(out));
  }

  /** @param {any} step */
  async #op(step) {
    const p = step.op === 'open' ? null : this.party(step.party);
    /** @param {() => Promise<any[]>} fn */
    const events = async (fn) => {
      try {
        return { events: await fn() };
      } catch (e) {
        const code = /** @type {any} */ (e)?.code;
        if (typeof code !== 'string') throw e;
        return { error: code };
      }
    };
    switch (step.op) {
      case 'open':
        await this.open({ name: step.party, me: step.me, peer: step.peer, key: step.key });
        return {};
      case 'set_peer_keys': return events(() => /** @type {any} */ (p).conv.setPeerKeys(step.keys));
      case 'send': return events(() => /** @type {any} */ (p).conv.send(step.text, this.poster(step.party)));
      case 'refresh': return events(() => /** @type {any} */ (p).conv.refresh(this.poster(step.party)));
      case 'exchange': return events(() => /** @type {any} */ (p).conv.exchange(this.poster(step.party)));
      case 'receive': return events(() => /** @type {any} */ (p).conv.receive(step.message));
      case 'history': return events(() => /** @type {any} */ (p).conv.loadHistory(step.messages));
      case 'verify': /** @type {any} */ (p).conv.markVerified(); return {};
      case 'accept': /** @type {any} */ (p).conv.acceptPeerKey(); return {};
      case 'snapshot': {
        const copy = new Map();
        for (const k of /** @type {any} */ (p).storage.keys()) copy.set(k, /** @type {any} */ (p).storage.getItem(k));
        this.snapshots.set(`${step.party}/${step.name}`, copy);
        return {};
      }
      case 'restore': {
        // An older copy of the browser's storage, reloaded: a new Conversation over it.
        const copy = this.snapshots.get(`${step.party}/${step.name}`);
        if (!copy) throw new Error(`no snapshot ${step.name}`);
        const storage = new MemoryStorage();
        for (const [k, v] of copy) storage.setItem(k, v);
        const old = /** @type {any} */ (p);
        await this.open({ name: step.party, me: old.me, peer: old.peer, key: old.key }, storage);
        return {};
      }
      case 'rollback': {
        // The storage under a running instance is replaced by an older copy (another tab restored
        // a profile backup): this instance keeps what it learnt of the server's last IVs.
        const copy = this.snapshots.get(`${step.party}/${step.name}`);
        if (!copy) throw new Error(`no snapshot ${step.name}`);
        const st = /** @type {any} */ (p).storage;
        for (const k of st.keys()) st.removeItem(k);
        for (const [k, v] of copy) st.setItem(k, v);
        return {};
      }
      case 'reload': {
        // The same storage reloaded (a new tab or page load), with identity `key` (a browser whose
        // identity key was replaced keeps its old key sets).
        const old = /** @type {any} */ (p);
        await this.open({ name: step.party, me: old.me, peer: old.peer, key: step.key }, old.storage);
        return {};
      }
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  }
}

/**
 * Replay a recorded trace through the JS module; returns the outputs of each step.
 * @param {any} trace
 */
export async function replay(trace) {
  const r = new Runner(trace.name, null);
  const outs = [];
  for (const step of trace.steps) outs.push(await r.run(step));
  return outs;
}

// ---------------------------------------------------------------- scenario authoring

const clone = (/** @type {any} */ v) => JSON.parse(JSON.stringify(v));

/** One scenario being recorded. */
class Script {
  /** @type {any[]} */
  steps = [];

  /** @param {string} name @param {string} about */
  constructor(name, about) {
    this.name = name;
    this.about = about;
    this.clock = { now: () => this.t };
    this.t = START;
    this.server = new FakeServer(/** @type {any} */ (this.clock));
    this.runner = new Runner(name, this.server);
  }

  /** @param {number} s */
  wait(s) {
    this.t += s;
  }

  /** @param {any} step */
  async do(step) {
    const full = { party: step.party, now: this.t, ...step };
    const out = await this.runner.run(full);
    const { posts, last_iv: lastIv, nonces, ...inputs } = full;
    const rec = { ...inputs };
    if (nonces.length) rec.nonces = nonces;
    if (posts.length) rec.posts = posts;
    if (lastIv.length) rec.last_iv = lastIv;
    rec.expect = out;
    this.steps.push(rec);
    return out;
  }

  /** @param {string} party @param {string} me @param {string} peer @param {string} key */
  async open(party, me, peer, key) {
    await this.do({ party, op: 'open', me, peer, key });
    this.server.publish(me, KEYS[key].public_key);
  }

  /** Alice and Bob, each knowing the other's published key. */
  async pair() {
    await this.open('alice', ALICE, BOB, 'alice');
    await this.open('bob', BOB, ALICE, 'bob');
    await this.keys('alice');
    await this.keys('bob');
  }

  /** `pair`, then Alice's first message `text`, delivered to Bob. @param {string} text */
  async pairAfter(text) {
    await this.pair();
    await this.send('alice', text);
    await this.sync('bob');
  }

  /**
   * The party's storage is saved as `name`, it sends `texts`, then its storage goes back to the
   * saved one: `restore` (a new instance over it) or `rollback` (under the running instance).
   * @param {string} party @param {'restore' | 'rollback'} op @param {string} name @param {string[]} texts
   */
  async sendThenGoBack(party, op, name, texts) {
    await this.do({ party, op: 'snapshot', name });
    for (const text of texts) await this.send(party, text);
    await this.do({ party, op, name });
  }

  /** The party fetches its contact's published keys (as the UI does). @param {string} party */
  async keys(party) {
    const p = this.runner.party(party);
    return this.do({ party, op: 'set_peer_keys', keys: clone(this.server.keysOf(p.peer)) });
  }

  /** @param {string} party @param {string} text */
  send(party, text) {
    return this.do({ party, op: 'send', text });
  }

  /** @param {string} party */
  refresh(party) {
    return this.do({ party, op: 'refresh' });
  }

  /** The stored message with id `id`. @param {number} id */
  msg(id) {
    const m = this.server.messages.find((x) => x.id === id);
    if (!m) throw new Error(`no message ${id}`);
    return clone(m);
  }

  /** The id of the last stored message. */
  last() {
    return this.server.messages[this.server.messages.length - 1].id;
  }

  /** Deliver a message (by id or literal) live. @param {string} party @param {number | any} m */
  receive(party, m) {
    return this.do({ party, op: 'receive', message: typeof m === 'number' ? this.msg(m) : m });
  }

  /** Deliver every stored message of the party's conversation it has not seen yet, in id order. @param {string} party */
  async sync(party) {
    const p = this.runner.party(party);
    const key = `delivered:${party}`;
    const from = /** @type {any} */ (this)[key] ?? 0;
    for (const m of this.server.between(p.me, p.peer)) {
      if (m.id <= from) continue;
      /** @type {any} */ (this)[key] = m.id;
      if (m.sender_id === p.me && this.sentBy(party, m.id)) continue;
      await this.receive(party, m.id);
    }
  }

  /** @param {string} party @param {number} id */
  sentBy(party, id) {
    return this.steps.some((s) => s.party === party && (s.posts ?? []).some((/** @type {any} */ x) => x.answer.id === id));
  }

  /** A message the server stores as it likes (a malicious server). @param {string} sender @param {string} recipient @param {any} payload */
  forge(sender, recipient, payload) {
    return this.server.store(sender, recipient, payload).id;
  }

  /** The key set `id` as `party` holds it. @param {string} party @param {string} id */
  async keySet(party, id) {
    const p = this.runner.party(party);
    const ks = await loadKeySet(p.storage, p.me, id);
    if (!ks) throw new Error(`no key set ${id}`);
    return ks;
  }

  toJSON() {
    return { name: this.name, about: this.about, steps: this.steps };
  }
}

/** HMAC-SHA256 with raw key bytes. @param {Uint8Array} key @param {Uint8Array} data */
async function hmac(key, data) {
  const k = await webcrypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await webcrypto.subtle.sign('HMAC', k, data));
}

/** A `msg` of arbitrary plaintext bytes, encrypted and MACed correctly under `ks` (own → peer). @param {any} ks @param {Uint8Array} bytes @param {number} iv */
async function rawMsg(ks, bytes, iv) {
  const ivBytes = u96be(iv);
  const aad = new TextEncoder().encode(msgLabel(ks.ownId, ks.peerId));
  const ct = new Uint8Array(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv: ivBytes, additionalData: aad, tagLength: 128 }, ks.keys.sendEnc, bytes));
  const mac = await hmac(ks.send.mac, msgMacInput(ks.ownId, ks.peerId, ks.id, ivBytes, ct));
  return { v: 1, type: 'msg', key_set: ks.id, iv: toB64(ivBytes), ciphertext: toB64(ct), mac: toB64(mac) };
}

/** Flip one bit of a b64 field. @param {string} b64 */
function flip(b64) {
  const bytes = /** @type {Uint8Array} */ (fromB64(b64));
  bytes[bytes.length - 1] ^= 1;
  return toB64(bytes);
}

/** An off-curve point: a valid key with its last byte changed. @param {string} b64 */
const offCurve = (b64) => flip(b64);

// ---------------------------------------------------------------- the scenarios

/** @type {Array<(s: Script) => Promise<void>>} */
const SCENARIOS = [];
/** @param {string} name @param {string} about @param {(s: Script) => Promise<void>} fn */
const scenario = (name, about, fn) => SCENARIOS.push(Object.assign(async (/** @type {Script} */ s) => fn(s), { traceName: name, about }));

scenario('honest', 'An exchange and messages both ways; a reload replays the history (seen again, no replay).', async (s) => {
  await s.pairAfter('Hello, Bob!');
  await s.send('bob', 'Hi Alice 👋');
  await s.sync('alice');
  await s.send('alice', 'How are you?');
  await s.send('alice', 'Still there?');
  await s.sync('bob');
  await s.send('bob', 'Fine.');
  await s.sync('alice');
  await s.do({ party: 'bob', op: 'history', messages: s.server.between(ALICE, BOB).map(clone) });
  await s.do({ party: 'alice', op: 'verify' });
});

for (const side of ['alice', 'bob']) {
  const other = side === 'alice' ? 'bob' : 'alice';
  scenario(`refresh-${side}`, `A Refresh by ${side}: change, messages under the new key set both ways, a late message under the old one (retired_key), a second Refresh.`, async (s) => {
    await s.pairAfter('first');
    await s.send('bob', 'second');
    await s.sync('alice');
    const before = s.steps[s.steps.length - 1].expect.probe.head;
    await s.refresh(side);
    await s.sync(other);
    await s.send(side, 'after refresh');
    await s.send(other, 'reply after refresh');
    await s.sync(side);
    await s.sync(other);
    // The refresher's old key set, used again above the last IV its change announced.
    const old = await s.keySet(side, before);
    const p = s.runner.party(side);
    const late = await encryptDetailed(old, 'late under the old key set', 9);
    await s.receive(other, s.forge(p.me, p.peer, late.payload));
    await s.wait(30);
    await s.refresh(side);
    await s.refresh(side);
    await s.sync(other);
    await s.send(other, 'after two more');
    await s.sync(side);
  });
}

scenario('out-of-order', 'Delivery out of server order, duplicates (seen again), a copy stored under a new id (replay), stale history.', async (s) => {
  await s.pair();
  await s.send('alice', 'one');
  const ecdh = s.last() - 1;
  const one = s.last();
  await s.send('alice', 'two');
  const two = s.last();
  await s.send('alice', 'three');
  const three = s.last();
  await s.receive('bob', ecdh);
  await s.receive('bob', three);
  await s.receive('bob', one);
  await s.receive('bob', two);
  await s.receive('bob', two);
  const copy = s.msg(two);
  await s.receive('bob', s.forge(ALICE, BOB, copy.payload));
  await s.receive('bob', ecdh);
  await s.send('bob', 'got them');
  await s.sync('alice');
  // The same conversation loaded from history by a fresh browser of Bob's holding no keys.
  await s.open('bob-new', BOB, ALICE, 'bob');
  await s.do({ party: 'bob-new', op: 'history', messages: s.server.between(ALICE, BOB).map(clone) });
});

scenario('simultaneous', 'Both sides start an exchange before seeing the other\'s: they converge on one key set.', async (s) => {
  await s.pair();
  await s.send('alice', 'from alice');
  await s.send('bob', 'from bob');
  await s.sync('alice');
  await s.sync('bob');
  await s.send('alice', 'again alice');
  await s.send('bob', 'again bob');
  await s.sync('alice');
  await s.sync('bob');
});

scenario('stale', 'An ecdh older than 60 s, or from history, is read-only: the recipient starts its own exchange.', async (s) => {
  await s.pair();
  await s.send('alice', 'old news');
  s.wait(120);
  await s.sync('bob');
  await s.do({ party: 'bob', op: 'exchange' });
  await s.send('bob', 'fresh start');
  await s.sync('alice');
  await s.send('alice', 'ok');
  await s.sync('bob');
  // A created_at in the future beyond the skew does not count as fresh either.
  await s.refresh('alice');
  const change = s.msg(s.last());
  change.created_at = s.t + 600;
  await s.receive('bob', change);
});

scenario('rejections-msg', 'Every rejection of a msg: malformed items and fields, wrong_conversation, unknown_key_set, bad_mac, bad_tag, invalid UTF-8 under a valid MAC, replay.', async (s) => {
  await s.pairAfter('setup');
  const good = s.msg(s.last());
  const ks = await s.keySet('alice', good.payload.key_set);
  const m = (/** @type {any} */ payload, /** @type {any} */ extra = {}) => ({ ...clone(good), id: s.forge(ALICE, BOB, payload), created_at: s.t, ...extra });
  await s.receive('bob', m({ ...good.payload, mac: flip(good.payload.mac) }));
  const tampered = /** @type {Uint8Array<ArrayBuffer>} */ (fromB64(good.payload.ciphertext));
  tampered[0] ^= 1;
  const ivBytes = u96be(7);
  await s.receive('bob', m({ ...good.payload, iv: toB64(ivBytes), ciphertext: toB64(tampered), mac: toB64(await hmac(ks.send.mac, msgMacInput(ALICE, BOB, ks.id, ivBytes, tampered))) }));
  await s.receive('bob', m(await rawMsg(ks, new Uint8Array([0x68, 0xff, 0xfe, 0x69]), 8)));
  await s.receive('bob', m({ ...good.payload, key_set: 'f'.repeat(32) }));
  await s.receive('bob', m({ ...good.payload, key_set: 'not a key set!' }));
  await s.receive('bob', m({ ...good.payload, iv: 'AAAAAAAAAAAAAAAB' }));
  await s.receive('bob', m({ ...good.payload, iv: toB64(u96be(0)) }));
  await s.receive('bob', m({ ...good.payload, iv: toB64(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])) }));
  await s.receive('bob', m({ ...good.payload, iv: `${good.payload.iv.slice(0, -1)}!` }));
  await s.receive('bob', m({ ...good.payload, ciphertext: toB64(new Uint8Array(15)) }));
  await s.receive('bob', m({ ...good.payload, mac: toB64(new Uint8Array(31)) }));
  await s.receive('bob', m({ ...good.payload, v: 2 }));
  await s.receive('bob', m({ ...good.payload, iv: 12 }));
  await s.receive('bob', m({ ...good.payload, type: 'hello' }));
  await s.receive('bob', m('just a string'));
  await s.receive('bob', { ...clone(good), id: 0 });
  await s.receive('bob', { ...clone(good), id: 'seven' });
  await s.receive('bob', { ...clone(good), id: s.forge(ALICE, BOB, good.payload), created_at: -1 });
  await s.receive('bob', 'not an object');
  await s.receive('bob', { ...clone(good), id: s.forge(CAROL, BOB, good.payload), sender_id: CAROL });
  await s.receive('bob', { ...clone(good), id: s.forge(ALICE, CAROL, good.payload), recipient_id: CAROL });
  await s.receive('bob', { ...clone(good), id: s.forge(BOB, BOB, good.payload), sender_id: BOB });
  // Alice's own message coming back (echo) and a copy of it under another id.
  await s.receive('alice', good);
  await s.receive('alice', m(good.payload));
  await s.receive('bob', good);
  await s.receive('bob', m(good.payload));
  await s.send('alice', 'still works');
  await s.sync('bob');
});

scenario('rejections-ecdh', 'Every rejection of an ecdh: malformed fields (salt out of range, bad base64, non-canonical base64, off-curve key, extra keys, nonce without confirm), not_my_key, bad_key_set, bad_mac (key confirmation), bad_salt (too far ahead), replay.', async (s) => {
  await s.pair();
  await s.send('alice', 'setup');
  const good = s.msg(s.last() - 1);
  await s.sync('bob');
  const p = good.payload;
  const e = (/** @type {any} */ payload) => ({ ...clone(good), id: s.forge(ALICE, BOB, payload), created_at: s.t });
  const keysWith = (/** @type {any} */ a, /** @type {any} */ b) => ({ [ALICE]: a, [BOB]: b });
  for (const salt of [0, -1, 1.5, 2 ** 53, '1', null]) await s.receive('bob', e({ ...p, salt }));
  await s.receive('bob', e({ ...p, keys: keysWith(p.keys[ALICE], offCurve(p.keys[BOB])) }));
  await s.receive('bob', e({ ...p, keys: keysWith(`${p.keys[ALICE].slice(0, -2)}!=`, p.keys[BOB]) }));
  const last = p.keys[ALICE].slice(-1);
  await s.receive('bob', e({ ...p, keys: keysWith(`${p.keys[ALICE].slice(0, -1)}${last === 'A' ? 'B' : 'A'}`, p.keys[BOB]) }));
  await s.receive('bob', e({ ...p, keys: { ...p.keys, [CAROL]: p.keys[BOB] } }));
  await s.receive('bob', e({ ...p, keys: { [ALICE]: p.keys[ALICE] } }));
  await s.receive('bob', e({ ...p, keys: 'keys' }));
  const { confirm: _confirm, ...noConfirm } = p;
  await s.receive('bob', e(noConfirm));
  await s.receive('bob', e({ ...p, nonce: toB64(new Uint8Array(15)) }));
  await s.receive('bob', e({ ...p, confirm: toB64(new Uint8Array(16)) }));
  await s.receive('bob', e({ ...p, nonce: 'not base64' }));
  await s.receive('bob', e({ ...p, v: 0 }));
  await s.receive('bob', e({ ...p, key_set: 7 }));
  // Made for a key Bob does not hold.
  await s.receive('bob', e({ ...p, keys: keysWith(p.keys[ALICE], KEYS.mallory.public_key) }));
  // Key confirmation: a flipped confirm; a key set id that is not the derived one.
  await s.receive('bob', e({ ...p, confirm: flip(p.confirm) }));
  await s.receive('bob', e({ ...p, key_set: '0'.repeat(32) }));
  await s.receive('bob', e({ ...p, nonce: flip(p.nonce) }));
  // A genuine exchange of Alice's with a salt too far above everything seen (salt_max + 2^20).
  const alicePrivate = await importPrivateJwk(KEYS.alice.jwk);
  const far = await deriveKeySet({ ownPrivate: alicePrivate, ownId: ALICE, ownPublic: KEYS.alice.public_key, peerId: BOB, peerPublic: KEYS.bob.public_key, salt: 2 ** 20 + 2, nonce: new Uint8Array(16).fill(9) });
  await s.receive('bob', e(await makeExchange(far)));
  const near = await deriveKeySet({ ownPrivate: alicePrivate, ownId: ALICE, ownPublic: KEYS.alice.public_key, peerId: BOB, peerPublic: KEYS.bob.public_key, salt: 2 ** 20 + 1, nonce: new Uint8Array(16).fill(10) });
  await s.receive('bob', e(await makeExchange(near)));
  // A legacy (no nonce) exchange from history.
  const { nonce: _nonce, confirm: _c, ...legacy } = p;
  await s.receive('bob', e(legacy));
  // The genuine exchange replayed under a new id: no effect.
  await s.receive('bob', e(p));
  await s.send('bob', 'still works');
  await s.sync('alice');
});

scenario('rejections-change', 'Every rejection of a change: malformed fields, unknown_key_set, bad_mac_old, bad_salt (not above the old salt; too far ahead), bad_key_set, bad_mac_new, replay.', async (s) => {
  await s.pairAfter('setup');
  const head = s.steps[s.steps.length - 1].expect.probe.head;
  await s.refresh('alice');
  const good = s.msg(s.last());
  const p = good.payload;
  const old = await s.keySet('alice', head);
  const c = (/** @type {any} */ payload) => ({ ...clone(good), id: s.forge(ALICE, BOB, payload), created_at: s.t });
  /** Re-sign mac_old (and mac_new with `newMac`) over changed fields. @param {any} q @param {Uint8Array | null} [newMac] */
  const signed = async (q, newMac) => {
    const input = changeMacInput(ALICE, BOB, q.key_set, q.new_key_set, q.salt, /** @type {any} */ (fromB64(q.last_iv)), q.nonce === undefined ? null : fromB64(q.nonce));
    const out = { ...q, mac_old: toB64(await hmac(old.send.mac, input)) };
    if (newMac) out.mac_new = toB64(await hmac(newMac, input));
    return out;
  };
  await s.receive('bob', c({ ...p, mac_old: flip(p.mac_old) }));
  await s.receive('bob', c({ ...p, mac_new: flip(p.mac_new) }));
  await s.receive('bob', c({ ...p, key_set: 'e'.repeat(32) }));
  await s.receive('bob', c(await signed({ ...p, salt: 1 })));
  await s.receive('bob', c(await signed({ ...p, new_key_set: 'd'.repeat(32) })));
  await s.receive('bob', c(await signed({ ...p, salt: 2 ** 20 + 5 })));
  for (const bad of [{ salt: 0 }, { salt: 2 ** 53 }, { last_iv: toB64(new Uint8Array(12).fill(255)) }, { last_iv: 'AAAA' }, { mac_old: 'x' }, { nonce: toB64(new Uint8Array(8)) }, { new_key_set: '' }, { v: '1' }]) {
    await s.receive('bob', c({ ...p, ...bad }));
  }
  // A change far ahead but correctly made by Alice (she holds both MAC keys).
  const alicePrivate = await importPrivateJwk(KEYS.alice.jwk);
  const farSet = await deriveKeySet({ ownPrivate: alicePrivate, ownId: ALICE, ownPublic: KEYS.alice.public_key, peerId: BOB, peerPublic: KEYS.bob.public_key, salt: 2 ** 20 + 9, nonce: new Uint8Array(16).fill(3) });
  const { makeChange } = await import('../../web/protocol.js');
  await s.receive('bob', c(await makeChange(old, farSet, 1)));
  await s.sync('bob');
  await s.receive('bob', c(p));
  await s.send('bob', 'still works');
  await s.sync('alice');
});

scenario('replayed-ecdh', 'A replayed old ecdh under a new id with a fresh created_at after a Refresh: no effect on the key set.', async (s) => {
  await s.pair();
  await s.send('alice', 'one');
  const ecdh = s.last() - 1;
  await s.sync('bob');
  await s.refresh('bob');
  await s.sync('alice');
  await s.send('alice', 'two');
  await s.sync('bob');
  s.wait(10);
  await s.receive('bob', { ...s.msg(ecdh), id: s.forge(ALICE, BOB, s.msg(ecdh).payload), created_at: s.t });
  await s.receive('alice', { ...s.msg(ecdh), id: s.forge(ALICE, BOB, s.msg(ecdh).payload), created_at: s.t });
  await s.send('alice', 'three');
  await s.send('bob', 'four');
  await s.sync('bob');
  await s.sync('alice');
});

for (const verified of [false, true]) {
  scenario(`stand-in${verified ? '-verified' : ''}`, `A forged ecdh "from Bob" naming the server's own key (confirmed by the server), ${verified ? 'in a verified conversation' : 'unverified'}: a key warning, never shown silently as Bob's.`, async (s) => {
    await s.pairAfter('hello');
    await s.send('bob', 'hi');
    await s.sync('alice');
    if (verified) await s.do({ party: 'alice', op: 'verify' });
    // Mallory is the server posing as Bob with its own key.
    await s.do({ party: 'mallory', op: 'open', me: BOB, peer: ALICE, key: 'mallory' });
    await s.do({ party: 'mallory', op: 'set_peer_keys', keys: { current: { public_key: KEYS.alice.public_key, created_at: START } } });
    await s.send('mallory', 'I am Bob, trust me');
    const forged = s.last();
    await s.receive('alice', forged - 1);
    await s.receive('alice', forged);
    // The same forged exchange with an id below the pinned one.
    await s.receive('alice', { ...s.msg(forged - 1), id: 1, created_at: s.t });
    await s.send('alice', 'to whom?');
    await s.do({ party: 'alice', op: 'accept' });
    await s.send('alice', 'after accepting');
    await s.sync('bob');
  });
}

scenario('verified-key-change', 'A verified contact\'s key changes (a new browser of Bob\'s): sending is blocked (key_change_unconfirmed) until Alice accepts the new key.', async (s) => {
  await s.pairAfter('hello');
  await s.do({ party: 'alice', op: 'verify' });
  s.wait(100);
  await s.open('bob2', BOB, ALICE, 'bob2');
  await s.keys('bob2');
  await s.send('bob2', 'new phone, who dis');
  await s.receive('alice', s.last() - 1);
  await s.receive('alice', s.last());
  await s.send('alice', 'blocked?');
  await s.refresh('alice');
  await s.keys('alice');
  await s.send('alice', 'still blocked?');
  await s.do({ party: 'alice', op: 'accept' });
  await s.send('alice', 'accepted');
  await s.receive('bob2', s.last() - 1);
  await s.receive('bob2', s.last());
  await s.do({ party: 'alice', op: 'verify' });
  await s.send('bob2', 'verified again');
  await s.receive('alice', s.last());
});

scenario('restore', 'A restored older storage resumes above the server\'s last IV (no repeated IV); a Refresh after the restore draws a new nonce; the server refuses a second change.', async (s) => {
  await s.pairAfter('one');
  await s.sendThenGoBack('alice', 'restore', 'early', ['two', 'three']);
  await s.send('alice', 'four');
  await s.sync('bob');
  await s.do({ party: 'alice', op: 'snapshot', name: 'before-refresh' });
  await s.refresh('alice');
  await s.do({ party: 'alice', op: 'restore', name: 'before-refresh' });
  await s.refresh('alice');
  await s.send('alice', 'five');
  await s.sync('bob');
  await s.send('bob', 'six');
  await s.sync('alice');
  // A rollback under the running instance: its first post meets the server's 409 iv_reused, it
  // asks the last IV again and posts above it.
  await s.sendThenGoBack('alice', 'rollback', 'running', ['eight', 'nine']);
  await s.send('alice', 'ten');
  await s.sync('bob');
  // Bob restores too, before everything.
  await s.do({ party: 'bob', op: 'snapshot', name: 'late' });
  await s.do({ party: 'bob', op: 'restore', name: 'late' });
  await s.send('bob', 'seven');
  await s.sync('alice');
});

scenario('restore-echo', 'After a restore, the server\'s catch-up brings back the own messages, ecdh and change the restored storage never saw (own echoes without a pending entry).', async (s) => {
  await s.pair();
  await s.do({ party: 'alice', op: 'snapshot', name: 'empty' });
  await s.send('alice', 'one');
  await s.sync('bob');
  await s.send('bob', 'two');
  await s.do({ party: 'alice', op: 'snapshot', name: 'early' });
  await s.send('alice', 'three');
  await s.refresh('alice');
  await s.send('alice', 'four');
  await s.sync('bob');
  await s.do({ party: 'alice', op: 'restore', name: 'early' });
  for (const m of s.server.between(ALICE, BOB)) await s.receive('alice', m.id);
  await s.send('alice', 'five');
  await s.sync('bob');
  await s.do({ party: 'alice', op: 'restore', name: 'empty' });
  s.wait(120);
  await s.do({ party: 'alice', op: 'history', messages: s.server.between(ALICE, BOB).map(clone) });
  await s.send('alice', 'six');
  await s.sync('bob');
  await s.send('bob', 'seven');
  await s.sync('alice');
});

scenario('own-ecdh-pin', 'SPIN trail new-own-ecdh-pin: the directory lied once and Alice sent to the stand-in key; her storage is restored from before, the directory is honest again, and the catch-up echoes her own ecdh naming the stand-in key: the pin stays on the key the directory names.', async (s) => {
  await s.pairAfter('a1');
  await s.do({ party: 'alice', op: 'snapshot', name: 'before' });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.mallory.public_key } } });
  await s.send('alice', 'a2 to the stand-in');
  await s.do({ party: 'alice', op: 'restore', name: 'before' });
  await s.keys('alice');
  for (const m of s.server.between(ALICE, BOB)) await s.receive('alice', m.id);
  await s.send('alice', 'a3 to Bob');
  await s.sync('bob');
});

scenario('directory-pin', 'SPIN trail new-directory-pin: a stand-in key seen (below the pin) before Alice verifies Bob; later the directory names it: the warning is raised again and sending is blocked until accepted.', async (s) => {
  // Ids 1-2 go to another conversation, so the forged exchange can take id 1, below the pin.
  s.forge(CAROL, BOB, { v: 1 });
  s.forge(CAROL, BOB, { v: 1 });
  // Alice learns Bob's key from his exchange (id 3), which sets the pin's id.
  await s.open('alice', ALICE, BOB, 'alice');
  await s.open('bob', BOB, ALICE, 'bob');
  await s.keys('bob');
  await s.send('bob', 'b1');
  await s.sync('alice');
  await s.do({ party: 'mallory', op: 'open', me: BOB, peer: ALICE, key: 'mallory' });
  await s.do({ party: 'mallory', op: 'set_peer_keys', keys: { current: { public_key: KEYS.alice.public_key, created_at: START } } });
  await s.send('mallory', 'I am Bob');
  const forged = s.last();
  await s.receive('alice', { ...s.msg(forged - 1), id: 1, created_at: s.t });
  await s.do({ party: 'alice', op: 'verify' });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.mallory.public_key } } });
  await s.send('alice', 'blocked');
  await s.do({ party: 'alice', op: 'accept' });
  await s.send('alice', 'after accepting');
});

scenario('directory', 'The key directory: an off-curve or missing key is ignored; a changed key raises the warning; the pin follows the directory.', async (s) => {
  await s.open('alice', ALICE, BOB, 'alice');
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: null } });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: offCurve(KEYS.bob.public_key) } } });
  await s.send('alice', 'nobody to talk to');
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.bob.public_key, created_at: START - 5 } } });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.bob.public_key } } });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.bob2.public_key, created_at: 'later' } } });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.bob.public_key } } });
  await s.do({ party: 'alice', op: 'verify' });
  await s.do({ party: 'alice', op: 'set_peer_keys', keys: { current: { public_key: KEYS.mallory.public_key } } });
  await s.send('alice', 'blocked');
  await s.do({ party: 'alice', op: 'accept' });
  await s.send('alice', 'to mallory');
  await s.send('alice', 'x'.repeat(48 * 1024));
});

scenario('own-key-changed', 'A browser whose identity key was replaced over the same storage: its old key sets still decrypt, a change or ecdh for the old key is not_my_key, the next send starts a new exchange (own_key_changed).', async (s) => {
  await s.pairAfter('one');
  await s.send('bob', 'two');
  await s.do({ party: 'alice', op: 'reload', key: 'alice' });
  await s.sync('alice');
  await s.do({ party: 'alice', op: 'reload', key: 'alice2' });
  s.server.publish(ALICE, KEYS.alice2.public_key);
  await s.refresh('bob');
  await s.send('bob', 'three');
  await s.sync('alice');
  await s.send('alice', 'with my new key');
  await s.keys('bob');
  await s.sync('bob');
  await s.send('bob', 'got your new key');
  await s.sync('alice');
});

scenario('legacy', 'Legacy key sets of old history (no nonce, no key confirmation): a legacy ecdh, msg and change decrypt read-only; sending starts a nonce-salted exchange.', async (s) => {
  await s.pair();
  const alicePrivate = await importPrivateJwk(KEYS.alice.jwk);
  const derive = (/** @type {number} */ salt) => deriveKeySet({ ownPrivate: alicePrivate, ownId: ALICE, ownPublic: KEYS.alice.public_key, peerId: BOB, peerPublic: KEYS.bob.public_key, salt, nonce: null });
  const ks1 = await derive(1);
  const ks2 = await derive(2);
  const ecdh = { v: 1, type: 'ecdh', key_set: ks1.id, salt: 1, keys: { [ALICE]: KEYS.alice.public_key, [BOB]: KEYS.bob.public_key } };
  const { makeChange } = await import('../../web/protocol.js');
  s.wait(-3600);
  const ids = [s.forge(ALICE, BOB, ecdh), s.forge(ALICE, BOB, await encryptDetailed(ks1, 'legacy hello', 1).then((e) => e.payload))];
  ids.push(s.forge(ALICE, BOB, await makeChange(ks1, ks2, 1)));
  ids.push(s.forge(ALICE, BOB, await encryptDetailed(ks2, 'legacy after change', 1).then((e) => e.payload)));
  s.wait(3600);
  await s.do({ party: 'bob', op: 'history', messages: ids.map((id) => s.msg(id)) });
  await s.receive('bob', { ...s.msg(ids[0]), id: s.forge(ALICE, BOB, ecdh), created_at: s.t });
  await s.send('bob', 'a new exchange');
  await s.sync('alice');
  await s.send('alice', 'on the new key set');
  await s.sync('bob');
});

/** @returns {Promise<any>} the whole trace file */
export async function buildTraces() {
  const traces = [];
  for (const fn of SCENARIOS) {
    const s = new Script(/** @type {any} */ (fn).traceName, /** @type {any} */ (fn).about);
    await fn(s);
    traces.push(s.toJSON());
  }
  const users = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [k, { d: v.jwk.d, public_key: v.public_key }]));
  return {
    about: 'Trace vectors of the conversation state machine (docs/protocol.md "The Rust state machine and trace vectors"). Written by tests/protocol/make-traces.mjs from web/protocol/conversation.js; replayed by tests/protocol/traces.test.mjs (JS) and crates/protocol/tests/traces.rs (Rust).',
    users,
    traces,
  };
}


if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = await buildTraces();
  writeFileSync(TRACES_PATH, `${JSON.stringify(file, null, 1)}\n`);
  let steps = 0;
  let events = 0;
  for (const t of file.traces) {
    steps += t.steps.length;
    for (const st of t.steps) events += st.expect.events?.length ?? 0;
  }
  console.log(`wrote ${TRACES_PATH}: ${file.traces.length} traces, ${steps} steps, ${events} events`);
}
