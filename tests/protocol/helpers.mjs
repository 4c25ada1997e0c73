// @ts-check
/**
 * Test doubles for the protocol tests: an in-memory Storage, a fake clock, and a fake server
 * that stamps messages as the real one does (id, sender_id, recipient_id, created_at) and keeps
 * every published key.
 */

import { Conversation, createIdentity, memoryLock } from '../../web/protocol.js';

/** @typedef {import('../../web/protocol.js').StoredMessage} StoredMessage */
/** @typedef {import('../../web/protocol.js').Payload} Payload */
/** @typedef {import('../../web/protocol.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('../../web/protocol.js').Identity} Identity */
/** @typedef {import('../../web/protocol.js').LockFn} LockFn */

/** A Storage with the Web Storage API's shape, in memory. */
export class MemoryStorage {
  /** @type {Map<string, string>} */
  #items = new Map();

  get length() {
    return this.#items.size;
  }

  /** @param {number} i */
  key(i) {
    return [...this.#items.keys()][i] ?? null;
  }

  /** @param {string} k */
  getItem(k) {
    return this.#items.get(k) ?? null;
  }

  /** @param {string} k @param {string} v */
  setItem(k, v) {
    this.#items.set(k, String(v));
  }

  /** @param {string} k */
  removeItem(k) {
    this.#items.delete(k);
  }

  clear() {
    this.#items.clear();
  }

  /** @returns {string[]} */
  keys() {
    return [...this.#items.keys()];
  }
}

export class Clock {
  t = 1_750_000_000;

  now = () => this.t;

  /** @param {number} seconds */
  advance(seconds) {
    this.t += seconds;
  }
}

export const ALICE = '3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c';
export const BOB = 'c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9';

export class FakeServer {
  /** @type {StoredMessage[]} */
  messages = [];
  /** Every payload posted, stored or refused: what a curious server sees. @type {Array<{ sender: string, payload: any }>} */
  received = [];
  /** @type {Map<string, Array<{ public_key: string, created_at: number }>>} */
  keys = new Map();
  nextId = 1;

  /** @param {Clock} clock */
  constructor(clock) {
    this.clock = clock;
  }

  /** @param {string} user @param {string} key */
  publish(user, key) {
    const list = this.keys.get(user) ?? [];
    if (!list.some((k) => k.public_key === key)) list.push({ public_key: key, created_at: this.clock.now() });
    this.keys.set(user, list);
  }

  /** @param {string} user */
  keysOf(user) {
    const history = this.keys.get(user) ?? [];
    return { current: history[history.length - 1] ?? null, history };
  }

  /**
   * Store a payload as `sender` (the server takes the sender from the session).
   * @param {string} sender @param {string} recipient @param {unknown} payload
   * @returns {StoredMessage}
   */
  store(sender, recipient, payload) {
    /** @type {StoredMessage} */
    const m = { id: this.nextId++, sender_id: sender, recipient_id: recipient, created_at: this.clock.now(), payload: JSON.parse(JSON.stringify(payload)) };
    this.messages.push(m);
    return m;
  }

  /**
   * The uniqueness slot of a payload: `key_set iv` of a msg, `key_set change` of a change.
   * @param {any} p
   * @returns {string | null}
   */
  static slot(p) {
    if (p?.type === 'msg') return `${p.key_set} ${p.iv}`;
    if (p?.type === 'change') return `${p.key_set} change`;
    return null;
  }

  /**
   * `GET /api/keysets/{ks}/last-iv` of `sender`.
   * @param {string} sender @param {string} keySet
   * @returns {{ last_iv: number, closed: boolean }}
   */
  lastIv(sender, keySet) {
    let last = 0;
    let closed = false;
    for (const m of this.messages) {
      const p = /** @type {any} */ (m.payload);
      if (m.sender_id !== sender || p?.key_set !== keySet) continue;
      if (p.type === 'change') closed = true;
      if (p.type === 'msg') last = Math.max(last, Number(Buffer.from(p.iv, 'base64').readBigUInt64BE(4)));
    }
    return { last_iv: last, closed };
  }

  /**
   * The `post` function of a client.
   * @param {string} sender @param {string} recipient
   * @returns {(payload: Payload) => Promise<StoredMessage>}
   */
  poster(sender, recipient) {
    return async (payload) => {
      this.received.push({ sender, payload: JSON.parse(JSON.stringify(payload)) });
      // The real server refuses a repeated (sender, key set, IV) of a `msg`, and a second `change`
      // from the same (sender, key set): 409 `iv_reused` (docs/api.md). `store` is the raw insert
      // a malicious server (or a test) uses.
      const slot = FakeServer.slot(payload);
      if (slot && this.messages.some((m) => m.sender_id === sender && FakeServer.slot(m.payload) === slot)) {
        throw Object.assign(new Error('this IV was already used under this key set'), { code: 'iv_reused', status: 409 });
      }
      return this.store(sender, recipient, payload);
    };
  }

  /** @param {string} a @param {string} b */
  between(a, b) {
    return this.messages.filter((m) => (m.sender_id === a && m.recipient_id === b) || (m.sender_id === b && m.recipient_id === a));
  }
}

/**
 * One user's browser tab: identity, storage, conversation with `peer`, delivery cursor.
 */
export class Client {
  /** @type {string[]} */
  lines = [];
  /** Highest id delivered to this tab by `sync`. */
  delivered = 0;
  /** @type {Set<number>} ids this tab posted (their events came from send/refresh) */
  sent = new Set();

  /**
   * @param {{ server: FakeServer, clock: Clock, me: string, peer: string, identity: Identity, storage: MemoryStorage, lock?: LockFn }} o
   */
  constructor({ server, clock, me, peer, identity, storage, lock }) {
    this.server = server;
    this.clock = clock;
    this.me = me;
    this.peer = peer;
    this.identity = identity;
    this.storage = storage;
    this.conv = new Conversation({
      me, peer, identity, storage, now: clock.now, log: (l) => this.lines.push(l), lock: lock ?? memoryLock,
      lastIv: async (ks) => server.lastIv(me, ks),
    });
    this.post = server.poster(me, peer);
  }

  /**
   * A browser with a new identity, published.
   * @param {FakeServer} server @param {Clock} clock @param {string} me @param {string} peer
   * @param {{ storage?: MemoryStorage, lock?: LockFn }} [o]
   */
  static async create(server, clock, me, peer, o = {}) {
    const storage = o.storage ?? new MemoryStorage();
    const identity = await createIdentity(storage, me, { now: clock.now });
    server.publish(me, identity.publicKey);
    const c = new Client(o.lock ? { server, clock, me, peer, identity, storage, lock: o.lock } : { server, clock, me, peer, identity, storage });
    return c;
  }

  /**
   * This browser loses its storage and comes back (as a new tab over the same, now empty,
   * storage) with a new identity, published.
   * @returns {Promise<Client>}
   */
  async wiped() {
    this.storage.clear();
    return Client.create(this.server, this.clock, this.me, this.peer, { storage: this.storage });
  }

  /** Fetch the peer's keys as the UI does on opening the conversation. */
  async fetchPeerKeys() {
    return this.conv.setPeerKeys(this.server.keysOf(this.peer));
  }

  /** @param {string} text */
  async send(text) {
    await this.fetchPeerKeys();
    const events = await this.conv.send(text, this.post);
    for (const e of events) this.sent.add(e.id);
    return events;
  }

  async refresh() {
    await this.fetchPeerKeys();
    const events = await this.conv.refresh(this.post);
    for (const e of events) this.sent.add(e.id);
    return events;
  }

  /**
   * Deliver (push) every message of the conversation not yet delivered to this tab, in id order,
   * including the user's own from other tabs (as the server's push does). Returns the events of
   * messages this tab did not post itself (those came back from send/refresh).
   * @returns {Promise<ProtocolEvent[]>}
   */
  async sync() {
    /** @type {ProtocolEvent[]} */
    const events = [];
    for (const m of this.server.between(this.me, this.peer)) {
      if (m.id <= this.delivered) continue;
      this.delivered = m.id;
      const got = await this.conv.receive(m);
      if (!this.sent.has(m.id)) events.push(...got);
    }
    return events;
  }

  /** The whole conversation as a history page (what a reload shows). */
  async history() {
    return this.conv.loadHistory(this.server.between(this.me, this.peer));
  }
}

/**
 * Alice and Bob with fresh identities and a shared fake server.
 * @param {{ lock?: LockFn }} [o]
 */
export async function pair(o = {}) {
  const clock = new Clock();
  const server = new FakeServer(clock);
  const alice = await Client.create(server, clock, ALICE, BOB, o);
  const bob = await Client.create(server, clock, BOB, ALICE, o);
  return { clock, server, alice, bob };
}

/**
 * `pair`, once Alice's first message `text` has reached Bob (the first exchange is done).
 * @param {string} text
 * @param {{ lock?: LockFn }} [o]
 */
export async function pairAfter(text, o = {}) {
  const p = await pair(o);
  await p.alice.send(text);
  await p.bob.sync();
  return p;
}

/**
 * One round: `first` sends, `second` reads it and answers, `first` reads the answer.
 * @param {Client} first
 * @param {Client} second
 * @param {string} text from `first`
 * @param {string} answer from `second`
 */
export async function roundTrip(first, second, text, answer) {
  await first.send(text);
  await second.sync();
  await second.send(answer);
  await first.sync();
}

/**
 * @param {ProtocolEvent[]} events
 * @returns {string[]} the texts of the message events
 */
export function texts(events) {
  return events.flatMap((e) => (e.kind === 'message' ? [e.text] : []));
}

/**
 * @param {ProtocolEvent[]} events
 * @returns {string[]} the kinds, for compact assertions
 */
export function kinds(events) {
  return events.map((e) => (e.kind === 'undecryptable' ? `undecryptable:${e.reason}` : e.kind));
}

/** The E9 grep pattern of docs/protocol.md §12. */
export const IV_LINE = /^\[parley\] (encrypt|decrypt) +ks=(\S+) salt=\d+ dir=(\S+) iv=([0-9a-f]{24})/;

/**
 * Check that IVs strictly increase per (op, key set, direction) in log lines.
 * @param {string[]} lines
 * @returns {{ ok: boolean, count: number, problem?: string }}
 */
export function ivsStrictlyIncrease(lines) {
  /** @type {Map<string, bigint>} */
  const last = new Map();
  let count = 0;
  for (const line of lines) {
    const m = IV_LINE.exec(line);
    if (!m) continue;
    count += 1;
    const key = `${m[1]} ${m[2]} ${m[3]}`;
    const iv = BigInt(`0x${m[4]}`);
    const prev = last.get(key);
    if (prev !== undefined && iv <= prev) return { ok: false, count, problem: `${key}: ${iv} after ${prev}` };
    last.set(key, iv);
  }
  return { ok: true, count };
}
