// Starts the real `chillfi` binary on a free port with its own temp data dir, and talks to it
// with the official socket.io-client. Every test gets its own server.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');

export const BIN =
  process.env.TEST_CHILLFI_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'debug', 'chillfi');

export const ADMIN = { name: 'admin', password: 'admin-pass-1', admin: true };
export const ALICE = { name: 'alice', password: 'alice-pass-1', admin: false };

/** The socket.io transport settings every suite runs under. */
export const TRANSPORT_MODES = {
  websocket: ['websocket'],
  polling: ['polling'],
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function cli(dataDir, args, env = {}) {
  return execFileSync(BIN, ['--data-dir', dataDir, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Creates users with the CLI (as an admin would before the first start). */
export function addUsers(dataDir, users) {
  const resetTokens = {};
  for (const u of users) {
    const args = ['user', 'add', u.name];
    if (u.admin) args.push('--admin');
    if (u.password) {
      const file = path.join(dataDir, `.pw-${u.name}`);
      fs.writeFileSync(file, u.password + '\n', { mode: 0o600 });
      args.push('--password-file', file);
    }
    const out = cli(dataDir, args);
    const m = out.match(/reset token[^:]*: ([0-9a-f]{32})/);
    if (m) resetTokens[u.name] = m[1];
  }
  return resetTokens;
}

export class Server {
  constructor({ dataDir, env = {} }) {
    this.dataDir = dataDir;
    this.env = env;
    this.logs = '';
  }

  async start() {
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(BIN, ['--data-dir', this.dataDir, 'serve', '--listen', `127.0.0.1:${this.port}`], {
      env: { ...process.env, CHILLFI_LOG__LEVEL: 'warn', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (d) => (this.logs += d));
    this.proc.stderr.on('data', (d) => (this.logs += d));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`chillfi exited early:\n${this.logs}`);
      try {
        const r = await fetch(`${this.url}/api/health`);
        if (r.ok) return this;
      } catch {}
      await sleep(50);
    }
    throw new Error(`chillfi did not become ready:\n${this.logs}`);
  }

  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null) return { code: this.proc?.exitCode };
    this.proc.kill(signal);
    return this.exited;
  }
}

/** A fresh data dir with an admin and alice, and a running server. */
export async function startServer({ users = [ADMIN, ALICE], env = {} } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-test-'));
  const resetTokens = addUsers(dataDir, users);
  const server = await new Server({ dataDir, env }).start();
  server.resetTokens = resetTokens;
  return server;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Connects and waits for the server's `auth:session` greeting. */
export async function connect(server, { token, transports = ['websocket'] } = {}) {
  const socket = io(server.url, {
    transports,
    auth: token ? { token } : {},
    reconnection: false,
    forceNew: true,
    timeout: 10000,
  });
  const session = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no auth:session from server')), 10000);
    socket.once('auth:session', (s) => {
      clearTimeout(timer);
      resolve(s);
    });
    socket.once('connect_error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  socket.session = session;
  return socket;
}

/** Emits a request and resolves with its ack envelope. */
export function call(socket, event, ...args) {
  return socket.timeout(15000).emitWithAck(event, ...args);
}

/** Like `call` but throws unless the envelope is ok; returns `data`. */
export async function ok(socket, event, ...args) {
  const res = await call(socket, event, ...args);
  if (!res?.ok) throw new Error(`${event} failed: ${JSON.stringify(res)}`);
  return res.data;
}

export async function login(server, user, transports) {
  const s = await connect(server, { transports });
  const data = await ok(s, 'auth:login', { username: user.name, password: user.password });
  return { socket: s, token: data.token, user: data.user };
}

export function waitFor(socket, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

export function waitDisconnect(socket, ms = 10000) {
  if (!socket.connected) return Promise.resolve('already');
  return waitFor(socket, 'disconnect', ms).then(([reason]) => reason);
}
