// @ts-check
/**
 * The tab's WebSocket to `GET /api/ws` (docs/api.md): same origin, authenticated by the session
 * cookie (no token in the URL). Reconnects with exponential backoff and jitter after anything
 * but a deliberate stop or the session's end (close code 4001); comes back at once when the
 * browser says it is online again. Frames are parsed JSON, checked by web/api-client/frames.js and
 * handed to `onFrame` typed as the server's `ServerFrame`; unknown or malformed ones are dropped.
 */

import { serverFrame } from '../api-client/frames.js';

/** Close code: the session ended (logout, revocation, idle or absolute limit). */
export const CLOSE_SESSION_ENDED = 4001;

const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/**
 * @typedef {'connecting' | 'online' | 'offline' | 'stopped'} SocketState
 *
 * @typedef {object} SocketHooks
 * @property {(frame: import('../api-client/frames.js').ServerFrame) => void} onFrame
 * @property {(state: SocketState, retryInMs?: number) => void} onState
 * @property {() => void} onSessionEnded close code 4001: no reconnect
 * @property {() => Promise<boolean>} [beforeReconnect] resolves false to give up (e.g. the
 *   session is gone: the app has already gone to the sign-in page)
 */

/**
 * @typedef {object} ChatSocket
 * @property {(frame: import('../api-client/frames.js').ClientFrame) => boolean} send false when not connected
 * @property {() => void} stop
 * @property {() => SocketState} state
 */

/**
 * @param {SocketHooks} hooks
 * @param {string} [url] default `wss://<this host>/api/ws`
 * @returns {ChatSocket}
 */
export function connectSocket(hooks, url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`) {
  /** @type {WebSocket | null} */
  let ws = null;
  /** @type {SocketState} */
  let state = 'connecting';
  let attempt = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let stopped = false;

  /** @param {SocketState} next @param {number} [retryInMs] */
  const setState = (next, retryInMs) => {
    state = next;
    hooks.onState(next, retryInMs);
  };

  const open = () => {
    timer = null;
    if (stopped) return;
    setState('connecting');
    const socket = new WebSocket(url);
    ws = socket;
    socket.addEventListener('open', () => {
      if (ws !== socket) return;
      attempt = 0;
      setState('online');
    });
    socket.addEventListener('message', (event) => {
      if (ws !== socket || typeof event.data !== 'string') return;
      /** @type {unknown} */
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        console.warn('Parley: ignoring a WebSocket frame that is not JSON');
        return;
      }
      if (typeof frame === 'object' && frame !== null && !Array.isArray(frame)) {
        const known = serverFrame(/** @type {Record<string, unknown>} */ (frame));
        if (known) hooks.onFrame(known);
      }
    });
    socket.addEventListener('close', (event) => {
      if (ws !== socket) return;
      ws = null;
      if (stopped) return;
      if (event.code === CLOSE_SESSION_ENDED) {
        setState('stopped');
        hooks.onSessionEnded();
        return;
      }
      scheduleReconnect();
    });
    // An `error` is always followed by `close`, which does the work.
  };

  const scheduleReconnect = () => {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    attempt += 1;
    setState('offline', delay);
    timer = setTimeout(() => {
      void (async () => {
        const go = hooks.beforeReconnect ? await hooks.beforeReconnect().catch(() => true) : true;
        if (go) {
          open();
        } else {
          stop();
        }
      })();
    }, delay);
  };

  const onOnline = () => {
    if (state === 'offline' && timer !== null) {
      clearTimeout(timer);
      attempt = 0;
      open();
    }
  };
  window.addEventListener('online', onOnline);

  const stop = () => {
    if (stopped) return;
    stopped = true;
    window.removeEventListener('online', onOnline);
    if (timer !== null) clearTimeout(timer);
    const socket = ws;
    ws = null;
    socket?.close(1000, 'bye');
    setState('stopped');
  };

  open();

  return {
    send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    stop,
    state: () => state,
  };
}
