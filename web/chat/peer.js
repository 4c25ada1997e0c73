// @ts-check
/**
 * One contact as this tab knows it: the protocol conversation, the events it produced (by
 * server id), delivery and read receipts of own messages, the contact's key changes (X3),
 * messages still being sent, and where the loaded history starts and ends.
 */

/** @typedef {import('../protocol.js').Conversation} Conversation */
/** @typedef {import('../protocol.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('../api-client/messaging.js').StoredMessage} StoredMessage */

let noticeSeq = 0;

/**
 * A contact's identity key changed (X3): shown loudly in the timeline.
 * @typedef {{ key: string, sort: number, at: number, newKey: string }} KeyNotice
 */

/**
 * A message typed in this tab that the server has not stored yet (or that failed).
 * @typedef {{ localId: number, text: string, error: string | null }} Pending
 */

/** @typedef {'sent' | 'delivered' | 'read'} Receipt */

/** One contact, as this tab knows it. */
export class Peer {
  /** @param {string} id @param {string} username */
  constructor(id, username) {
    this.id = id;
    this.username = username;
    /** Newest activity (server time), for the list. */
    this.lastActivity = 0;
    /** Highest server id processed in this tab (catch-up fetches `after` it). */
    this.lastId = 0;
    /** Highest server id known from anywhere (the list, pushes): for unread counting and order. */
    this.knownLastId = 0;
    this.unread = 0;
    /** The contact deleted their account: history stays, sending is off (issue 14 item 3). */
    this.deleted = false;
    /** Local order for contacts without messages yet (just started). */
    this.startedAt = 0;
    /** @type {Conversation | null} */
    this.conv = null;
    /** @type {Map<number, ProtocolEvent>} by server id */
    this.events = new Map();
    /** Delivery state of own messages, by server id. @type {Map<number, { delivered: number | null, read: number | null }>} */
    this.receipts = new Map();
    /** The contact read everything up to this id. */
    this.peerReadUpTo = 0;
    /** @type {KeyNotice[]} */
    this.keyNotices = [];
    /** @type {Pending[]} */
    this.pending = [];
    /** @type {number | null} lowest id of the loaded history */
    this.oldestId = null;
    this.hasOlder = false;
    this.historyLoaded = false;
    this.loadingOlder = false;
    /** @type {string | null} */
    this.loadError = null;
    /** @type {boolean | null} the contact has published a key (null: not asked yet) */
    this.hasKey = null;
    /** Read receipt already sent up to this id. */
    this.readSent = 0;
    /** @type {Promise<void> | null} */
    this.opening = null;
    /** @type {Promise<void>} this tab's sends to this contact, in order */
    this.sendChain = Promise.resolve();
  }

  /**
   * @param {number} id an own message
   * @returns {Receipt}
   */
  receipt(id) {
    const r = this.receipts.get(id);
    if ((r && r.read !== null) || id <= this.peerReadUpTo) return 'read';
    if (r && r.delivered !== null) return 'delivered';
    return 'sent';
  }

  /**
   * Remember what the server stored: ids for catch-up, activity, receipts of own messages.
   * @param {StoredMessage} m
   * @param {string} me
   * @param {Map<number, number>} earlyDelivered delivered receipts that came before the message
   */
  noteStored(m, me, earlyDelivered) {
    this.lastId = Math.max(this.lastId, m.id);
    this.knownLastId = Math.max(this.knownLastId, m.id);
    this.lastActivity = Math.max(this.lastActivity, m.created_at);
    if (m.sender_id === me && m.kind === 'msg') {
      const r = this.receipts.get(m.id) ?? { delivered: null, read: null };
      r.delivered ??= m.delivered_at ?? earlyDelivered.get(m.id) ?? null;
      r.read ??= m.read_at ?? null;
      earlyDelivered.delete(m.id);
      this.receipts.set(m.id, r);
    }
  }

  /**
   * Keep events by server id (the same message twice is one entry); a changed contact key
   * becomes a loud notice (X3).
   * @param {ProtocolEvent[]} events
   */
  apply(events) {
    for (const ev of events) {
      if (ev.kind === 'peer_key_changed') {
        if (this.keyNotices.some((n) => n.newKey === ev.newKey)) continue;
        noticeSeq += 1;
        this.keyNotices.push({
          key: `key-${noticeSeq}`,
          // From an `ecdh`: just before it; from the key directory: after everything seen.
          sort: ev.id > 0 ? ev.id - 0.5 : Math.max(this.lastId, this.knownLastId) + 0.5,
          at: ev.created_at,
          newKey: ev.newKey,
        });
        continue;
      }
      if (ev.kind === 'undecryptable' && ev.reason === 'wrong_conversation') continue;
      this.events.set(ev.id, ev);
    }
  }
}
