// @ts-check
/**
 * The frames of `GET /api/ws` (docs/api.md "Real time"), typed by the server's contract
 * (`ServerFrame` and `ClientFrame` in web/api-client/contract.d.ts). A frame from the network is only
 * trusted as far as `serverFrame` checked it: the fields the client reads have their types.
 */

/** @typedef {import('./contract.js').ServerFrame} ServerFrame */
/** @typedef {import('./contract.js').ClientFrame} ClientFrame */
/** @typedef {import('./contract.js').Message} StoredMessage */

/**
 * @param {unknown} m
 * @returns {m is StoredMessage}
 */
export function isStoredMessage(m) {
  if (typeof m !== 'object' || m === null) return false;
  const r = /** @type {Record<string, unknown>} */ (m);
  return Number.isSafeInteger(r.id) && typeof r.sender_id === 'string' && typeof r.recipient_id === 'string' && typeof r.created_at === 'number';
}

/**
 * The frame, when it is one the client knows and its fields the client reads are well typed;
 * otherwise null (ignored, as an unknown frame always was).
 * @param {Record<string, unknown>} frame parsed JSON
 * @returns {ServerFrame | null}
 */
export function serverFrame(frame) {
  const f = /** @type {any} */ (frame);
  switch (frame.type) {
    case 'message':
      return isStoredMessage(f.message) ? f : null;
    case 'backlog_done':
    case 'resync':
      return f;
    case 'delivered':
      return typeof f.id === 'number' && typeof f.at === 'number' ? f : null;
    case 'read':
      return typeof f.reader === 'string' && typeof f.up_to === 'number' ? f : null;
    case 'account_deleted':
    case 'key':
      return typeof f.user_id === 'string' ? f : null;
    default:
      return null;
  }
}
