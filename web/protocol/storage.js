// @ts-check
/**
 * What the protocol keeps in localStorage (docs/protocol.md §10) and how tabs share it (§11):
 * storage key names, the identity, key sets, IV counters, accepted IVs, and the locks.
 * Takes any Storage-like object; never touches the global localStorage itself.
 */

import { MAX_COUNTER, fromB64, toB64 } from './bytes.js';
import { PUBLIC_KEY_BYTES } from '../limits.js';
import {
  ProtocolError, USER_ID_RE, exportPublicKey, generateIdentityKeyPair, importKeySet, importPrivateJwk, isObject,
  publicKeyFromJwk,
} from './crypto.js';

/** @typedef {import('./crypto.js').KeySet} KeySet */
/** @typedef {import('./crypto.js').KeySetData} KeySetData */

/**
 * The part of the Web Storage interface the protocol uses; `length` and `key` only for forgetAll.
 * @typedef {{
 *   getItem(key: string): string | null,
 *   setItem(key: string, value: string): void,
 *   removeItem(key: string): void,
 *   readonly length?: number,
 *   key?(index: number): string | null,
 * }} StorageLike
 */

/**
 * Runs `fn` while holding the lock `name` (exclusive), e.g. the Web Locks API.
 * @callback LockFn
 * @param {string} name
 * @param {() => Promise<any>} fn
 * @returns {Promise<any>}
 */

/** @typedef {(line: string) => void} Logger */

/** A browser's identity (§3): its user, public key (b64 raw) and non-extractable private key. */
/** @typedef {{ userId: string, publicKey: string, privateKey: CryptoKey, createdAt: number }} Identity */

/** The localStorage key names (§10). */
export const storageKeys = {
  /** @param {string} me */
  prefix: (me) => `parley:v1:${me}:`,
  /** @param {string} me */
  identity: (me) => `parley:v1:${me}:identity`,
  /** @param {string} me @param {string} peer */
  conversation: (me, peer) => `parley:v1:${me}:conv:${peer}`,
  /** @param {string} me @param {string} ks */
  keySet: (me, ks) => `parley:v1:${me}:ks:${ks}`,
  /** @param {string} me @param {string} ks */
  counter: (me, ks) => `parley:v1:${me}:ctr:${ks}`,
  /** @param {string} me @param {string} ks */
  seen: (me, ks) => `parley:v1:${me}:seen:${ks}`,
};

/** The names of the two locks (§11). */
export const lockNames = {
  /** @param {string} me @param {string} peer */
  conversation: (me, peer) => `parley-conv-${me}-${peer}`,
  /** @param {string} ks */
  iv: (ks) => `parley-iv-${ks}`,
};

/**
 * @param {StorageLike} storage
 * @param {string} key
 * @returns {unknown} the parsed JSON, or null when absent or not JSON
 */
export function readJson(storage, key) {
  const text = storage.getItem(key);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * @param {StorageLike} storage
 * @param {string} key
 * @param {unknown} value
 */
export function writeJson(storage, key, value) {
  storage.setItem(key, JSON.stringify(value));
}

// ---- identity (§3, §10) ----

/**
 * Remove every protocol item of user `me` ("forget this browser"). Needs `length` and `key`.
 * @param {StorageLike} storage
 * @param {string} me
 */
export function forgetAll(storage, me) {
  if (typeof storage.length !== 'number' || typeof storage.key !== 'function') return;
  const prefix = storageKeys.prefix(me);
  /** @type {string[]} */
  const doomed = [];
  for (let i = 0; i < storage.length; i += 1) {
    const k = storage.key(i);
    if (k !== null && k.startsWith(prefix)) doomed.push(k);
  }
  for (const k of doomed) storage.removeItem(k);
}

/**
 * The stored identity of `me`, or null if there is none (or it is unusable).
 * @param {StorageLike} storage
 * @param {string} me
 * @returns {Promise<Identity | null>}
 */
export async function loadIdentity(storage, me) {
  const rec = readJson(storage, storageKeys.identity(me));
  if (!isObject(rec) || rec.v !== 1 || !isObject(rec.private_jwk) || typeof rec.public_key !== 'string') return null;
  const jwk = /** @type {JsonWebKey} */ (rec.private_jwk);
  try {
    if (publicKeyFromJwk(jwk) !== rec.public_key) return null;
    const privateKey = await importPrivateJwk(jwk);
    return { userId: me, publicKey: rec.public_key, privateKey, createdAt: typeof rec.created_at === 'number' ? rec.created_at : 0 };
  } catch {
    return null;
  }
}

/**
 * Make a new identity for `me`, after removing all of `me`'s protocol storage (§3.1).
 * @param {StorageLike} storage
 * @param {string} me
 * @param {{ log?: Logger | null | undefined, now?: (() => number) | undefined }} [opts]
 * @returns {Promise<Identity>}
 */
export async function createIdentity(storage, me, opts = {}) {
  if (!USER_ID_RE.test(me)) throw new ProtocolError('bad_user_id');
  const pair = await generateIdentityKeyPair();
  const { kty, crv, x, y, d } = await globalThis.crypto.subtle.exportKey('jwk', pair.privateKey);
  const publicKey = await exportPublicKey(pair.publicKey);
  const createdAt = (opts.now ?? unixNow)();
  forgetAll(storage, me);
  writeJson(storage, storageKeys.identity(me), { v: 1, private_jwk: { kty, crv, x, y, d }, public_key: publicKey, created_at: createdAt });
  opts.log?.(`[parley] identity   new  user=${me.slice(0, 8)} pub=${publicKey.slice(0, 12)}…(${PUBLIC_KEY_BYTES}B) curve=P-384 stored=localStorage`);
  const identity = await loadIdentity(storage, me);
  if (!identity) throw new ProtocolError('storage_failed', 'the new identity could not be read back');
  return identity;
}

/**
 * The stored identity, or a new one. `created` tells the caller to publish the public key.
 * @param {StorageLike} storage
 * @param {string} me
 * @param {{ log?: Logger | null | undefined, now?: (() => number) | undefined }} [opts]
 * @returns {Promise<{ identity: Identity, created: boolean }>}
 */
export async function loadOrCreateIdentity(storage, me, opts = {}) {
  const found = await loadIdentity(storage, me);
  if (found) return { identity: found, created: false };
  return { identity: await createIdentity(storage, me, opts), created: true };
}

// ---- key sets (§10) ----

/**
 * Store a key set (immutable; an existing one is kept).
 * @param {StorageLike} storage
 * @param {string} me
 * @param {KeySetData} ks
 */
export function saveKeySet(storage, me, ks) {
  const key = storageKeys.keySet(me, ks.id);
  if (storage.getItem(key) !== null) return;
  writeJson(storage, key, {
    v: 1, id: ks.id, salt: ks.salt, nonce: ks.nonce, pair: ks.pair, me: ks.ownId, peer: ks.peerId,
    own_public: ks.ownPublic, peer_public: ks.peerPublic,
    send: { enc: toB64(ks.send.enc), mac: toB64(ks.send.mac) },
    recv: { enc: toB64(ks.recv.enc), mac: toB64(ks.recv.mac) },
  });
}

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} id
 * @returns {KeySetData | null}
 */
export function loadKeySetData(storage, me, id) {
  const r = readJson(storage, storageKeys.keySet(me, id));
  if (!isObject(r) || r.v !== 1 || r.id !== id || !isObject(r.send) || !isObject(r.recv)) return null;
  const sendEnc = fromB64(r.send.enc);
  const sendMac = fromB64(r.send.mac);
  const recvEnc = fromB64(r.recv.enc);
  const recvMac = fromB64(r.recv.mac);
  if (!sendEnc || !sendMac || !recvEnc || !recvMac || typeof r.salt !== 'number' || typeof r.pair !== 'string') return null;
  if (typeof r.me !== 'string' || typeof r.peer !== 'string' || typeof r.own_public !== 'string' || typeof r.peer_public !== 'string') return null;
  const nonce = typeof r.nonce === 'string' ? r.nonce : null;
  return {
    id, salt: r.salt, nonce, pair: r.pair, ownId: r.me, peerId: r.peer, ownPublic: r.own_public, peerPublic: r.peer_public,
    send: { enc: sendEnc, mac: sendMac }, recv: { enc: recvEnc, mac: recvMac },
  };
}

/**
 * Imported key sets, per storage object (key sets are immutable, so caching is safe).
 * @type {WeakMap<object, Map<string, Promise<KeySet>>>}
 */
const keySetCache = new WeakMap();

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} id
 * @returns {Promise<KeySet | null>}
 */
export async function loadKeySet(storage, me, id) {
  let cache = keySetCache.get(storage);
  if (!cache) keySetCache.set(storage, (cache = new Map()));
  const hit = cache.get(`${me}:${id}`);
  if (hit && storage.getItem(storageKeys.keySet(me, id)) !== null) return hit;
  const data = loadKeySetData(storage, me, id);
  if (!data) return null;
  const imported = importKeySet(data);
  cache.set(`${me}:${id}`, imported);
  return imported;
}

// ---- IV counters (§4.5, §11) ----

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} ks
 * @returns {{ iv: number, closed: boolean }} the last IV counter used by `me` under `ks`
 */
export function readCounter(storage, me, ks) {
  const r = readJson(storage, storageKeys.counter(me, ks));
  if (!isObject(r) || typeof r.iv !== 'number' || !Number.isSafeInteger(r.iv) || r.iv < 0) return { iv: 0, closed: false };
  return { iv: r.iv, closed: r.closed === true };
}

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} ks
 * @param {{ iv: number, closed: boolean }} value
 */
export function writeCounter(storage, me, ks, value) {
  writeJson(storage, storageKeys.counter(me, ks), value);
}

/**
 * Reserve the next IV of `me` under key set `ks`: read the counter from storage, write it + 1,
 * return it. Returns null when the counter is closed (the key set was refreshed away).
 * MUST run inside the lock `parley-iv-<ks>` (lockNames.iv), which must also cover using and
 * posting the IV (§11): then two tabs never reuse an IV and IV order is server order.
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} ks
 * @returns {number | null}
 */
export function reserveIv(storage, me, ks) {
  const c = readCounter(storage, me, ks);
  if (c.closed) return null;
  if (c.iv >= MAX_COUNTER) throw new ProtocolError('iv_exhausted', 'refresh the keys');
  const next = c.iv + 1;
  writeCounter(storage, me, ks, { iv: next, closed: false });
  return next;
}

// ---- accepted IVs (§6.1 step 5, §10) ----

/** @typedef {{ in: Array<[number, number]>, out: Array<[number, number]>, in_limit: number | null }} Seen */

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} ks
 * @returns {Seen}
 */
export function loadSeen(storage, me, ks) {
  const r = readJson(storage, storageKeys.seen(me, ks));
  /** @param {unknown} list @returns {Array<[number, number]>} */
  const pairs = (list) => (Array.isArray(list) ? list.filter((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isSafeInteger)) : []);
  if (!isObject(r)) return { in: [], out: [], in_limit: null };
  return { in: pairs(r.in), out: pairs(r.out), in_limit: typeof r.in_limit === 'number' ? r.in_limit : null };
}

/**
 * @param {StorageLike} storage
 * @param {string} me
 * @param {string} ks
 * @param {Seen} seen
 */
export function saveSeen(storage, me, ks, seen) {
  writeJson(storage, storageKeys.seen(me, ks), seen);
}

/**
 * The replay rule (§6.1 step 5) against the accepted (iv, id) pairs of one direction key:
 * 'again' for a message accepted before, 'replay' when the IV is not above every IV of an
 * earlier message and below every IV of a later one, else 'new'.
 * @param {Array<[number, number]>} accepted
 * @param {number} iv
 * @param {number} id
 * @returns {'new' | 'again' | 'replay'}
 */
export function classifyIv(accepted, iv, id) {
  const same = accepted.find(([aIv]) => aIv === iv);
  if (same) return same[1] === id ? 'again' : 'replay';
  for (const [aIv, aId] of accepted) {
    if (aId === id) return 'replay';
    if (aId < id ? aIv >= iv : aIv <= iv) return 'replay';
  }
  return 'new';
}

/**
 * @param {Array<[number, number]>} accepted
 * @param {number} iv
 * @param {number} id
 */
export function addAccepted(accepted, iv, id) {
  accepted.push([iv, id]);
  accepted.sort((a, b) => a[0] - b[0]);
}

// ---- locks (§11) ----

/** @type {Map<string, Promise<void>>} */
const tails = new Map();

/**
 * An exclusive lock for one JavaScript realm (one tab, or Node): the default when the Web Locks
 * API is missing. Not reentrant: never request the same name inside itself.
 * @param {string} name
 * @param {() => Promise<any>} fn
 * @returns {Promise<any>}
 */
export function memoryLock(name, fn) {
  const previous = tails.get(name) ?? Promise.resolve();
  /** @type {() => void} */
  let release = () => {};
  const done = new Promise((resolve) => {
    release = () => resolve(undefined);
  });
  const tail = previous.then(() => done);
  tails.set(name, tail);
  return previous.then(async () => {
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(name) === tail) tails.delete(name);
    }
  });
}

/**
 * The Web Locks API (`navigator.locks.request`) when present — it serializes across the tabs of
 * one origin — else memoryLock.
 * @returns {LockFn}
 */
export function defaultLock() {
  const locks = globalThis.navigator?.locks;
  if (locks && typeof locks.request === 'function') {
    return (name, fn) => locks.request(name, () => fn());
  }
  return memoryLock;
}

/** @returns {number} Unix seconds */
export function unixNow() {
  return Math.floor(Date.now() / 1000);
}
