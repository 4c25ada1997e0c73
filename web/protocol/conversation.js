// @ts-check
/**
 * The per-conversation state machine (docs/protocol.md §7–§11): server messages in, events and
 * payloads out. No network and no DOM: the caller passes `post` (which POSTs a payload and
 * resolves to the stored message) and the module calls it inside its locks.
 */

import {
  FRESH_SECONDS, MAX_PLAINTEXT_BYTES, ProtocolError, USER_ID_RE, decrypt, deriveKeySet, encryptDetailed, isObject,
  makeChange, makeExchange, pairId, parseChange, parseExchange, parseMsg, publicKeyBytes, safetyNumber, verifyChange,
} from './crypto.js';
import { utf8 } from './bytes.js';
import { CryptoLog } from './log.js';
import { bumpSalt, checkStored, isSuperseded, parseState, walkChain } from './state.js';
import {
  addAccepted, classifyIv, defaultLock, loadKeySet, loadKeySetData, loadSeen, lockNames, readCounter, readJson,
  reserveIv, saveKeySet, saveSeen, storageKeys, unixNow, writeCounter, writeJson,
} from './store.js';

/** @typedef {import('./crypto.js').FailureReason} FailureReason */
/** @typedef {import('./crypto.js').KeySet} KeySet */
/** @typedef {import('./crypto.js').Payload} Payload */
/** @typedef {import('./store.js').StorageLike} StorageLike */
/** @typedef {import('./store.js').LockFn} LockFn */
/** @typedef {import('./store.js').Logger} Logger */
/** @typedef {import('./store.js').Identity} Identity */

/** @typedef {import('./state.js').StoredMessage} StoredMessage */
/** @typedef {import('./state.js').PostFn} PostFn */
/** @typedef {import('./state.js').ExchangeEntry} ExchangeEntry */
/** @typedef {import('./state.js').ConversationState} ConversationState */
/** @typedef {import('./state.js').EventBase} EventBase */
/** @typedef {import('./state.js').MessageEvent} MessageEvent */
/** @typedef {import('./state.js').KeysChangedEvent} KeysChangedEvent */
/** @typedef {import('./state.js').ExchangeEvent} ExchangeEvent */
/** @typedef {import('./state.js').ReplayEvent} ReplayEvent */
/** @typedef {import('./state.js').UndecryptableEvent} UndecryptableEvent */
/** @typedef {import('./state.js').PeerKeyChangedEvent} PeerKeyChangedEvent */
/** @typedef {import('./state.js').ProtocolEvent} ProtocolEvent */

/**
 * Why a side must start a fresh exchange before sending (§9.3), or null.
 * @typedef {'no_key_set' | 'stale_exchange' | 'missing_key_set' | 'own_key_changed' | 'peer_key_changed'
 *   | 'closed' | 'requested'} ExchangeReason
 */

/**
 * @typedef {{ me: string, peer: string, identity: Identity, storage: StorageLike,
 *   log?: Logger | null | undefined, now?: (() => number) | undefined, lock?: LockFn | undefined }} ConversationOptions
 */

export class Conversation {
  #me;
  #peer;
  #identity;
  #storage;
  #log;
  #now;
  #lock;

  /** @param {ConversationOptions} opts */
  constructor({ me, peer, identity, storage, log, now, lock }) {
    if (!USER_ID_RE.test(me) || !USER_ID_RE.test(peer) || me === peer) throw new ProtocolError('bad_user_id');
    if (identity.userId !== me) throw new ProtocolError('bad_identity', 'the identity belongs to another user');
    this.#me = me;
    this.#peer = peer;
    this.#identity = identity;
    this.#storage = storage;
    this.#log = new CryptoLog(log);
    this.#now = now ?? unixNow;
    this.#lock = lock ?? defaultLock();
  }

  // ---------------------------------------------------------------- state (read from storage every time: tabs)

  /** @returns {ConversationState} */
  #load() {
    return parseState(readJson(this.#storage, storageKeys.conversation(this.#me, this.#peer)));
  }

  /** @param {ConversationState} state */
  #save(state) {
    writeJson(this.#storage, storageKeys.conversation(this.#me, this.#peer), state);
  }

  /**
   * @param {ConversationState} state
   * @returns {ExchangeReason | null}
   */
  #reason(state) {
    const { head, engaged } = walkChain(state);
    if (!head) return 'no_key_set';
    if (!engaged) return 'stale_exchange';
    const data = loadKeySetData(this.#storage, this.#me, head);
    if (!data || data.peerId !== this.#peer) return 'missing_key_set';
    if (data.ownPublic !== this.#identity.publicKey) return 'own_key_changed';
    if (state.peer_key && data.peerPublic !== state.peer_key) return 'peer_key_changed';
    if (readCounter(this.#storage, this.#me, head).closed) return 'closed';
    if (state.want_exchange) return 'requested';
    return null;
  }

  /** @returns {ExchangeReason | null} why the next send starts with an `ecdh`, or null */
  exchangeReason() {
    return this.#reason(this.#load());
  }

  /** @returns {boolean} the next `send` starts a fresh exchange (E7) */
  needsExchange() {
    return this.exchangeReason() !== null;
  }

  /** @returns {string | null} the key set this side sends with, if usable */
  currentKeySetId() {
    const state = this.#load();
    return this.#reason(state) === null ? walkChain(state).head : null;
  }

  /**
   * @param {string} keySetId
   * @returns {boolean} this browser holds that key set of this conversation
   */
  hasKeysFor(keySetId) {
    const data = loadKeySetData(this.#storage, this.#me, keySetId);
    return data !== null && data.peerId === this.#peer;
  }

  /** @returns {string | null} the contact's identity key this conversation knows (pinned) */
  peerKey() {
    return this.#load().peer_key;
  }

  /** @returns {Promise<string | null>} the X3 safety number of this browser and the contact's pinned key */
  async safetyNumber() {
    const key = this.#load().peer_key;
    return key ? safetyNumber(this.#me, this.#identity.publicKey, this.#peer, key) : null;
  }

  /** Record the contact's current key as verified (after comparing safety numbers, X3). */
  markVerified() {
    const state = this.#load();
    state.verified_key = state.peer_key;
    this.#save(state);
  }

  /** @returns {boolean} the contact's current key is the one verified */
  isVerified() {
    const state = this.#load();
    return state.peer_key !== null && state.peer_key === state.verified_key;
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Learn the contact's published keys (`GET /api/users/{peer}/keys`). Emits `peer_key_changed`
   * when the current key differs from the one pinned before (X3).
   * @param {{ current: { public_key: string, created_at?: number } | null, history?: unknown }} keys
   * @returns {Promise<ProtocolEvent[]>}
   */
  async setPeerKeys(keys) {
    const current = keys?.current?.public_key;
    if (typeof current !== 'string' || !publicKeyBytes(current)) return [];
    return this.#locked(async () => {
      const state = this.#load();
      if (state.peer_key === current) return [];
      const old = state.peer_key;
      state.peer_key = current;
      this.#save(state);
      if (!old) return [];
      this.#log.line('peer-key', `user=${this.#peer.slice(0, 8)} changed ${old.slice(0, 12)}… → ${current.slice(0, 12)}…`);
      return [this.#peerKeyChanged(0, keys.current?.created_at ?? this.#now(), old, current)];
    });
  }

  /**
   * A message that arrived live (push, reconnect catch-up, own echo): may engage a fresh exchange.
   * @param {StoredMessage} stored
   * @returns {Promise<ProtocolEvent[]>}
   */
  async receive(stored) {
    return this.#locked(() => this.#process(stored, true));
  }

  /**
   * A page of history: decrypts and reports, never engages an exchange, never sends (E6).
   * @param {StoredMessage[] | { messages: StoredMessage[] }} page
   * @returns {Promise<ProtocolEvent[]>}
   */
  async loadHistory(page) {
    const list = Array.isArray(page) ? page : page.messages;
    const sorted = [...list].sort((a, b) => (a?.id ?? 0) - (b?.id ?? 0));
    return this.#locked(async () => {
      /** @type {ProtocolEvent[]} */
      const events = [];
      for (const m of sorted) events.push(...(await this.#process(m, false)));
      return events;
    });
  }

  // ---------------------------------------------------------------- outputs

  /**
   * Encrypt and post `text` (an `ecdh` first when needed, E7).
   * @param {string} text
   * @param {PostFn} post
   * @returns {Promise<ProtocolEvent[]>}
   */
  async send(text, post) {
    if (utf8(text).length > MAX_PLAINTEXT_BYTES) throw new ProtocolError('too_long', `the text is longer than ${MAX_PLAINTEXT_BYTES} bytes`);
    return this.#locked(async () => {
      /** @type {ProtocolEvent[]} */
      const events = [];
      for (let attempt = 0; attempt < 3; attempt += 1) {
        if (this.#reason(this.#load()) !== null) events.push(...(await this.#startExchange(post)));
        const head = /** @type {string} */ (walkChain(this.#load()).head);
        const ks = await loadKeySet(this.#storage, this.#me, head);
        if (!ks) throw new ProtocolError('storage_failed', 'the key set just stored cannot be read');
        const sent = await this.#lock(lockNames.iv(ks.id), async () => {
          const iv = reserveIv(this.#storage, this.#me, ks.id);
          if (iv === null) return null;
          const enc = await encryptDetailed(ks, text, iv);
          this.#log.encrypt(ks, iv, text, enc.payload);
          const stored = checkStored(await post(enc.payload));
          const seen = loadSeen(this.#storage, this.#me, ks.id);
          if (classifyIv(seen.out, iv, stored.id) === 'new') addAccepted(seen.out, iv, stored.id);
          saveSeen(this.#storage, this.#me, ks.id, seen);
          /** @type {MessageEvent} */
          const event = { kind: 'message', id: stored.id, mine: true, created_at: stored.created_at, type: 'msg', text, keySetId: ks.id, iv };
          return event;
        });
        if (sent) {
          events.push(sent);
          return events;
        }
      }
      throw new ProtocolError('no_key_set', 'no usable key set after three attempts');
    });
  }

  /**
   * Start a fresh exchange now (e.g. when `needsExchange()` after a receive).
   * @param {PostFn} post
   * @returns {Promise<ProtocolEvent[]>}
   */
  async exchange(post) {
    return this.#locked(() => this.#startExchange(post));
  }

  /**
   * The Refresh button (E6): a `change` to a new salt; an `ecdh` if there is nothing to refresh.
   * @param {PostFn} post
   * @returns {Promise<ProtocolEvent[]>}
   */
  async refresh(post) {
    return this.#locked(async () => {
      const state = this.#load();
      if (this.#reason(state) !== null) return this.#startExchange(post);
      const old = await loadKeySet(this.#storage, this.#me, /** @type {string} */ (walkChain(state).head));
      if (!old) throw new ProtocolError('storage_failed');
      const salt = Math.max(state.max_salt[old.pair] ?? 0, old.salt) + 1;
      const next = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: old.ownPublic, peerId: this.#peer, peerPublic: old.peerPublic, salt });
      saveKeySet(this.#storage, this.#me, next);
      this.#log.derive(next, 'refresh', true);
      return this.#lock(lockNames.iv(old.id), async () => {
        const counter = readCounter(this.#storage, this.#me, old.id);
        writeCounter(this.#storage, this.#me, old.id, { iv: counter.iv, closed: true });
        const payload = await makeChange(old, next, counter.iv);
        /** @type {ExchangeEntry} */
        const entry = { id: null, type: 'change', from: this.#me, old: old.id, key_set: next.id, salt, engaged: true, created_at: this.#now() };
        const pending = this.#load();
        pending.exchanges.push(entry);
        bumpSalt(pending, next.pair, salt);
        this.#save(pending);
        this.#log.change('send', old.id, next.id, salt, this.#me, this.#peer, counter.iv, 'mac_old=made mac_new=made');
        let stored;
        try {
          stored = checkStored(await post(payload));
        } catch (e) {
          // The change may have reached the server anyway: the old counter stays closed (the peer
          // may already treat its last IV as final), so the next send starts a fresh exchange.
          this.#dropPending('change', next.id);
          throw e;
        }
        const done = this.#confirmPending('change', next.id, stored);
        /** @type {KeysChangedEvent} */
        const event = {
          kind: 'keys_changed', id: stored.id, mine: true, created_at: stored.created_at, type: 'change',
          keySetId: next.id, oldKeySetId: old.id, superseded: done ? isSuperseded(this.#load(), done) : false, fresh: true,
        };
        return [event];
      });
    });
  }

  // ---------------------------------------------------------------- internals

  /**
   * @param {() => Promise<ProtocolEvent[]>} fn
   * @returns {Promise<ProtocolEvent[]>}
   */
  #locked(fn) {
    return this.#lock(lockNames.conversation(this.#me, this.#peer), fn);
  }

  /**
   * Post an `ecdh` with a new salt (§7.1). Runs inside the conversation lock.
   * @param {PostFn} post
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #startExchange(post) {
    const state = this.#load();
    const peerKey = state.peer_key;
    if (!peerKey) throw new ProtocolError('no_peer_key', "the contact's public key is unknown: call setPeerKeys first");
    const pair = await pairId(this.#me, this.#identity.publicKey, this.#peer, peerKey);
    const salt = (state.max_salt[pair] ?? 0) + 1;
    const ks = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: this.#identity.publicKey, peerId: this.#peer, peerPublic: peerKey, salt });
    saveKeySet(this.#storage, this.#me, ks);
    this.#log.derive(ks, 'ecdh', true);
    state.exchanges.push({ id: null, type: 'ecdh', from: this.#me, old: null, key_set: ks.id, salt, engaged: true, created_at: this.#now() });
    bumpSalt(state, pair, salt);
    state.want_exchange = false;
    this.#save(state);
    this.#log.exchange('send', ks.id, salt, this.#me, this.#peer, `own=${ks.ownPublic.slice(0, 12)}… peer=${peerKey.slice(0, 12)}…`);
    let stored;
    try {
      stored = checkStored(await post(makeExchange(ks)));
    } catch (e) {
      this.#dropPending('ecdh', ks.id);
      throw e;
    }
    this.#confirmPending('ecdh', ks.id, stored);
    /** @type {ExchangeEvent} */
    const event = { kind: 'exchange', id: stored.id, mine: true, created_at: stored.created_at, type: 'ecdh', keySetId: ks.id, fresh: true, engaged: true, ok: true };
    return [event];
  }

  /** @param {'ecdh' | 'change'} type @param {string} keySet */
  #dropPending(type, keySet) {
    const state = this.#load();
    state.exchanges = state.exchanges.filter((e) => !(e.id === null && e.type === type && e.key_set === keySet));
    this.#save(state);
  }

  /**
   * @param {'ecdh' | 'change'} type @param {string} keySet @param {StoredMessage} stored
   * @returns {ExchangeEntry | null}
   */
  #confirmPending(type, keySet, stored) {
    const state = this.#load();
    const entry = state.exchanges.find((e) => e.id === null && e.type === type && e.key_set === keySet);
    if (!entry) return null;
    entry.id = stored.id;
    entry.created_at = stored.created_at;
    this.#save(state);
    return entry;
  }

  /**
   * @param {unknown} m a stored message
   * @param {boolean} live from receive (may engage) rather than loadHistory
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #process(m, live) {
    const id = isObject(m) && Number.isSafeInteger(m.id) ? /** @type {number} */ (m.id) : 0;
    const createdAt = isObject(m) && typeof m.created_at === 'number' ? m.created_at : 0;
    if (!isObject(m) || id < 1) return [this.#undecryptable({ id, mine: false, created_at: createdAt, type: 'unknown' }, 'malformed')];
    const from = m.sender_id;
    const to = m.recipient_id;
    const mine = from === this.#me;
    const payload = m.payload;
    const type = isObject(payload) && (payload.type === 'ecdh' || payload.type === 'msg' || payload.type === 'change') ? payload.type : 'unknown';
    /** @type {EventBase} */
    const base = { id, mine, created_at: createdAt, type };
    if (!((from === this.#me && to === this.#peer) || (from === this.#peer && to === this.#me))) return [this.#undecryptable(base, 'wrong_conversation')];
    const fresh = live && this.#now() - createdAt <= FRESH_SECONDS;
    if (type === 'ecdh') return this.#onExchange(base, payload, from, to, fresh);
    if (type === 'change') return this.#onChange(base, payload, from, to, fresh);
    if (type === 'msg') return this.#onMessage(base, payload, from, to, fresh);
    this.#log.reject(null, from, to, null, 'malformed payload');
    return [this.#undecryptable(base, 'malformed')];
  }

  /**
   * An `ecdh` (§7.2).
   * @param {EventBase} base @param {unknown} payload @param {string} from @param {string} to @param {boolean} fresh
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #onExchange(base, payload, from, to, fresh) {
    const state = this.#load();
    const known = state.exchanges.find((e) => e.id === base.id && e.type === 'ecdh');
    if (known) {
      if (fresh && !known.engaged) {
        known.engaged = true;
        if (!base.mine) state.want_exchange = false;
        this.#save(state);
        this.#log.exchange('recv', known.key_set, known.salt, from, to, 'engaged (fresh)');
      }
      return [this.#exchangeEvent(base, known.key_set, fresh, known.engaged, true)];
    }
    const x = parseExchange(payload, from, to);
    if (!x) {
      this.#log.reject(null, from, to, null, 'malformed ecdh');
      return [this.#exchangeEvent(base, '', fresh, false, false, 'malformed')];
    }
    const ownKey = base.mine ? x.fromKey : x.toKey;
    const peerKey = base.mine ? x.toKey : x.fromKey;
    if (ownKey !== this.#identity.publicKey) {
      // Made for a key this browser no longer has. It still tells the peer's current key, so
      // the exchange this side starts next reaches the peer (no ping-pong of unusable ecdhs).
      /** @type {ProtocolEvent[]} */
      const events = [];
      if (!base.mine) this.#pin(state, base, peerKey, events);
      if (fresh && !base.mine) state.want_exchange = true;
      this.#save(state);
      this.#log.reject(x.keySet, from, to, null, `ecdh for key ${ownKey.slice(0, 12)}… which is not this browser's (not_my_key)`);
      events.push(this.#exchangeEvent(base, x.keySet, fresh, false, false, 'not_my_key'));
      return events;
    }
    if (base.mine && this.#confirmPending('ecdh', x.keySet, /** @type {StoredMessage} */ ({ id: base.id, created_at: base.created_at }))) {
      return [this.#exchangeEvent(base, x.keySet, true, true, true)];
    }
    let ks;
    try {
      ks = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: ownKey, peerId: this.#peer, peerPublic: peerKey, salt: x.salt });
    } catch {
      this.#log.reject(x.keySet, from, to, null, 'ecdh with an unusable public key');
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'malformed')];
    }
    if (ks.id !== x.keySet) {
      this.#log.reject(x.keySet, from, to, null, `key_set does not match keys and salt (expected ${ks.id.slice(0, 16)})`);
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'bad_key_set')];
    }
    saveKeySet(this.#storage, this.#me, ks);
    this.#log.derive(ks, 'ecdh', fresh);
    state.exchanges.push({ id: base.id, type: 'ecdh', from, old: null, key_set: ks.id, salt: x.salt, engaged: fresh, created_at: base.created_at });
    bumpSalt(state, ks.pair, x.salt);
    if (fresh && !base.mine) state.want_exchange = false;
    /** @type {ProtocolEvent[]} */
    const events = [];
    this.#pin(state, base, peerKey, events);
    this.#save(state);
    this.#log.exchange('recv', ks.id, x.salt, from, to, fresh ? 'engaged (fresh)' : `stale (${this.#now() - base.created_at}s old or history): read-only`);
    events.push(this.#exchangeEvent(base, ks.id, fresh, fresh, true));
    return events;
  }

  /**
   * Pin the contact's key named by an `ecdh` newer than the one that set the pin (X3, §9.6).
   * @param {ConversationState} state @param {EventBase} base @param {string} peerKey @param {ProtocolEvent[]} events
   */
  #pin(state, base, peerKey, events) {
    if (base.id <= state.peer_key_id) return;
    if (state.peer_key && state.peer_key !== peerKey) {
      this.#log.line('peer-key', `user=${this.#peer.slice(0, 8)} changed ${state.peer_key.slice(0, 12)}… → ${peerKey.slice(0, 12)}…`);
      events.push(this.#peerKeyChanged(base.id, base.created_at, state.peer_key, peerKey));
    }
    state.peer_key = peerKey;
    state.peer_key_id = base.id;
  }

  /**
   * A `change` (§8.2): old MAC → derive → new MAC → accept.
   * @param {EventBase} base @param {unknown} payload @param {string} from @param {string} to @param {boolean} fresh
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #onChange(base, payload, from, to, fresh) {
    const state = this.#load();
    const known = state.exchanges.find((e) => e.id === base.id && e.type === 'change');
    if (known) {
      if (fresh && !known.engaged) {
        known.engaged = true;
        this.#save(state);
      }
      return [this.#keysChanged(base, known, state, fresh)];
    }
    const c = parseChange(payload);
    if (!c) {
      this.#log.reject(null, from, to, null, 'malformed change');
      return [this.#undecryptable(base, 'malformed')];
    }
    if (base.mine) {
      const done = this.#confirmPending('change', c.newId, /** @type {StoredMessage} */ ({ id: base.id, created_at: base.created_at }));
      if (done) return [this.#keysChanged(base, done, this.#load(), true)];
    }
    const old = await loadKeySet(this.#storage, this.#me, c.oldId);
    if (!old || old.peerId !== this.#peer) {
      if (fresh && !base.mine) {
        state.want_exchange = true;
        this.#save(state);
      }
      this.#log.change('recv', c.oldId, c.newId, c.salt, from, to, c.lastIvCounter, 'old key set unknown → rejected (a fresh ecdh is needed)');
      return [this.#undecryptable(base, 'unknown_key_set', c.oldId)];
    }
    if (old.ownPublic !== this.#identity.publicKey) return [this.#undecryptable(base, 'not_my_key', c.oldId)];
    const r = await verifyChange(old, payload, this.#identity.privateKey, from);
    if (!r.ok) {
      const status = r.reason === 'bad_mac_old' ? 'mac_old=FAILED' : r.reason === 'bad_mac_new' ? 'mac_old=ok mac_new=FAILED' : `mac_old=ok ${r.reason}`;
      this.#log.change('recv', c.oldId, c.newId, c.salt, from, to, c.lastIvCounter, `${status} → rejected, keys unchanged`);
      return [this.#undecryptable(base, r.reason, c.oldId)];
    }
    saveKeySet(this.#storage, this.#me, r.newSet);
    this.#log.derive(r.newSet, 'change', fresh);
    if (base.mine) {
      writeCounter(this.#storage, this.#me, old.id, { iv: readCounter(this.#storage, this.#me, old.id).iv, closed: true });
    } else {
      const seen = loadSeen(this.#storage, this.#me, old.id);
      seen.in_limit = seen.in_limit === null ? r.lastIv : Math.min(seen.in_limit, r.lastIv);
      saveSeen(this.#storage, this.#me, old.id, seen);
    }
    /** @type {ExchangeEntry} */
    const entry = { id: base.id, type: 'change', from, old: old.id, key_set: r.newSet.id, salt: c.salt, engaged: fresh, created_at: base.created_at };
    state.exchanges.push(entry);
    bumpSalt(state, old.pair, c.salt);
    this.#save(state);
    const event = this.#keysChanged(base, entry, state, fresh);
    this.#log.change('recv', old.id, r.newSet.id, c.salt, from, to, r.lastIv,
      `mac_old=ok mac_new=ok accepted${event.superseded ? ' (superseded by an earlier change)' : ''}${fresh ? '' : ' (stale: read-only)'}`);
    return [event];
  }

  /**
   * A `msg` (§6.1).
   * @param {EventBase} base @param {unknown} payload @param {string} from @param {string} to @param {boolean} fresh
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #onMessage(base, payload, from, to, fresh) {
    const m = parseMsg(payload);
    if (!m) {
      this.#log.reject(null, from, to, null, 'malformed msg');
      return [this.#undecryptable(base, 'malformed')];
    }
    const ks = await loadKeySet(this.#storage, this.#me, m.keySet);
    if (!ks || ks.peerId !== this.#peer) {
      if (fresh && !base.mine) {
        const state = this.#load();
        state.want_exchange = true;
        this.#save(state);
      }
      this.#log.reject(m.keySet, from, to, m.counter, 'key set not in this browser (unknown_key_set)');
      return [this.#undecryptable(base, 'unknown_key_set', m.keySet)];
    }
    const seen = loadSeen(this.#storage, this.#me, ks.id);
    const accepted = base.mine ? seen.out : seen.in;
    /** @type {{ verdict: 'new' | 'again' | 'replay' }} */
    const seenAs = { verdict: 'new' };
    const r = await decrypt(ks, payload, {
      from,
      gate: (iv) => {
        if (!base.mine && seen.in_limit !== null && iv > seen.in_limit) return 'retired_key';
        seenAs.verdict = classifyIv(accepted, iv, base.id);
        return seenAs.verdict === 'replay' ? 'replay' : null;
      },
    });
    if (!r.ok) {
      if (r.reason === 'replay') {
        const last = accepted.length ? accepted[accepted.length - 1][0] : 0;
        this.#log.reject(ks.id, from, to, r.iv, `mac=ok replay (last=${last.toString(16).padStart(24, '0')})`);
        /** @type {ReplayEvent} */
        const event = { ...base, kind: 'replay_rejected', keySetId: ks.id, iv: r.iv ?? m.counter };
        return [event];
      }
      const what = r.reason === 'bad_mac' ? 'mac=FAILED' : r.reason === 'bad_tag' ? 'mac=ok tag=FAILED' : `mac=ok ${r.reason}`;
      this.#log.reject(ks.id, from, to, m.counter, what);
      return [this.#undecryptable(base, r.reason, ks.id)];
    }
    if (seenAs.verdict === 'new') {
      addAccepted(accepted, r.iv, base.id);
      saveSeen(this.#storage, this.#me, ks.id, seen);
    }
    this.#log.decrypt(ks, from, to, r.iv, r.text, /** @type {{ ciphertext: string }} */ (payload), seenAs.verdict === 'again');
    /** @type {MessageEvent} */
    const event = { ...base, kind: 'message', text: r.text, keySetId: ks.id, iv: r.iv };
    return [event];
  }

  // ---------------------------------------------------------------- events

  /**
   * @param {EventBase} base @param {FailureReason} reason @param {string} [keySetId]
   * @returns {UndecryptableEvent}
   */
  #undecryptable(base, reason, keySetId) {
    return keySetId === undefined ? { ...base, kind: 'undecryptable', reason } : { ...base, kind: 'undecryptable', reason, keySetId };
  }

  /**
   * @param {EventBase} base @param {string} keySetId @param {boolean} fresh @param {boolean} engaged @param {boolean} ok @param {FailureReason} [reason]
   * @returns {ExchangeEvent}
   */
  #exchangeEvent(base, keySetId, fresh, engaged, ok, reason) {
    /** @type {ExchangeEvent} */
    const event = { ...base, kind: 'exchange', keySetId, fresh, engaged, ok };
    if (reason !== undefined) event.reason = reason;
    return event;
  }

  /**
   * @param {EventBase} base @param {ExchangeEntry} entry @param {ConversationState} state @param {boolean} fresh
   * @returns {KeysChangedEvent}
   */
  #keysChanged(base, entry, state, fresh) {
    return { ...base, kind: 'keys_changed', keySetId: entry.key_set, oldKeySetId: entry.old ?? '', superseded: isSuperseded(state, entry), fresh };
  }

  /**
   * @param {number} id @param {number} createdAt @param {string} oldKey @param {string} newKey
   * @returns {PeerKeyChangedEvent}
   */
  #peerKeyChanged(id, createdAt, oldKey, newKey) {
    return { kind: 'peer_key_changed', id, mine: false, created_at: createdAt, type: 'keys', oldKey, newKey };
  }
}
