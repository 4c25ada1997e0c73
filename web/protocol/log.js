// @ts-check
/**
 * E9: one console line per crypto operation (docs/protocol.md §12). Key-set ids, directions,
 * key prefixes and full 24-hex IV counters, so a reader sees IVs climb and keys change.
 */

import { ivHex, toHex } from './bytes.js';

/** @typedef {import('./storage.js').Logger} Logger */
/** @typedef {import('./crypto.js').KeySetData} KeySetData */

/** @param {string} id */
const ks = (id) => id.slice(0, 16);
/** @param {string} from @param {string} to */
const dir = (from, to) => `${from.slice(0, 8)}→${to.slice(0, 8)}`;
/** @param {Uint8Array} key */
const key = (key) => `${toHex(key.subarray(0, 4))}…`;
/** @param {string} text */
const quote = (text) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
/** @param {string} b64 @param {number} bytes */
const blob = (b64, bytes) => `${b64.slice(0, 16)}…(${bytes}B)`;
/** @param {string} b64 */
const b64Length = (b64) => Math.floor((b64.length * 3) / 4) - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);

/** Formats and emits the lines; a no-op without a logger. */
export class CryptoLog {
  /** @param {Logger | null | undefined} logger */
  constructor(logger) {
    /** @type {Logger | null} */
    this.logger = logger ?? null;
  }

  /** @param {string} op @param {string} rest */
  line(op, rest) {
    if (this.logger) this.logger(`[parley] ${op.padEnd(10)} ${rest}`);
  }

  /**
   * @param {KeySetData} k
   * @param {string} via ecdh | change | refresh
   * @param {boolean} fresh
   */
  derive(k, via, fresh) {
    if (!this.logger) return;
    this.line(
      'derive',
      `ks=${ks(k.id)} salt=${k.salt} via=${via} fresh=${fresh ? 'yes' : 'no'} pair=${k.pair.slice(0, 8)}  ` +
        `${dir(k.ownId, k.peerId)} enc=${key(k.send.enc)} mac=${key(k.send.mac)}  ` +
        `${dir(k.peerId, k.ownId)} enc=${key(k.recv.enc)} mac=${key(k.recv.mac)}`,
    );
  }

  /**
   * @param {KeySetData} k
   * @param {number} iv
   * @param {string} text
   * @param {{ ciphertext: string, mac: string }} payload
   */
  encrypt(k, iv, text, payload) {
    if (!this.logger) return;
    this.line(
      'encrypt',
      `ks=${ks(k.id)} salt=${k.salt} dir=${dir(k.ownId, k.peerId)} iv=${ivHex(iv)} pt=${quote(text)} ` +
        `ct=${blob(payload.ciphertext, b64Length(payload.ciphertext))} mac=${payload.mac.slice(0, 12)}…(made)`,
    );
  }

  /**
   * @param {KeySetData} k
   * @param {string} from @param {string} to
   * @param {number} iv
   * @param {string} text
   * @param {{ ciphertext: string }} payload
   * @param {boolean} again shown before (reload, second tab): logged as `reopen`
   */
  decrypt(k, from, to, iv, text, payload, again) {
    if (!this.logger) return;
    this.line(
      again ? 'reopen' : 'decrypt',
      `ks=${ks(k.id)} salt=${k.salt} dir=${dir(from, to)} iv=${ivHex(iv)} pt=${quote(text)} ` +
        `ct=${blob(payload.ciphertext, b64Length(payload.ciphertext))} mac=ok tag=ok`,
    );
  }

  /**
   * @param {string | null} keySet
   * @param {string} from @param {string} to
   * @param {number | null | undefined} iv
   * @param {string} what e.g. "mac=FAILED", "replay (last=…)"
   */
  reject(keySet, from, to, iv, what) {
    if (!this.logger) return;
    const ivPart = typeof iv === 'number' ? ` iv=${ivHex(iv)}` : '';
    this.line('reject', `ks=${keySet ? ks(keySet) : '?'} dir=${dir(from, to)}${ivPart} ${what} → rejected`);
  }

  /**
   * @param {'send' | 'recv'} way
   * @param {string} keySet
   * @param {number} salt
   * @param {string} from @param {string} to
   * @param {string} status
   */
  exchange(way, keySet, salt, from, to, status) {
    this.line(`ecdh-${way}`, `ks=${ks(keySet)} salt=${salt} dir=${dir(from, to)} ${status}`);
  }

  /**
   * @param {'send' | 'recv'} way
   * @param {string} oldSet @param {string} newSet
   * @param {number} salt
   * @param {string} from @param {string} to
   * @param {number} lastIv
   * @param {string} status
   */
  change(way, oldSet, newSet, salt, from, to, lastIv, status) {
    this.line(`change-${way}`, `ks=${ks(oldSet)}→${ks(newSet)} salt=${salt} dir=${dir(from, to)} last_iv=${ivHex(lastIv)} ${status}`);
  }
}
