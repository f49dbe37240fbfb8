// Starting and stopping the servers under test, and the cross-origin "attacker"
// page server.
//
// The Rust binaries are the ones cargo built (scripts/e2e.sh runs
// `cargo build -p login && cargo build -p firmware --features host-server --bin firmware-host` first):
// `$SESH_E2E_BIN_DIR` or `<repo>/target/debug`.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN_DIR = process.env.SESH_E2E_BIN_DIR ?? path.join(REPO, 'target', 'debug');

/** The path of a cargo-built binary; throws a helpful error if it is missing. */
export function binary(name) {
  const file = path.join(BIN_DIR, name);
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} is missing: build it with ` +
        '`cargo build -p login && cargo build -p firmware --features host-server --bin firmware-host` ' +
        '(or run scripts/e2e.sh)',
    );
  }
  return file;
}

/** `<binary> --help`, or '' if it fails. */
export function helpText(name) {
  try {
    const out = spawnSync(binary(name), ['--help'], { encoding: 'utf8', timeout: 10_000 });
    return `${out.stdout ?? ''}${out.stderr ?? ''}`;
  } catch {
    return '';
  }
}

/** A fresh temporary directory, removed by `removeDir`. */
export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sesh-e2e-${prefix}-`));
}

export function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A port that was free a moment ago on `host`. */
export async function freePort(host = '127.0.0.1') {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * A running server process. `url` is its base URL (no trailing slash),
 * taken from the "… listening on http://IP:PORT/" line it prints; `lines`
 * collects the other `http://…` lines by label (e.g. `stats`).
 */
export class Server {
  constructor(child, name) {
    this.child = child;
    this.name = name;
    this.output = '';
    this.urls = {};
    this.exited = once(child, 'exit');
  }

  /** Starts `file args…` and waits until it prints its listening line. */
  static async start(name, file, args, env = {}) {
    const child = spawn(file, args, {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Server(child, name);
    const ready = new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start in ${START_TIMEOUT_MS} ms:\n${server.output}`)),
        START_TIMEOUT_MS,
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        server.output += chunk;
        stdout += chunk;
        for (const m of stdout.matchAll(/(\S+) on (http:\/\/[^\s/]+)\//g)) {
          server.urls[m[1]] = m[2];
        }
        const listening = /listening on (http:\/\/[^\s/]+)\//.exec(stdout);
        if (listening) {
          clearTimeout(timer);
          server.url = listening[1];
          resolve();
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        server.output += chunk;
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${server.output}`));
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    try {
      await ready;
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return server;
  }

  /** The port it listens on. */
  get port() {
    return Number(new URL(this.url).port);
  }

  /** Stops it: SIGINT (a graceful shutdown), then SIGKILL after a while. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return;
    }
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A plain page server on `host` (another origin than the target's): `GET
 * /<name>` answers `pages[name]` as HTML. Used for the cross-origin forms.
 */
export async function pageServer(host, pages) {
  const server = http.createServer((req, res) => {
    const page = pages[req.url.replace(/^\//, '').replace(/\?.*$/, '')];
    if (page === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(page);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address();
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
