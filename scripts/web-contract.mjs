#!/usr/bin/env node
// @ts-check
/**
 * Renders web/api-client/contract.d.ts from the server's OpenAPI document (GET /api/openapi.json, which
 * the server generates from the parley-api types: issue 11). The browser's JSDoc types import
 * from it, so `npx tsc -p tsconfig.json` checks the client against the server's contract.
 *
 *   node scripts/web-contract.mjs --url http://127.0.0.1:PORT/api/openapi.json [--write]
 *   node scripts/web-contract.mjs --file openapi.json [--write]
 *
 * Without --write it prints the file; tests/browser/contract.test.mjs starts a server and fails
 * when the committed file differs (`PARLEY_UPDATE_WEB_CONTRACT=1` rewrites it there).
 */

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Where the rendered contract lives. */
export const CONTRACT_PATH = fileURLToPath(new URL('../web/api-client/contract.d.ts', import.meta.url));

/**
 * @typedef {{ [key: string]: any }} Schema
 */

const HEADER = `// Generated from the server's GET /api/openapi.json (the parley-api types) by
// scripts/web-contract.mjs; do not edit. To bring it up to date, run
//   PARLEY_UPDATE_WEB_CONTRACT=1 PARLEY_BIN=… node --test tests/browser/contract.test.mjs
// Times are Unix seconds, ids are strings (users) or integers (messages).
`;

/**
 * @param {string} text
 * @param {string} indent
 * @returns {string}
 */
function doc(text, indent) {
  if (!text) return '';
  const lines = String(text).replaceAll('*/', '*\\/').split('\n').map((l) => l.trimEnd());
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)).join('\n')}\n${indent} */\n`;
}

/** @param {string} name */
const refName = (name) => name.replace(/^#\/components\/schemas\//, '').replace(/[^A-Za-z0-9_]/g, '_');

/** @param {string} key */
const prop = (key) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key));

/**
 * A TypeScript type for a schema.
 * @param {Schema | boolean | undefined} schema
 * @param {string} indent
 * @returns {string}
 */
function typeOf(schema, indent) {
  if (schema === undefined || schema === true) return 'unknown';
  if (schema === false) return 'never';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  for (const key of ['oneOf', 'anyOf']) {
    if (Array.isArray(schema[key])) {
      const parts = [...new Set(schema[key].map((/** @type {Schema} */ s) => typeOf(s, indent)))];
      return parts.length === 1 ? /** @type {string} */ (parts[0]) : parts.map((p) => (p.includes('\n') && !p.startsWith('{') ? `(${p})` : p)).join(' | ');
    }
  }
  if (Array.isArray(schema.allOf)) {
    return schema.allOf.map((/** @type {Schema} */ s) => typeOf(s, indent)).join(' & ');
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) {
    return types.map((/** @type {string} */ t) => typeOf({ ...schema, type: t }, indent)).join(' | ');
  }
  switch (types[0]) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = typeOf(schema.items, indent);
      return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    case 'object':
      return objectType(schema, indent);
    default:
      return schema.properties ? objectType(schema, indent) : 'unknown';
  }
}

/**
 * @param {Schema} schema
 * @param {string} indent
 * @returns {string}
 */
function objectType(schema, indent) {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const inner = `${indent}  `;
  let out = '';
  for (const [key, value] of Object.entries(props)) {
    out += doc(value.description ?? '', inner);
    out += `${inner}${prop(key)}${required.has(key) ? '' : '?'}: ${typeOf(value, inner)};\n`;
  }
  const extra = schema.additionalProperties;
  if (extra !== undefined && extra !== false) {
    out += `${inner}[key: string]: ${typeOf(extra, inner)};\n`;
  }
  if (!out) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>';
  return `{\n${out}${indent}}`;
}

/**
 * One declaration per schema, sorted by name; then the operations.
 * @param {Schema} openapi
 * @returns {string}
 */
export function render(openapi) {
  const schemas = openapi.components?.schemas ?? {};
  let out = HEADER;
  for (const name of Object.keys(schemas).sort()) {
    const schema = schemas[name];
    out += '\n';
    out += doc(schema.description ?? '', '');
    const type = typeOf(schema, '');
    const isObject = type.startsWith('{\n') && !schema.oneOf && !schema.anyOf && !schema.allOf;
    out += isObject ? `export interface ${refName(name)} ${type}\n` : `export type ${refName(name)} = ${type};\n`;
  }
  out += '\n/** Every operation: `METHOD /path` → its JSON request body and its success answer. */\n';
  out += 'export interface Operations {\n';
  const methods = ['get', 'put', 'post', 'delete', 'patch'];
  for (const path of Object.keys(openapi.paths ?? {}).sort()) {
    for (const method of methods) {
      const op = openapi.paths[path][method];
      if (!op) continue;
      const body = op.requestBody?.content?.['application/json']?.schema;
      const codes = Object.keys(op.responses ?? {}).filter((c) => /^2\d\d$/.test(c)).sort();
      const answers = codes.map((c) => op.responses[c]?.content?.['application/json']?.schema).filter(Boolean);
      const answer = answers.length ? [...new Set(answers.map((s) => typeOf(s, '    ')))].join(' | ') : 'null';
      out += doc(op.summary ?? '', '  ');
      out += `  ${JSON.stringify(`${method.toUpperCase()} ${path}`)}: {\n`;
      out += `    body: ${body ? typeOf(body, '    ') : 'never'};\n`;
      out += `    answer: ${answer};\n`;
      out += '  };\n';
    }
  }
  out += '}\n';
  return out;
}

/**
 * @param {string[]} argv
 */
async function main(argv) {
  const url = argv[argv.indexOf('--url') + 1];
  const file = argv[argv.indexOf('--file') + 1];
  /** @type {Schema} */
  let openapi;
  if (argv.includes('--url') && url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    openapi = await response.json();
  } else if (argv.includes('--file') && file) {
    openapi = JSON.parse(await readFile(file, 'utf8'));
  } else {
    throw new Error('usage: web-contract.mjs (--url URL | --file FILE) [--write]');
  }
  const text = render(openapi);
  if (argv.includes('--write')) {
    await writeFile(CONTRACT_PATH, text);
  } else {
    process.stdout.write(text);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
