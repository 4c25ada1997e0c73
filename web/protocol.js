// @ts-check
/**
 * Parley's end-to-end encryption protocol for the browser (E1–E9, X3, X4): the specification is
 * docs/protocol.md. Pure: no DOM, no fetch, no global localStorage — callers pass a Storage-like
 * object, a logger, a clock, a lock and a `post` function. Runs unchanged in Node 20 and browsers.
 *
 * The implementation is split by concern under web/protocol/:
 *   bytes.js         encodings (base64, hex, UTF-8, big-endian counters)
 *   crypto.js        identity keys, key schedule, payloads, verification (stateless)
 *   storage.js       localStorage layout, identity, key sets, IV counters, locks
 *   log.js           the E9 console lines
 *   state.js         stored conversation state, events, the exchange chain (pure rules)
 *   conversation.js  the per-conversation state machine
 */

export {
  MAX_COUNTER, fromB64, fromHex, ivCounter, ivHex, toB64, toHex, u64be, u96be, utf8,
} from './protocol/bytes.js';
export {
  FINGERPRINT_ITERATIONS, FRESH_SECONDS, FUTURE_SKEW_SECONDS, MAX_PLAINTEXT_BYTES, MAX_SALT_STEP, NONCE_BYTES,
  PUBLIC_KEY_BYTES, ProtocolError, canonicalKey, changeLabel, changeMacInput, decrypt, deriveKeySet, ecdhConfirmInput,
  ecdhLabel, encrypt, encryptDetailed, exportPublicKey, fingerprintHalf, generateIdentityKeyPair, hkdf, importKeySet,
  importPrivateJwk, importPublicKey, isOnCurve, keyInfo, keySetId, keySetIdInput, macInfo, makeChange, makeExchange,
  msgLabel, msgMacInput, newNonce, pairId, pairInput, parseChange, parseExchange, parseMsg, publicKeyBytes,
  publicKeyFromJwk, safetyNumber, saltBytes, sameKey, sharedSecret, verifyChange, verifyExchange,
} from './protocol/crypto.js';
export {
  classifyIv, createIdentity, defaultLock, forgetAll, loadIdentity, loadKeySet, loadOrCreateIdentity, lockNames, memoryLock,
  readCounter, reserveIv, storageKeys, unixNow,
} from './protocol/storage.js';
export { CryptoLog } from './protocol/log.js';
export { Conversation } from './protocol/conversation.js';
export { walkChain } from './protocol/state.js';

/** @typedef {import('./protocol/crypto.js').FailureReason} FailureReason */
/** @typedef {import('./protocol/crypto.js').KeySet} KeySet */
/** @typedef {import('./protocol/crypto.js').KeySetData} KeySetData */
/** @typedef {import('./protocol/crypto.js').Payload} Payload */
/** @typedef {import('./protocol/crypto.js').EcdhPayload} EcdhPayload */
/** @typedef {import('./protocol/crypto.js').MsgPayload} MsgPayload */
/** @typedef {import('./protocol/crypto.js').ChangePayload} ChangePayload */
/** @typedef {import('./protocol/crypto.js').DecryptResult} DecryptResult */
/** @typedef {import('./protocol/storage.js').StorageLike} StorageLike */
/** @typedef {import('./protocol/storage.js').LockFn} LockFn */
/** @typedef {import('./protocol/storage.js').Logger} Logger */
/** @typedef {import('./protocol/storage.js').Identity} Identity */
/** @typedef {import('./protocol/state.js').StoredMessage} StoredMessage */
/** @typedef {import('./protocol/state.js').PostFn} PostFn */
/** @typedef {import('./protocol/state.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('./protocol/conversation.js').ExchangeReason} ExchangeReason */
/** @typedef {import('./protocol/conversation.js').ConversationOptions} ConversationOptions */
/** @typedef {import('./protocol/conversation.js').LastIvFn} LastIvFn */
/** @typedef {import('./protocol/state.js').KeyWarning} KeyWarning */
