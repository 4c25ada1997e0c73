// @ts-check
/**
 * A tiny RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits) for the browser tests, which act
 * as the user's authenticator app: they read the base32 key shown at enrolment and compute codes.
 */

import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Seconds per time step (the server's TOTP_PERIOD_SECS). */
const TOTP_PERIOD = 30;

/**
 * Decodes RFC 4648 base32 (case-insensitive; spaces, dashes and padding ignored).
 * @param {string} text
 * @returns {Buffer}
 */
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  /** @type {number[]} */
  const out = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) {
      throw new Error(`not base32: ${JSON.stringify(char)}`);
    }
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/**
 * RFC 4226 HOTP.
 * @param {Buffer} key
 * @param {number} counter
 * @param {number} [digits]
 * @returns {string}
 */
export function hotp(key, counter, digits = 6) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = /** @type {number} */ (mac[mac.length - 1]) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/**
 * The time step (counter) for a Unix time.
 * @param {number} [unixSeconds]
 * @param {number} [period]
 * @returns {number}
 */
export function timeStep(unixSeconds = Date.now() / 1000, period = 30) {
  return Math.floor(unixSeconds / period);
}

/**
 * RFC 6238 TOTP code.
 * @param {string} secret base32
 * @param {{ time?: number, stepOffset?: number, period?: number, digits?: number }} [options]
 *   `time` in Unix seconds (default now); `stepOffset` moves to a neighbouring time step
 * @returns {string}
 */
export function totp(secret, { time = Date.now() / 1000, stepOffset = 0, period = 30, digits = 6 } = {}) {
  return hotp(base32Decode(secret), timeStep(time, period) + stepOffset, digits);
}

/**
 * An authenticator that never reuses a time step (the server accepts each step once, ±1 step of
 * drift). `clockOffset` follows the server's test clock.
 */
export class Authenticator {
  /**
   * @param {string} secret base32
   * @param {{ clockOffset?: number }} [options]
   */
  constructor(secret, { clockOffset = 0 } = {}) {
    this.secret = secret.replace(/\s+/g, '');
    this.clockOffset = clockOffset;
    this.lastStep = -Infinity;
  }

  /** The server's time as this authenticator sees it. */
  now() {
    return Date.now() / 1000 + this.clockOffset;
  }

  /**
   * A code for a time step not used before: the current one, or the next if the current one was
   * used (still within the server's ±1 step window). Waits when both are used.
   * @returns {Promise<string>}
   */
  async next() {
    for (;;) {
      const current = timeStep(this.now());
      const step = Math.max(current, this.lastStep + 1);
      // The server accepts steps current-1..current+1; time only moves forward, so a step that
      // is acceptable now stays acceptable for the next 30 s at least.
      if (step <= current + 1) {
        this.lastStep = step;
        return hotp(base32Decode(this.secret), step);
      }
      // Both acceptable steps are used: the wait is the subject here, so it is computed — until
      // `step` is within the window (the time step before it has begun), plus 50 ms.
      const waitMs = ((step - 1) * TOTP_PERIOD - this.now()) * 1000 + 50;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, waitMs)));
    }
  }

  /**
   * A wrong code for this secret (never equal to any code of the window around now).
   * @param {number} [seed]
   * @returns {string}
   */
  wrong(seed = 0) {
    const key = base32Decode(this.secret);
    const current = timeStep(this.now());
    const nearby = new Set([-2, -1, 0, 1, 2].map((d) => hotp(key, current + d)));
    for (let n = seed; ; n += 1) {
      const candidate = String((123457 + n * 7919) % 1_000_000).padStart(6, '0');
      if (!nearby.has(candidate)) {
        return candidate;
      }
    }
  }
}
