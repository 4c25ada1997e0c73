// @ts-check
/**
 * Times and words shared by the chat's views.
 */

import { formatTime, h } from '../dom.js';

/**
 * A message time: "14:05" today, "3 Mar, 14:05" otherwise; the full date in the tooltip.
 * @param {number} secs Unix seconds (server time)
 * @returns {HTMLTimeElement}
 */
export function timeElement(secs) {
  const date = new Date(secs * 1000);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const text = sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return h('time', { dateTime: date.toISOString(), title: formatTime(secs) }, text);
}

/**
 * Short "last activity" for the conversation list.
 * @param {number} secs
 * @returns {string}
 */
export function shortWhen(secs) {
  if (!secs) return '';
  const date = new Date(secs * 1000);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) {
    return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** E5: what a browser without the keys of earlier messages says. */
export const STORAGE_CLEARED_TEXT =
  "This browser no longer has the keys for earlier messages — they can't be decrypted here. New messages are encrypted with new keys.";
