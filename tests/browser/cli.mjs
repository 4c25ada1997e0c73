// @ts-check
/**
 * Drives the command-line client `parley-chat` (issue 12, X5) from the browser tests, for live
 * Rust ↔ browser interop: the same server, one person in Chromium and one in a terminal.
 *
 * - `cliRegister(server, dir, username)` signs up through `parley-chat register` with answers
 *   piped to its prompts (the CAPTCHA of the test server, a TOTP code from the printed secret);
 * - `cliRun(server, dir, args)` runs one command and returns its exit code and output;
 * - `CliWatcher` runs `parley-chat watch --json --commands`: one JSON event per line out, one
 *   JSON command per line in.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { CAPTCHA_ANSWER, GOOD_PASSWORD } from './flows.mjs';
import { REPO_ROOT } from './harness.mjs';
import { totp } from './totp.mjs';

/** The state passphrase of every CLI account in the tests. */
export const PASSPHRASE = 'a local passphrase for the browser interop tests';

/** @returns {string} `$PARLEY_CHAT_BIN` or `<repo>/target/debug/parley-chat` */
export function cliBinary() {
  return process.env.PARLEY_CHAT_BIN ?? path.join(REPO_ROOT, 'target', 'debug', 'parley-chat');
}

/** A fresh private state directory. */
export function stateDir() {
  return mkdtemp(path.join(tmpdir(), 'parley-chat-test-'));
}

/**
 * @param {import('./harness.mjs').Server} server
 * @param {string} dir
 * @param {string[]} args
 */
function spawnCli(server, dir, args) {
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, PARLEY_PASSPHRASE: PASSPHRASE };
  // Only the command line names the server, CA and state directory.
  delete env.PARLEY_SERVER;
  delete env.PARLEY_CA_FILE;
  delete env.PARLEY_STATE_DIR;
  return spawn(cliBinary(), ['--server', server.url.replace(/\/$/, ''), '--ca-file', server.caPem, '--state-dir', dir, ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * Runs one command to completion.
 * @param {import('./harness.mjs').Server} server
 * @param {string} dir
 * @param {string[]} args
 * @param {{ input?: string, timeoutMs?: number }} [options]
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string }>}
 */
export function cliRun(server, dir, args, { input = '', timeoutMs = 60_000 } = {}) {
  const child = spawnCli(server, dir, args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`parley-chat ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `parley-chat register`, answering its prompts as a person would: password twice, the CAPTCHA,
 * the authenticator code from the printed secret, "saved" for the recovery codes.
 * @param {import('./harness.mjs').Server} server
 * @param {string} dir
 * @param {string} username
 * @returns {Promise<{ username: string, secret: string, recoveryCodes: string[], output: string }>}
 */
export async function cliRegister(server, dir, username) {
  const child = spawnCli(server, dir, ['register', '--username', username]);
  let output = '';
  let secret = '';
  /** @type {Set<string>} */
  const answered = new Set();
  const answer = (/** @type {string} */ key, /** @type {string} */ text) => {
    answered.add(key);
    child.stdin.write(`${text}\n`);
  };
  const onText = (/** @type {string} */ chunk) => {
    output += chunk;
    const found = /Secret: *([A-Z2-7 ]{16,})/.exec(output);
    if (found) secret = found[1].replace(/\s+/g, '');
    // Prompts end with ": " and no newline; answer each once, in the order the CLI asks.
    const tail = output.slice(output.lastIndexOf('\n') + 1);
    if (!tail.endsWith(': ')) return;
    const prompt = tail.toLowerCase();
    const key = `${output.length}`;
    if (answered.has(key)) return;
    if (prompt.includes('again') || prompt.includes('repeat') || prompt.includes('confirm')) answer(key, GOOD_PASSWORD);
    else if (prompt.includes('password')) answer(key, GOOD_PASSWORD);
    else if (prompt.includes('captcha') || prompt.includes('characters')) answer(key, CAPTCHA_ANSWER);
    else if (prompt.includes('code')) answer(key, totp(secret));
    else if (prompt.includes('saved')) answer(key, 'saved');
  };
  child.stdout.setEncoding('utf8').on('data', onText);
  child.stderr.setEncoding('utf8').on('data', onText);
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `parley-chat register exited with ${code}:\n${output}`);
  assert.ok(secret, `the TOTP secret was printed:\n${output}`);
  const recoveryCodes = [...output.matchAll(/^\s*([a-z0-9]{4,}(?:-[a-z0-9]{4,})+)\s*$/gm)].map((m) => m[1]);
  return { username, secret, recoveryCodes, output };
}

/** `parley-chat watch --json --commands`: events out, commands in. */
export class CliWatcher {
  /**
   * @param {import('./harness.mjs').Server} server
   * @param {string} dir
   */
  constructor(server, dir) {
    this.child = spawnCli(server, dir, ['watch', '--json', '--commands']);
    /** @type {any[]} */
    this.events = [];
    this.stderr = '';
    /** @type {Set<() => void>} */
    this.waiters = new Set();
    this.child.stderr.setEncoding('utf8').on('data', (c) => { this.stderr += c; });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.trim()) return;
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        throw new Error(`parley-chat watch printed a line that is not JSON: ${line}`);
      }
      this.events.push(event);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
  }

  /** @param {object} command one command, e.g. `{ send: { to, text } }` */
  command(command) {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /**
   * The first event (from `from` on) matching `match`; fails after `timeoutMs`.
   * @param {(e: any) => boolean} match
   * @param {{ timeoutMs?: number, from?: number, what?: string }} [options]
   * @returns {Promise<any>}
   */
  waitFor(match, { timeoutMs = 20_000, from = 0, what = match.toString() } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.slice(from).find(match);
        if (found) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`parley-chat watch: no event ${what} in ${timeoutMs} ms\nevents: ${JSON.stringify(this.events)}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Ends the process (as Ctrl-C would) and waits for it. */
  async stop() {
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}
