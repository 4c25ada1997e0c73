// @ts-check
/**
 * The conversation's timeline: protocol events (by server id), the contact's key changes (X3),
 * the E5 warning and this tab's pending messages, as a list of keyed items; and a keyed
 * reconciliation that keeps DOM nodes whose content did not change (so scrolling and
 * selection survive updates). Every piece of user data goes in as text (`h()` children).
 */

import { h } from '../dom.js';
import { STORAGE_CLEARED_TEXT, timeElement } from './format.js';

/** @typedef {import('../protocol.js').ProtocolEvent} ProtocolEvent */
/** @typedef {import('./peer.js').Peer} Peer */
/** @typedef {import('./peer.js').Receipt} Receipt */

/**
 * An item; `same` marks a notice that may repeat (issue 14 item 4): a run of items with the
 * same `same.group` and nothing between them shows as one notice with a count.
 * @typedef {{ group: string, kind: 'warn' | 'lost', text: string, many: (n: number) => string }} Same
 * @typedef {{ key: string, sort: number, sig: string, render: () => HTMLElement, same?: Same, at?: number }} Item
 *
 * @typedef {object} TimelineActions
 * @property {() => void} showSafetyNumber
 * @property {(localId: number) => void} retry
 * @property {(localId: number) => void} discard
 * @property {() => void} loadOlder extends the loaded history downwards (`before=`)
 */

/** Pending messages sort after everything the server stored. */
const PENDING_BASE = 2 ** 52;

/** @type {Record<Receipt, [string, string]>} */
const RECEIPTS = {
  sent: ['✓', 'Sent'],
  delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'],
};

/** A message whose IV is not above the last accepted one (E3): a copy of an earlier message. */
const REPLAY_TEXT = 'Rejected replay — not shown';

/** Reasons that mean "this browser does not have the keys" (E5). */
const LOST = new Set(['unknown_key_set', 'not_my_key']);

/**
 * @param {ProtocolEvent} ev
 * @returns {boolean} the event is about keys this browser no longer has (E5)
 */
function lostKeys(ev) {
  return (ev.kind === 'undecryptable' && LOST.has(ev.reason)) || (ev.kind === 'exchange' && !ev.ok && ev.reason === 'not_my_key');
}

/**
 * A line of the timeline that is not a chat bubble.
 * @param {'session' | 'keys' | 'warn' | 'lost' | 'alert' | 'gap'} kind
 * @param {import('../dom.js').Child} text
 * @param {{ id?: number, who?: string, at?: number, extra?: import('../dom.js').Child }} [more]
 * @returns {HTMLElement}
 */
function system(kind, text, more = {}) {
  const meta = more.at === undefined ? null : h('span', { class: 'sys-meta' }, more.who ? `${more.who} · ` : '', timeElement(more.at));
  return h(
    'div',
    { class: 'sys', dataset: more.id === undefined ? { kind } : { kind, id: String(more.id) }, attrs: { role: kind === 'alert' ? 'alert' : 'note' } },
    h('span', { class: 'sys-text' }, text),
    meta,
    more.extra,
  );
}

/**
 * @param {Receipt} receipt
 * @returns {HTMLElement}
 */
function receiptElement(receipt) {
  const [ticks, label] = RECEIPTS[receipt];
  return h('span', { class: 'msg-status', dataset: { state: receipt } }, h('span', { class: 'ticks', attrs: { 'aria-hidden': 'true' } }, ticks), ` ${label}`);
}

/**
 * A chat bubble.
 * @param {{ id?: number, mine: boolean, text: string, at?: number }} m
 * @param {string} who
 * @param {import('../dom.js').Child} status
 * @param {string} [extraClass]
 * @returns {HTMLElement}
 */
function bubble(m, who, status, extraClass = '') {
  return h(
    'article',
    { class: `msg ${m.mine ? 'mine' : 'theirs'} ${extraClass}`.trim(), dataset: m.id === undefined ? {} : { id: String(m.id) } },
    h('p', { class: 'msg-text' }, m.text),
    h('div', { class: 'msg-meta' }, h('span', { class: 'msg-sender' }, who), m.at === undefined ? null : timeElement(m.at), status),
  );
}

/**
 * The item for one protocol event, or null when there is nothing to show (a superseded change).
 * @param {ProtocolEvent} ev
 * @param {Peer} peer
 * @returns {Item | null}
 */
function eventItem(ev, peer) {
  const who = ev.mine ? 'You' : peer.username;
  const key = `m${ev.id}`;
  const base = { id: ev.id, who, at: ev.created_at };
  switch (ev.kind) {
    case 'message': {
      const receipt = ev.mine ? peer.receipt(ev.id) : null;
      return {
        key,
        sort: ev.id,
        sig: `message|${receipt}`,
        render: () => bubble({ id: ev.id, mine: ev.mine, text: ev.text, at: ev.created_at }, who, receipt ? receiptElement(receipt) : null),
      };
    }
    case 'exchange':
      if (ev.ok) return { key, sort: ev.id, sig: 'exchange', render: () => system('session', 'Secure session started', base) };
      if (ev.reason === 'not_my_key') {
        return { key, sort: ev.id, sig: 'exchange-lost', render: () => system('lost', 'A secure session for keys this browser no longer has', base) };
      }
      return { key, sort: ev.id, sig: 'exchange-bad', render: () => system('warn', 'Key exchange rejected — it failed verification', base) };
    case 'keys_changed':
      if (ev.superseded) return null;
      return { key, sort: ev.id, sig: 'keys', render: () => system('keys', 'Keys changed', base) };
    case 'replay_rejected':
      return { key, sort: ev.id, sig: 'replay', render: () => system('warn', REPLAY_TEXT, base) };
    case 'undecryptable': {
      /** @type {string} */
      let text;
      /** @type {'warn' | 'lost'} */
      let kind = 'warn';
      if (LOST.has(ev.reason)) {
        kind = 'lost';
        text = ev.type === 'change' ? 'Keys changed, but this browser no longer has the earlier keys' : 'Message can’t be decrypted in this browser (its keys are gone)';
      } else if (ev.reason === 'malformed') {
        text = 'This message is damaged — not shown';
      } else if (ev.type === 'change') {
        text = 'Key change rejected — it failed verification; keys unchanged';
      } else if (ev.reason === 'replay') {
        text = REPLAY_TEXT;
      } else {
        text = 'Message could not be verified — not shown';
      }
      const many = LOST.has(ev.reason) && ev.type !== 'change' ? (/** @type {number} */ n) => `${n} messages can’t be decrypted in this browser (their keys are gone)` : (/** @type {number} */ n) => `${text} (${n} in a row)`;
      return {
        key,
        sort: ev.id,
        sig: `undecryptable|${ev.reason}`,
        render: () => system(kind, text, base),
        same: { group: `${kind}|${text}`, kind, text, many },
        at: ev.created_at,
      };
    }
    default:
      return null;
  }
}

/**
 * Everything the timeline shows, in order.
 * @param {Peer} peer
 * @param {TimelineActions} actions
 * @returns {Item[]}
 */
export function timelineItems(peer, actions) {
  /** @type {Item[]} */
  const items = [];
  let firstLost = Infinity;
  // Only the loaded history is known to be complete: from its oldest message (`oldestId`) on.
  // Messages older than that which arrived anyway (the WebSocket backlog of a long absence)
  // would sit above a silent gap, so they wait behind a marker until the history reaches them.
  const floor = peer.historyLoaded && peer.hasOlder && peer.oldestId !== null ? peer.oldestId : -Infinity;
  let notShown = 0;
  for (const ev of peer.events.values()) {
    if (ev.id < floor) {
      notShown += 1;
      continue;
    }
    const item = eventItem(ev, peer);
    if (item) items.push(item);
    if (lostKeys(ev)) firstLost = Math.min(firstLost, ev.id);
  }
  if (firstLost !== Infinity) {
    // E5: once, above the first message this browser cannot read.
    items.push({
      key: 'e5',
      sort: firstLost - 0.75,
      sig: 'e5',
      render: () => h('div', { class: 'sys e5', dataset: { kind: 'lost' }, attrs: { role: 'note' } }, h('strong', { class: 'sys-text' }, STORAGE_CLEARED_TEXT)),
    });
  }
  if (notShown > 0) {
    const text = `${notShown} earlier message${notShown === 1 ? '' : 's'} received but not shown yet`;
    items.push({
      key: 'gap',
      sort: floor - 0.9,
      sig: `gap|${notShown}|${peer.loadingOlder}`,
      render: () =>
        system('gap', text, {
          extra: h(
            'button',
            { type: 'button', class: 'button secondary small', disabled: peer.loadingOlder, onclick: () => actions.loadOlder() },
            peer.loadingOlder ? 'Loading…' : 'Show earlier messages',
          ),
        }),
    });
  }
  for (const notice of peer.keyNotices) {
    items.push({
      key: notice.key,
      sort: notice.sort,
      sig: 'key',
      render: () =>
        system('alert', h('strong', {}, `${peer.username}'s security key changed`), {
          at: notice.at,
          extra: [
            h(
              'p',
              { class: 'sys-detail' },
              'This happens when they clear their browser data or sign in from another browser — or when someone is trying to listen in. Compare safety numbers to be sure.',
            ),
            h('button', { type: 'button', class: 'button secondary small', onclick: () => actions.showSafetyNumber() }, 'View safety number'),
          ],
        }),
    });
  }
  for (const p of peer.pending) {
    items.push({
      key: `p${p.localId}`,
      sort: PENDING_BASE + p.localId,
      sig: `pending|${p.error ?? ''}`,
      render: () => {
        if (p.error === null) {
          return bubble({ mine: true, text: p.text }, 'You', h('span', { class: 'msg-status', dataset: { state: 'sending' } }, 'Sending…'), 'pending');
        }
        return bubble(
          { mine: true, text: p.text },
          'You',
          h(
            'span',
            { class: 'msg-failed' },
            h('span', { class: 'msg-error', attrs: { role: 'alert' } }, p.error),
            h('button', { type: 'button', class: 'link-button', onclick: () => actions.retry(p.localId) }, 'Retry'),
            h('button', { type: 'button', class: 'link-button', onclick: () => actions.discard(p.localId) }, 'Discard'),
          ),
          'failed',
        );
      },
    });
  }
  return collapseRuns(items.sort((a, b) => a.sort - b.sort));
}

/**
 * Runs of the same notice become one line with a count ("34 messages can’t be decrypted…"),
 * keyed by the run's first item so that the node survives while the run grows.
 * @param {Item[]} items sorted
 * @returns {Item[]}
 */
export function collapseRuns(items) {
  /** @type {Item[]} */
  const out = [];
  let i = 0;
  while (i < items.length) {
    const first = /** @type {Item} */ (items[i]);
    let j = i + 1;
    while (first.same && j < items.length && items[j]?.same?.group === first.same.group) j += 1;
    const count = j - i;
    if (count === 1 || !first.same) {
      out.push(first);
    } else {
      const same = first.same;
      const last = /** @type {Item} */ (items[j - 1]);
      const from = first.at;
      const to = last.at;
      out.push({
        key: `${first.key}-run`,
        sort: first.sort,
        sig: `run|${same.group}|${count}|${last.key}`,
        render: () => {
          const node = system(same.kind, same.many(count), {
            extra:
              from === undefined || to === undefined
                ? null
                : h('span', { class: 'sys-meta' }, timeElement(from), ' – ', timeElement(to)),
          });
          node.dataset.count = String(count);
          return node;
        },
      });
    }
    i = j;
  }
  return out;
}

/**
 * Makes `list`'s children the rendered `items`, reusing nodes whose signature did not change.
 * @param {HTMLElement} list
 * @param {Item[]} items
 * @param {Map<string, { sig: string, node: HTMLElement }>} cache
 */
export function reconcile(list, items, cache) {
  const wanted = new Set(items.map((i) => i.key));
  for (const [key, entry] of cache) {
    if (!wanted.has(key)) {
      entry.node.remove();
      cache.delete(key);
    }
  }
  /** @type {ChildNode | null} */
  let cursor = list.firstChild;
  for (const item of items) {
    let entry = cache.get(item.key);
    if (!entry || entry.sig !== item.sig) {
      const node = item.render();
      node.dataset.key = item.key;
      if (entry) {
        if (entry.node === cursor) cursor = cursor.nextSibling;
        entry.node.remove();
      }
      entry = { sig: item.sig, node };
      cache.set(item.key, entry);
    }
    if (entry.node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      list.insertBefore(entry.node, cursor);
    }
  }
  // Anything left after the cursor is not ours (should not happen): drop it.
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}
