// @ts-check
/**
 * The per-conversation state machine (docs/protocol.md §7–§11): server messages in, events and
 * payloads out. No network and no DOM: the caller passes `post` (which POSTs a payload and
 * resolves to the stored message) and the module calls it inside its locks.
 */

import {
  FRESH_SECONDS, FUTURE_SKEW_SECONDS, MAX_PLAINTEXT_BYTES, MAX_SALT_STEP, ProtocolError, USER_ID_RE, canonicalKey, decrypt,
  deriveKeySet, encryptDetailed, isObject, makeChange, makeExchange, newNonce, pairId, parseChange, parseExchange, parseMsg,
  safetyNumber, verifyChange, verifyExchange,
} from './crypto.js';
import { MAX_COUNTER, utf8 } from './bytes.js';
import { CryptoLog } from './log.js';
import { bumpSalt, checkStored, isSuperseded, parseState, walkChain } from './state.js';
import {
  addAccepted, classifyIv, defaultLock, loadKeySet, loadKeySetData, loadSeen, lockNames, readCounter, readJson,
  reserveIv, saveKeySet, saveSeen, storageKeys, unixNow, writeCounter, writeJson,
} from './storage.js';

/** @typedef {import('./crypto.js').FailureReason} FailureReason */
/** @typedef {import('./crypto.js').KeySet} KeySet */
/** @typedef {import('./crypto.js').Payload} Payload */
/** @typedef {import('./storage.js').StorageLike} StorageLike */
/** @typedef {import('./storage.js').LockFn} LockFn */
/** @typedef {import('./storage.js').Logger} Logger */
/** @typedef {import('./storage.js').Identity} Identity */

/** @typedef {import('./state.js').StoredMessage} StoredMessage */
/** @typedef {import('./state.js').PostFn} PostFn */
/** @typedef {import('./state.js').ExchangeEntry} ExchangeEntry */
/** @typedef {import('./state.js').ConversationState} ConversationState */
/** @typedef {import('./state.js').KeyWarning} KeyWarning */
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
 * @typedef {'no_key_set' | 'stale_exchange' | 'legacy_key_set' | 'missing_key_set' | 'own_key_changed' | 'peer_key_changed'
 *   | 'closed' | 'requested'} ExchangeReason
 */

/**
 * What the server holds of this user's own messages under a key set (`GET /api/keysets/{ks}/last-iv`):
 * the highest IV counter it stored, and whether a `change` from it is stored (§4.5).
 * @typedef {(keySetId: string) => Promise<{ last_iv: number, closed: boolean }>} LastIvFn
 */

/**
 * @typedef {{ me: string, peer: string, identity: Identity, storage: StorageLike,
 *   log?: Logger | null | undefined, now?: (() => number) | undefined, lock?: LockFn | undefined,
 *   lastIv?: LastIvFn | undefined }} ConversationOptions
 */

/** @param {unknown} e @returns {boolean} the server refused a repeated (sender, key set, IV) (409 `iv_reused`) */
const ivReused = (e) => isObject(e) && e.code === 'iv_reused';

/**
 * An exchange seen again (stored before) is engaged when it comes fresh and was not yet (§7.2,
 * §8.2): marks it, and says whether it did (the caller saves the state).
 * @param {ExchangeEntry} entry @param {boolean} fresh
 * @returns {boolean}
 */
function engageFresh(entry, fresh) {
  if (!fresh || entry.engaged) return false;
  entry.engaged = true;
  return true;
}

export class Conversation {
  #me;
  #peer;
  #identity;
  #storage;
  #log;
  #now;
  #lock;
  /** @type {LastIvFn | null} */
  #lastIv;
  /** Key sets whose counter this tab has resumed from the server's last IV (§4.5). @type {Set<string>} */
  #synced = new Set();

  /** @param {ConversationOptions} opts */
  constructor({ me, peer, identity, storage, log, now, lock, lastIv }) {
    if (!USER_ID_RE.test(me) || !USER_ID_RE.test(peer) || me === peer) throw new ProtocolError('bad_user_id');
    if (identity.userId !== me) throw new ProtocolError('bad_identity', 'the identity belongs to another user');
    this.#me = me;
    this.#peer = peer;
    this.#identity = identity;
    this.#storage = storage;
    this.#log = new CryptoLog(log);
    this.#now = now ?? unixNow;
    this.#lock = lock ?? defaultLock();
    this.#lastIv = lastIv ?? null;
  }

  // ---------------------------------------------------------------- state (read from storage every time: tabs)

  /** @returns {ConversationState} */
  #load() {
    const state = parseState(readJson(this.#storage, storageKeys.conversation(this.#me, this.#peer)));
    if (state.peer_keys === null) {
      // Stored before issue 8: the contact keys this conversation already knew are the pinned one
      // and those of its key sets (they were seen then; they raise no new warning).
      /** @type {Set<string>} */
      const known = new Set();
      const pinned = canonicalKey(state.peer_key);
      if (pinned) known.add(pinned);
      for (const e of state.exchanges) {
        const key = canonicalKey(loadKeySetData(this.#storage, this.#me, e.key_set)?.peerPublic);
        if (key) known.add(key);
      }
      state.peer_key = pinned;
      state.verified_key = canonicalKey(state.verified_key);
      state.peer_keys = [...known];
    }
    return state;
  }

  /** @param {ConversationState} state @returns {string[]} */
  static #keys(state) {
    return state.peer_keys ?? [];
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
    const { head, engaged, legacy } = walkChain(state);
    if (!head) return 'no_key_set';
    if (!engaged) return 'stale_exchange';
    if (legacy) return 'legacy_key_set';
    const data = loadKeySetData(this.#storage, this.#me, head);
    if (!data || data.peerId !== this.#peer) return 'missing_key_set';
    if (data.nonce === null) return 'legacy_key_set';
    if (canonicalKey(data.ownPublic) !== canonicalKey(this.#identity.publicKey)) return 'own_key_changed';
    if (state.peer_key && canonicalKey(data.peerPublic) !== state.peer_key) return 'peer_key_changed';
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

  /** Record the contact's current key as verified (after comparing safety numbers, X3); clears the key warning. */
  markVerified() {
    const state = this.#load();
    state.verified_key = state.peer_key;
    state.key_warning = null;
    this.#save(state);
  }

  /**
   * The user has looked at the safety number of the contact's new key and accepts it (X3, §9.6):
   * the warning goes, sending is allowed again; the contact stays "not verified" until
   * markVerified().
   */
  acceptPeerKey() {
    const state = this.#load();
    state.key_warning = null;
    this.#save(state);
  }

  /** @returns {KeyWarning | null} a contact key change the user has not accepted yet (survives reloads) */
  keyWarning() {
    return this.#load().key_warning;
  }

  /**
   * The stored key warning of a conversation, without opening it (e.g. for the chat list).
   * @param {StorageLike} storage @param {string} me @param {string} peer
   * @returns {KeyWarning | null}
   */
  static keyWarningOf(storage, me, peer) {
    return parseState(readJson(storage, storageKeys.conversation(me, peer))).key_warning ?? null;
  }

  /** @returns {boolean} sending is held back: a verified contact's key changed and was not accepted */
  sendBlocked() {
    return this.#load().key_warning?.verified === true;
  }

  /** @returns {boolean} the contact's current key is the one verified, and no key change is pending */
  isVerified() {
    const state = this.#load();
    return state.peer_key !== null && state.peer_key === state.verified_key && state.key_warning === null;
  }

  /** @param {ConversationState} state */
  #assertMaySend(state) {
    if (state.key_warning?.verified) {
      throw new ProtocolError('key_change_unconfirmed', "the verified contact's key changed: accept the new key (safety number) before sending");
    }
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Learn the contact's published keys (`GET /api/users/{peer}/keys`). Emits `peer_key_changed`
   * when the current key differs from the one pinned before (X3).
   * @param {{ current: { public_key: string, created_at?: number } | null, history?: unknown }} keys
   * @returns {Promise<ProtocolEvent[]>}
   */
  async setPeerKeys(keys) {
    // Keys are compared as points (§3.4); a key that is not a point on P-384 is ignored.
    const current = canonicalKey(keys?.current?.public_key);
    if (!current) return [];
    return this.#locked(async () => {
      const state = this.#load();
      if (state.peer_key === current) return [];
      /** @type {ProtocolEvent[]} */
      const events = [];
      const at = Number.isSafeInteger(keys.current?.created_at) ? /** @type {number} */ (keys.current?.created_at) : this.#now();
      this.#noteKey(state, 0, at, current, events);
      // A verified contact's pin moves away from the verified key only with the warning, sending
      // held back, even to a key seen before (e.g. a stand-in the server sent before the user
      // verified the real one, which #noteKey does not announce again; docs/model, SPIN).
      if (!state.key_warning?.verified && state.verified_key !== null && state.verified_key === state.peer_key && current !== state.verified_key) {
        state.key_warning = { old: state.peer_key, new: current, id: 0, verified: true };
        this.#log.line('peer-key', `user=${this.#peer.slice(0, 8)} directory key ${current.slice(0, 12)}… is not the verified ${state.peer_key.slice(0, 12)}… (sending blocked until accepted)`);
        events.push(this.#peerKeyChanged(0, at, state.peer_key, current));
      }
      state.peer_key = current;
      this.#save(state);
      return events;
    });
  }

  /**
   * A contact key seen (directory or `ecdh`): a key never seen before, while another one is known,
   * raises the key-change warning, which stays until accepted (X3, §9.6).
   * @param {ConversationState} state @param {number} id @param {number} at @param {string} key canonical
   * @param {ProtocolEvent[]} events
   */
  #noteKey(state, id, at, key, events) {
    const known = Conversation.#keys(state);
    if (known.includes(key)) return;
    state.peer_keys = [...known, key];
    if (known.length === 0 && state.peer_key === null) return; // trust on first use
    const old = state.peer_key;
    const verified = state.key_warning?.verified === true || (state.verified_key !== null && state.verified_key === old);
    state.key_warning = { old, new: key, id, verified };
    this.#log.line('peer-key', `user=${this.#peer.slice(0, 8)} changed ${(old ?? '').slice(0, 12)}… → ${key.slice(0, 12)}…${verified ? ' (verified contact: sending blocked until accepted)' : ''}`);
    events.push(this.#peerKeyChanged(id, at, old ?? '', key));
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
      this.#assertMaySend(this.#load());
      /** @type {ProtocolEvent[]} */
      const events = [];
      for (let attempt = 0; attempt < 3; attempt += 1) {
        if (this.#reason(this.#load()) !== null) events.push(...(await this.#startExchange(post)));
        const head = /** @type {string} */ (walkChain(this.#load()).head);
        const ks = await loadKeySet(this.#storage, this.#me, head);
        if (!ks) throw new ProtocolError('storage_failed', 'the key set just stored cannot be read');
        const sent = await this.#lock(lockNames.iv(ks.id), async () => {
          await this.#resumeCounter(ks.id);
          const iv = reserveIv(this.#storage, this.#me, ks.id);
          if (iv === null) return null;
          const enc = await encryptDetailed(ks, text, iv);
          this.#log.encrypt(ks, iv, text, enc.payload);
          let answer;
          try {
            answer = await post(enc.payload);
          } catch (e) {
            // The server already holds this IV under this key set (a restored older localStorage,
            // §4.5): learn its last IV again and retry with a higher one. The IV stays used.
            if (!ivReused(e)) throw e;
            this.#synced.delete(ks.id);
            return null;
          }
          const stored = checkStored(answer);
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
    return this.#locked(() => {
      this.#assertMaySend(this.#load());
      return this.#startExchange(post);
    });
  }

  /**
   * Resume the own IV counter of a key set above every IV the server holds from this user under
   * it (§4.5), once per tab and key set: a restored older localStorage never reuses an IV. Runs
   * inside the IV lock of `keySetId`.
   * @param {string} keySetId
   */
  async #resumeCounter(keySetId) {
    if (!this.#lastIv || this.#synced.has(keySetId)) return;
    const r = await this.#lastIv(keySetId);
    const serverIv = Number.isSafeInteger(r?.last_iv) && r.last_iv >= 0 && r.last_iv <= MAX_COUNTER ? r.last_iv : 0;
    const c = readCounter(this.#storage, this.#me, keySetId);
    const next = { iv: Math.max(c.iv, serverIv), closed: c.closed || r?.closed === true };
    if (next.iv !== c.iv || next.closed !== c.closed) {
      writeCounter(this.#storage, this.#me, keySetId, next);
      this.#log.line('resume', `ks=${keySetId.slice(0, 16)} own iv ${c.iv} → ${next.iv} (server holds ${serverIv})${next.closed ? ' closed' : ''}`);
    }
    this.#synced.add(keySetId);
  }

  /**
   * The Refresh button (E6): a `change` to a new salt; an `ecdh` if there is nothing to refresh.
   * @param {PostFn} post
   * @returns {Promise<ProtocolEvent[]>}
   */
  async refresh(post) {
    return this.#locked(async () => {
      const state = this.#load();
      this.#assertMaySend(state);
      if (this.#reason(state) !== null) return this.#startExchange(post);
      const old = await loadKeySet(this.#storage, this.#me, /** @type {string} */ (walkChain(state).head));
      if (!old) throw new ProtocolError('storage_failed');
      const salt = Math.max(state.max_salt[old.pair] ?? 0, old.salt) + 1; // per pair (§4.2, finding A4)
      if (salt > MAX_COUNTER) throw new ProtocolError('bad_salt', 'the salt counter is exhausted');
      const next = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: old.ownPublic, peerId: this.#peer, peerPublic: old.peerPublic, salt, nonce: newNonce() });
      saveKeySet(this.#storage, this.#me, next);
      this.#synced.add(next.id);
      this.#log.derive(next, 'refresh', true);
      return this.#lock(lockNames.iv(old.id), async () => {
        await this.#resumeCounter(old.id);
        const counter = readCounter(this.#storage, this.#me, old.id);
        writeCounter(this.#storage, this.#me, old.id, { iv: counter.iv, closed: true });
        const payload = await makeChange(old, next, counter.iv);
        /** @type {ExchangeEntry} */
        const entry = { id: null, type: 'change', from: this.#me, old: old.id, key_set: next.id, salt, engaged: true, created_at: this.#now(), legacy: false };
        const pending = this.#load();
        pending.exchanges.push(entry);
        bumpSalt(pending, next.pair, salt);
        this.#save(pending);
        this.#log.change('send', old.id, next.id, salt, this.#me, this.#peer, counter.iv, 'mac_old=made mac_new=made');
        // If it fails, the change may have reached the server anyway: the old counter stays closed
        // (the peer may already treat its last IV as final), so the next send starts a fresh exchange.
        const { stored, done } = await this.#postPending(post, payload, 'change', next.id);
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
    this.#assertMaySend(state);
    const peerKey = state.peer_key;
    if (!peerKey) throw new ProtocolError('no_peer_key', "the contact's public key is unknown: call setPeerKeys first");
    const pair = await pairId(this.#me, this.#identity.publicKey, this.#peer, peerKey);
    // The salt counter of this pair of identity keys, with fresh randomness beside it (§4.2). Not
    // the conversation's: an exchange of another pair (e.g. a stand-in key of the server, which
    // can confirm it) must not push this pair's salts beyond what the contact accepts
    // (salt_max + 2^20) — adversary finding A4.
    const salt = (state.max_salt[pair] ?? 0) + 1;
    if (salt > MAX_COUNTER) throw new ProtocolError('bad_salt', 'the salt counter is exhausted');
    const ks = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: this.#identity.publicKey, peerId: this.#peer, peerPublic: peerKey, salt, nonce: newNonce() });
    saveKeySet(this.#storage, this.#me, ks);
    this.#synced.add(ks.id);
    this.#log.derive(ks, 'ecdh', true);
    const payload = await makeExchange(ks);
    state.exchanges.push({ id: null, type: 'ecdh', from: this.#me, old: null, key_set: ks.id, salt, engaged: true, created_at: this.#now(), legacy: false, pair, current_key: true });
    bumpSalt(state, pair, salt);
    state.want_exchange = false;
    this.#save(state);
    this.#log.exchange('send', ks.id, salt, this.#me, this.#peer, `own=${ks.ownPublic.slice(0, 12)}… peer=${peerKey.slice(0, 12)}…`);
    const { stored } = await this.#postPending(post, payload, 'ecdh', ks.id);
    /** @type {ExchangeEvent} */
    const event = { kind: 'exchange', id: stored.id, mine: true, created_at: stored.created_at, type: 'ecdh', keySetId: ks.id, fresh: true, engaged: true, ok: true };
    return [event];
  }

  /**
   * Posts the payload of the pending (not yet stored) exchange entry of `type` for `keySet`, then
   * confirms the entry with the server's id and time; if the post fails, the entry is dropped and
   * the error thrown on.
   * @param {PostFn} post @param {Payload} payload @param {'ecdh' | 'change'} type @param {string} keySet
   * @returns {Promise<{ stored: StoredMessage, done: ExchangeEntry | null }>}
   */
  async #postPending(post, payload, type, keySet) {
    let stored;
    try {
      stored = checkStored(await post(payload));
    } catch (e) {
      this.#dropPending(type, keySet);
      throw e;
    }
    return { stored, done: this.#confirmPending(type, keySet, stored) };
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
    const createdAt = isObject(m) && Number.isSafeInteger(m.created_at) ? /** @type {number} */ (m.created_at) : -1;
    if (!isObject(m) || id < 1 || createdAt < 0) return [this.#undecryptable({ id, mine: false, created_at: Math.max(createdAt, 0), type: 'unknown' }, 'malformed')];
    const from = m.sender_id;
    const to = m.recipient_id;
    const mine = from === this.#me;
    const payload = m.payload;
    const type = isObject(payload) && (payload.type === 'ecdh' || payload.type === 'msg' || payload.type === 'change') ? payload.type : 'unknown';
    /** @type {EventBase} */
    const base = { id, mine, created_at: createdAt, type };
    if (!((from === this.#me && to === this.#peer) || (from === this.#peer && to === this.#me))) return [this.#undecryptable(base, 'wrong_conversation')];
    // Fresh: delivered live, at most 60 s old and not from the future (beyond a little skew, §7.2).
    const age = this.#now() - createdAt;
    const fresh = live && age <= FRESH_SECONDS && age >= -FUTURE_SKEW_SECONDS;
    if (type === 'ecdh') return this.#onExchange(base, payload, from, to, fresh);
    if (type === 'change') return this.#onChange(base, payload, from, to, fresh);
    if (type === 'msg') return this.#onMessage(base, payload, from, to, fresh);
    this.#log.reject(null, from, to, null, 'malformed payload');
    return [this.#undecryptable(base, 'malformed')];
  }

  /**
   * An `ecdh` (§7.2): shape (points on the curve) → my key → derive, id → key confirmation →
   * replay → salt bound → store; it moves the head only forward (§9.2).
   * @param {EventBase} base @param {unknown} payload @param {string} from @param {string} to @param {boolean} fresh
   * @returns {Promise<ProtocolEvent[]>}
   */
  async #onExchange(base, payload, from, to, fresh) {
    const state = this.#load();
    const known = state.exchanges.find((e) => e.id === base.id && e.type === 'ecdh');
    if (known) {
      if (engageFresh(known, fresh)) {
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
    if (ownKey !== canonicalKey(this.#identity.publicKey)) {
      // Made for a key this browser no longer has: nothing in it can be checked, so it has no
      // effect (no key pinned); if fresh, this side starts a new exchange with the contact's
      // published key (the UI refreshes it with setPeerKeys first).
      if (fresh && !base.mine) {
        state.want_exchange = true;
        this.#save(state);
      }
      this.#log.reject(x.keySet, from, to, null, `ecdh for key ${ownKey.slice(0, 12)}… which is not this browser's (not_my_key)`);
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'not_my_key')];
    }
    if (base.mine && this.#confirmPending('ecdh', x.keySet, /** @type {StoredMessage} */ ({ id: base.id, created_at: base.created_at }))) {
      return [this.#exchangeEvent(base, x.keySet, true, true, true)];
    }
    let ks;
    try {
      ks = await deriveKeySet({ ownPrivate: this.#identity.privateKey, ownId: this.#me, ownPublic: ownKey, peerId: this.#peer, peerPublic: peerKey, salt: x.salt, nonce: x.nonce });
    } catch {
      this.#log.reject(x.keySet, from, to, null, 'ecdh with an unusable public key');
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'malformed')];
    }
    if (ks.id !== x.keySet) {
      this.#log.reject(x.keySet, from, to, null, `key_set does not match keys and salt (expected ${ks.id.slice(0, 16)})`);
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'bad_key_set')];
    }
    const legacy = x.nonce === null;
    if (!legacy && !(await verifyExchange(ks, x, from, to))) {
      this.#log.reject(x.keySet, from, to, null, 'key confirmation FAILED (bad_mac): the sender does not hold the keys it names');
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'bad_mac')];
    }
    if (loadKeySetData(this.#storage, this.#me, ks.id)) {
      this.#log.reject(x.keySet, from, to, null, 'ecdh for a key set this browser already holds: replay, no effect');
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'replay')];
    }
    if (!legacy && x.salt > state.salt_max + MAX_SALT_STEP) {
      this.#log.reject(x.keySet, from, to, null, `salt ${x.salt} too far above ${state.salt_max} (bad_salt)`);
      return [this.#exchangeEvent(base, x.keySet, fresh, false, false, 'bad_salt')];
    }
    saveKeySet(this.#storage, this.#me, ks);
    this.#log.derive(ks, 'ecdh', fresh);
    const before = walkChain(state);
    /** @type {ExchangeEntry} */
    const entry = { id: base.id, type: 'ecdh', from, old: null, key_set: ks.id, salt: x.salt, engaged: fresh && !legacy, created_at: base.created_at, legacy, pair: ks.pair };
    /** @type {ProtocolEvent[]} */
    const events = [];
    this.#pin(state, base, peerKey, events);
    entry.current_key = state.peer_key === peerKey;
    state.exchanges.push(entry);
    if (!legacy) bumpSalt(state, ks.pair, x.salt);
    const admitted = walkChain(state).head === ks.id;
    // A fresh, authenticated exchange that is not newer than the current key set: its sender is
    // behind (e.g. a restored older localStorage, or it missed a change of this side); a new
    // exchange from this side brings it forward. A tie (same salt, later server id) counts too
    // when the head came from a `change`: its sender may have missed that change and can never
    // derive the head's key set (adversary finding A2). A tie with an `ecdh` head resolves by
    // itself: the sender derives it from that exchange alone (lower server id wins).
    const headIsChange = state.exchanges.some((e) => e.key_set === before.head && e.type === 'change');
    const behind = x.salt < before.salt || (x.salt === before.salt && headIsChange);
    if (fresh && !base.mine) state.want_exchange = !legacy && !admitted && before.head !== null && behind;
    this.#save(state);
    this.#log.exchange('recv', ks.id, x.salt, from, to, `${legacy ? 'legacy (read-only) ' : ''}${fresh && !legacy ? 'engaged (fresh)' : `stale (${this.#now() - base.created_at}s old or history): read-only`}${admitted ? '' : ' — not newer than the current key set'}`);
    events.push(this.#exchangeEvent(base, ks.id, fresh, entry.engaged, true));
    return events;
  }

  /**
   * A contact key named by an authenticated `ecdh`: a key never seen raises the warning whatever
   * the server id (X3, §9.6); it is pinned only when the contact's exchange is newer than the one
   * that set the pin.
   * @param {ConversationState} state @param {EventBase} base @param {string} peerKey canonical @param {ProtocolEvent[]} events
   */
  #pin(state, base, peerKey, events) {
    const seen = Conversation.#keys(state).includes(peerKey);
    this.#noteKey(state, base.id, base.created_at, peerKey, events);
    // An exchange never moves the pin back to a key seen before (a replayed older exchange); the
    // key directory (setPeerKeys) does, when the contact returns to an earlier browser. An own
    // exchange never moves it at all: it named the pin of its time, so seen again (an echo after
    // a restored older localStorage) it would re-pin a key the directory may no longer name
    // (docs/model, trail new-own-ecdh-pin).
    if (base.mine || base.id <= state.peer_key_id || (seen && state.peer_key !== null)) return;
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
      if (engageFresh(known, fresh)) this.#save(state);
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
    if (canonicalKey(old.ownPublic) !== canonicalKey(this.#identity.publicKey)) return [this.#undecryptable(base, 'not_my_key', c.oldId)];
    const r = await verifyChange(old, payload, this.#identity.privateKey, from);
    if (!r.ok) {
      const status = r.reason === 'bad_mac_old' ? 'mac_old=FAILED' : r.reason === 'bad_mac_new' ? 'mac_old=ok mac_new=FAILED' : `mac_old=ok ${r.reason}`;
      this.#log.change('recv', c.oldId, c.newId, c.salt, from, to, c.lastIvCounter, `${status} → rejected, keys unchanged`);
      return [this.#undecryptable(base, r.reason, c.oldId)];
    }
    if (loadKeySetData(this.#storage, this.#me, r.newSet.id)) {
      this.#log.change('recv', c.oldId, c.newId, c.salt, from, to, c.lastIvCounter, 'new key set already held: replay, no effect');
      return [this.#undecryptable(base, 'replay', c.oldId)];
    }
    const legacy = c.nonce === null;
    if (!legacy && c.salt > state.salt_max + MAX_SALT_STEP) {
      this.#log.change('recv', c.oldId, c.newId, c.salt, from, to, c.lastIvCounter, `salt too far above ${state.salt_max} (bad_salt) → rejected, keys unchanged`);
      return [this.#undecryptable(base, 'bad_salt', c.oldId)];
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
    const entry = { id: base.id, type: 'change', from, old: old.id, key_set: r.newSet.id, salt: c.salt, engaged: fresh && !legacy, created_at: base.created_at, legacy };
    state.exchanges.push(entry);
    if (!legacy) bumpSalt(state, old.pair, c.salt);
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
    /** @type {ProtocolEvent[]} */
    const events = [];
    if (!base.mine && seenAs.verdict === 'new') this.#warnUnpinned(base, ks.peerPublic, events);
    /** @type {MessageEvent} */
    const event = { ...base, kind: 'message', text: r.text, keySetId: ks.id, iv: r.iv };
    events.push(event);
    return events;
  }

  /**
   * A contact message seen for the first time under a key set of a contact key that is not the
   * pinned one, in a verified conversation: the key-change warning is raised (and sending held
   * back) even if that key was seen before — e.g. a stand-in key the server sent before the user
   * verified the real one (X3, §9.6; adversary finding A3).
   * @param {EventBase} base @param {string} peerPublic @param {ProtocolEvent[]} events
   */
  #warnUnpinned(base, peerPublic, events) {
    const state = this.#load();
    const key = canonicalKey(peerPublic);
    if (!key || state.peer_key === null || key === state.peer_key || state.verified_key !== state.peer_key || state.key_warning !== null) return;
    state.key_warning = { old: state.peer_key, new: key, id: base.id, verified: true };
    this.#save(state);
    this.#log.line('peer-key', `user=${this.#peer.slice(0, 8)} message under key ${key.slice(0, 12)}… which is not the verified ${state.peer_key.slice(0, 12)}… (sending blocked until accepted)`);
    events.push(this.#peerKeyChanged(base.id, base.created_at, state.peer_key, key));
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
