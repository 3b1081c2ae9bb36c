// Starts the real `chillfi` binary on a free port with its own temp data dir, and talks to it
// with the official socket.io-client. Every test gets its own server.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
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

/** Every server log of a run, written when the server exits. */
export const SERVER_LOGS = path.join(repo, 'test-artifacts', 'server-logs');

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

/** Runs the CLI without throwing, for commands expected to fail too: {code, stdout, stderr}. */
export async function runCli(dataDir, args) {
  const { promisify } = await import('node:util');
  const { execFile } = await import('node:child_process');
  try {
    const { stdout, stderr } = await promisify(execFile)(BIN, ['--data-dir', dataDir, ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
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
      env: { ...process.env, CHILLFI_LOG__LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (d) => (this.logs += d));
    this.proc.stderr.on('data', (d) => (this.logs += d));
    const logFile = path.join(SERVER_LOGS, `${path.basename(this.dataDir)}-${this.port}.log`);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      // Kept for the secrets check of the whole run (secrets-in-logs.mjs).
      fs.mkdirSync(SERVER_LOGS, { recursive: true });
      fs.writeFileSync(logFile, this.logs);
      resolve({ code, signal });
    }));
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

// ---------------------------------------------------------------- media and S3 for ingest tests

/** Generates real audio with the ffmpeg CLI. `args` go before the output file. */
export function ffmpeg(out, args) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** A FLAC with tags and an embedded PNG cover; noise so it spans several 1 MiB chunks. */
export function flacWithCover(dir, name, { seconds = 8, title = 'Noise Song', artist = 'Test Artist', album = 'Test Album' } = {}) {
  const cover = ffmpeg(path.join(dir, `${name}.cover.png`), ['-f', 'lavfi', '-i', 'color=c=teal:s=64x64', '-frames:v', '1']);
  return ffmpeg(path.join(dir, name), [
    '-f', 'lavfi', '-i', `anoisesrc=d=${seconds}:c=pink:r=44100:a=0.3`, '-i', cover,
    '-map', '0:a', '-map', '1:v', '-c:v', 'png', '-disposition:v', 'attached_pic', '-ac', '2',
    '-metadata', `title=${title}`, '-metadata', `artist=${artist}`, '-metadata', `album=${album}`,
    '-metadata', 'track=3/10', '-metadata', 'date=2021', '-c:a', 'flac',
  ]);
}

export function sineFile(dir, name, { seconds = 1, freq = 440, codec = [] } = {}) {
  return ffmpeg(path.join(dir, name), ['-f', 'lavfi', '-i', `sine=f=${freq}:d=${seconds}`, ...codec]);
}

export function ffprobe(file) {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' }));
}

export function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A real S3 server (SeaweedFS `weed mini`) with signature checking, on free ports. */
export async function startS3() {
  const weed = process.env.WEED_BIN ?? '/var/tmp/chillfi-tools/venv/bin/weed';
  if (!fs.existsSync(weed)) throw new Error(`no SeaweedFS at ${weed}: run .ci/install-s3.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-weed-'));
  const port = async () => {
    for (;;) {
      const p = 20000 + Math.floor(Math.random() * 20000);
      if ((await portFree(p)) && (await portFree(p + 10000))) return p;
    }
  };
  const [s3, master, volume, filer, admin] = [await port(), await port(), await port(), await port(), await port()];
  const accessKey = 'chillfi' + crypto.randomBytes(4).toString('hex');
  const secretKey = crypto.randomBytes(16).toString('hex');
  const args = ['mini', `-dir=${dir}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1', '-webdav=false', '-admin.ui=false',
    '-s3.port.iceberg=0', '-s3.port.lance=0', '-master.telemetry=false',
    `-s3.port=${s3}`, `-s3.port.grpc=${s3 + 10000}`, `-master.port=${master}`, `-master.port.grpc=${master + 10000}`,
    `-volume.port=${volume}`, `-volume.port.grpc=${volume + 10000}`, `-filer.port=${filer}`, `-filer.port.grpc=${filer + 10000}`,
    `-admin.port=${admin}`, `-admin.port.grpc=${admin + 10000}`,
    `-filer.localSocket=${dir}/filer.sock`, `-s3.localSocket=${dir}/s3.sock`];
  const proc = spawn(weed, args, {
    env: { ...process.env, AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, TMPDIR: dir },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const endpoint = `http://127.0.0.1:${s3}`;
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${endpoint}/healthz`)).ok) break;
    } catch {}
    await sleep(100);
  }
  return {
    endpoint, accessKey, secretKey, filer: `http://127.0.0.1:${filer}`,
    env: {
      CHILLFI_STORAGE__BACKEND: 's3', CHILLFI_STORAGE__S3__ENDPOINT: endpoint,
      CHILLFI_STORAGE__S3__BUCKET: 'chillfi-test', CHILLFI_STORAGE__S3__ACCESS_KEY: accessKey,
      CHILLFI_STORAGE__S3__SECRET_KEY: secretKey,
    },
    stop() { proc.kill('SIGKILL'); },
  };
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Uploads one file in chunks; `onChunk(i)` may return 'stop' to simulate a dropped connection. */
export async function uploadChunks(socket, uploadId, fileId, file, chunkSize, indexes) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const acks = [];
    for (const index of indexes) {
      const len = Math.min(chunkSize, size - index * chunkSize);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, index * chunkSize);
      acks.push(await call(socket, 'song:uploadChunk', { uploadId, fileId, index, data: buf }));
    }
    return acks;
  } finally {
    fs.closeSync(fd);
  }
}

/** Resolves when `predicate(payload)` holds for an event. */
export function waitForMatch(socket, event, predicate, ms = 60000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.off(event, handler); reject(new Error(`no matching ${event} within ${ms} ms`)); }, ms);
    function handler(payload) {
      if (predicate(payload)) {
        clearTimeout(timer);
        socket.off(event, handler);
        resolve(payload);
      }
    }
    socket.on(event, handler);
  });
}

export async function waitUntil(check, ms = 60000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Uploads whole files (`[{file, metadata?}]`) in one `song:uploadInit` and resolves with the
 * songs, in the order given (a duplicate resolves to the song already there).
 */
export async function uploadSongs(socket, files) {
  const init = await ok(socket, 'song:uploadInit', {
    files: files.map(({ file, metadata }) => ({ name: path.basename(file), size: fs.statSync(file).size, ...(metadata ? { metadata } : {}) })),
  });
  const songs = [];
  for (const [i, entry] of init.files.entries()) {
    const result = waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === entry.fileId);
    const chunks = Math.ceil(entry.size / init.chunkSize);
    const acks = await uploadChunks(socket, init.uploadId, entry.fileId, files[i].file, init.chunkSize, [...Array(chunks).keys()]);
    if (!acks.every((a) => a.ok)) throw new Error(`upload of ${entry.name} failed: ${JSON.stringify(acks)}`);
    const done = await result;
    if (!['added', 'duplicate'].includes(done.status)) throw new Error(`upload of ${entry.name}: ${JSON.stringify(done)}`);
    songs.push(done.song);
  }
  return songs;
}

/** Collects every payload of an event a socket receives (for "was never told" checks). */
export function record(socket, event) {
  const seen = [];
  socket.on(event, (p) => seen.push(p));
  return seen;
}

// ---------------------------------------------------------------- fault injection

/**
 * A TCP proxy on a free loopback port in front of `target` (`http://host:port`), for storage
 * outages on command:
 * - `pass`: forwards both ways;
 * - `refuse`: stops listening (new connections get ECONNREFUSED) and resets open ones;
 * - `reset`: accepts, then resets every connection (RST) at once, open ones included;
 * - `stall`: accepts and holds new connections without forwarding a byte, and freezes open ones
 *   (a storage server that hangs).
 * `url` is what the server under test is given instead of the target.
 */
export async function startFaultProxy(target) {
  const { hostname, port: targetPort } = new URL(target);
  const conns = new Set();
  let mode = 'pass';
  let listening = false;
  const server = net.createServer((client) => {
    const pair = { client, upstream: null };
    conns.add(pair);
    client.on('close', () => conns.delete(pair));
    client.on('error', () => {});
    if (mode === 'reset' || mode === 'refuse') return client.resetAndDestroy();
    if (mode === 'stall') return client.pause();
    connectUpstream(pair);
  });
  function connectUpstream(pair) {
    const upstream = net.connect(Number(targetPort), hostname);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    pair.client.on('error', () => upstream.destroy());
    upstream.on('close', () => pair.client.destroy());
    pair.client.on('close', () => upstream.destroy());
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
    pair.client.resume();
  }
  const listen = (port) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve(server.address().port);
      });
    });
  const port = await listen(0);
  const proxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() { return mode; },
    /** Switches the mode; resolves once the listener is in the matching state. */
    async set(next) {
      if (!['pass', 'refuse', 'reset', 'stall'].includes(next)) throw new Error(`unknown proxy mode ${next}`);
      mode = next;
      if (next === 'pass') {
        for (const pair of conns) {
          if (!pair.upstream && !pair.client.destroyed) connectUpstream(pair);
          else { pair.client.resume(); pair.upstream?.resume(); }
        }
        if (!listening) await listen(port);
        return;
      }
      for (const pair of conns) {
        if (next === 'stall') { pair.client.pause(); pair.upstream?.pause(); continue; }
        pair.client.resetAndDestroy();
        pair.upstream?.destroy();
      }
      if (next === 'refuse' && listening) {
        listening = false;
        await new Promise((resolve) => server.close(() => resolve()));
      } else if (next !== 'refuse' && !listening) {
        await listen(port);
      }
    },
    /** Connections currently open through the proxy. */
    get open() { return conns.size; },
    async stop() {
      for (const pair of conns) { pair.client.destroy(); pair.upstream?.destroy(); }
      if (listening) await new Promise((resolve) => server.close(() => resolve()));
      listening = false;
    },
  };
  return proxy;
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}
