// @ts-check
/**
 * A tiny DOM builder for a page under Trusted Types: elements are made with
 * `document.createElement`, text only ever goes in as text nodes (never parsed as HTML).
 *
 *     h('p', { class: 'hint' }, 'Hello, ', h('strong', {}, name))
 */

/**
 * What may be passed as a child: text (becomes a text node), a node, or nothing.
 * @typedef {string | number | Node | null | undefined | false | Child[]} Child
 */

/**
 * Properties for `h`:
 * - `class`: class names; `dataset`: data-* values; `attrs`: attributes set verbatim
 *   (`aria-*`, `for`, `role`, …);
 * - `on<event>`: a listener, added with addEventListener;
 * - anything else is assigned as a DOM property (`type`, `value`, `disabled`, `textContent` is
 *   not needed: pass text as a child).
 * @typedef {{
 *   class?: string,
 *   dataset?: Record<string, string>,
 *   attrs?: Record<string, string | number | boolean | null | undefined>,
 *   [key: string]: unknown,
 * }} Props
 */

/**
 * Creates an element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  if (props) {
    setProps(element, props);
  }
  append(element, children);
  return element;
}

/**
 * @param {HTMLElement} element
 * @param {Props} props
 */
function setProps(element, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) {
      continue;
    }
    if (key === 'class') {
      element.className = String(value);
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (key === 'attrs') {
      for (const [name, attr] of Object.entries(/** @type {Record<string, unknown>} */ (value))) {
        if (attr === undefined || attr === null || attr === false) {
          continue;
        }
        element.setAttribute(name, attr === true ? '' : String(attr));
      }
    } else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    } else if (key === 'innerHTML' || key === 'outerHTML') {
      throw new TypeError(`h(): ${key} is not allowed; pass text children instead`);
    } else {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (element))[key] = value;
    }
  }
}

/**
 * Appends children (text becomes text nodes).
 * @param {Node} parent
 * @param {Child[]} children
 */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    if (Array.isArray(child)) {
      append(parent, child);
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }
}

/**
 * Replaces all children of `parent`.
 * @param {Element} parent
 * @param {...Child} children
 */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

let idCounter = 0;

/**
 * A document-unique id for label/aria wiring.
 * @param {string} prefix
 * @returns {string}
 */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * Formats a Unix time (seconds) for people, in the browser's locale.
 * @param {number} secs
 * @returns {string}
 */
export function formatTime(secs) {
  return new Date(secs * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * "m:ss" for a countdown.
 * @param {number} secs
 * @returns {string}
 */
export function formatCountdown(secs) {
  const s = Math.max(0, Math.ceil(secs));
  const minutes = Math.floor(s / 60);
  const rest = String(s % 60).padStart(2, '0');
  return `${minutes}:${rest}`;
}
