#!/usr/bin/env node
// Broadcast at scale: N authenticated WebSocket clients (spread over several Node processes) are
// connected to the real server; an administrator emits `song:update` and the time from that emit
// until every client has its `song:updated` is measured, ROUNDS times. The same clients then do
// the same against a minimal reference server on the official Node `socket.io` package that
// broadcasts the same payload (the song view ChillFi sends) to the same room. Prints p50/p99/max
// of "all delivered", missing deliveries, and the ratio ChillFi/reference (p50 and p99).
//
//   node bench/broadcast.mjs                    # 500 and 2000 clients, 20 rounds, 4 client processes
//   CLIENTS=2000 ROUNDS=50 WORKERS=6 node bench/broadcast.mjs
//
// Needs: a release build (TEST_CHILLFI_BIN, default $CARGO_TARGET_DIR/release/chillfi), ffmpeg,
// and `npm ci` in bench/ (socket.io + socket.io-client).
// Goals (issue #11): 2000 sockets p99 < 100 ms, 0 missing, ratio <= 1.0.
//
// Open files: every client is one socket in a worker and one in the server. Both servers are
// started through `ulimit -n $NOFILE` (default 65536, capped at the hard limit); the packaged
// unit sets LimitNOFILE=65536 for the same reason (systemd/chillfi.service).
import { execFileSync, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const self = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(self), '..');
// Wall clock with sub-millisecond resolution, comparable between processes on one machine.
const now = () => performance.timeOrigin + performance.now();
const role = process.argv[2] ?? 'main';

if (role === 'worker') await worker();
else if (role === 'reference') await reference(Number(process.argv[3]), process.argv[4]);
else await main();

// ---------------------------------------------------------------------------------------------
// A client process: opens its share of the sockets and reports deliveries per round.
async function worker() {
  const { io } = await import('socket.io-client');
  let sockets = [];
  let expected = null; // title of the round being measured
  let round = -1;
  let count = 0;
  let last = 0;
  let reported = false;
  const report = () => {
    process.send({ type: 'delivered', round, count, last });
  };
  const onUpdated = (payload) => {
    if (payload?.song?.title !== expected) return;
    count += 1;
    last = now();
    if (count === sockets.length && !reported) {
      reported = true;
      report();
    }
  };
  process.on('message', async (msg) => {
    if (msg.type === 'connect') {
      const opened = [];
      // Batches keep the handshake storm from timing out on a small machine.
      for (let i = 0; i < msg.count; i += 50) {
        const batch = [];
        for (let j = i; j < Math.min(msg.count, i + 50); j++) {
          const socket = io(msg.url, {
            transports: ['websocket'], forceNew: true, reconnection: false,
            auth: { token: msg.token }, timeout: 60000,
          });
          socket.on('song:updated', onUpdated);
          opened.push(socket);
          batch.push(new Promise((resolve, reject) => {
            socket.once('auth:session', (s) => (s?.user ? resolve() : reject(new Error(`not signed in: ${JSON.stringify(s)}`))));
            socket.once('connect_error', reject);
          }));
        }
        await Promise.all(batch);
      }
      sockets = opened;
      process.send({ type: 'connected' });
    } else if (msg.type === 'arm') {
      expected = msg.title;
      round = msg.round;
      count = 0;
      last = 0;
      reported = false;
      process.send({ type: 'armed' });
    } else if (msg.type === 'report') {
      if (!reported) {
        reported = true;
        report();
      }
    } else if (msg.type === 'close') {
      for (const s of sockets) s.close();
      sockets = [];
      process.send({ type: 'closed' });
    } else if (msg.type === 'exit') {
      process.exit(0);
    }
  });
  process.send({ type: 'up' });
}

// ---------------------------------------------------------------------------------------------
// The reference: the official socket.io server doing what ChillFi does for this event.
async function reference(port, templateFile) {
  const { Server } = await import('socket.io');
  const { token, song } = JSON.parse(fs.readFileSync(templateFile, 'utf8'));
  const ioServer = new Server(port, { transports: ['websocket'], serveClient: false });
  let version = 1;
  ioServer.use((socket, next) => {
    if (socket.handshake.auth?.token === token) next();
    else next(new Error('invalid_token'));
  });
  ioServer.on('connection', (socket) => {
    socket.join('library');
    socket.on('song:update', (req, ack) => {
      const updated = { ...song, ...req.metadata, updatedAt: Math.floor(Date.now() / 1000) };
      version += 1;
      ioServer.to('library').emit('song:updated', { song: updated, version });
      if (typeof ack === 'function') ack({ ok: true, data: { song: updated } });
    });
    socket.emit('auth:session', { user: { id: 'bench' }, reason: null });
  });
  console.error(`reference listening on ${port}`);
}

// ---------------------------------------------------------------------------------------------
async function main() {
  const { io } = await import('socket.io-client');
  const CLIENTS = (process.env.CLIENTS ?? '500,2000').split(',').map(Number);
  const ROUNDS = Number(process.env.ROUNDS ?? 20);
  const WORKERS = Number(process.env.WORKERS ?? 4);
  const TIMEOUT_MS = Number(process.env.ROUND_TIMEOUT_MS ?? 5000);
  const BIN = process.env.TEST_CHILLFI_BIN
    ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'chillfi');
  const hard = Number(execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || 65536;
  const NOFILE = Math.min(Number(process.env.NOFILE ?? 65536), hard);
  const needed = Math.max(...CLIENTS) + 200;
  if (NOFILE < needed) throw new Error(`open-file hard limit ${hard} < ${needed}: raise it (ulimit -Hn) first`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-bcast-'));
  const children = [];
  const freePort = () => new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
  // Starts CMD ARGS with the open-file limit raised.
  const withNofile = (cmd, args, opts) => {
    const child = spawn('bash', ['-c', `ulimit -n ${NOFILE} && exec "$0" "$@"`, cmd, ...args], opts);
    children.push(child);
    return child;
  };
  const waitPort = async (port) => {
    for (let i = 0; i < 2000; i++) {
      const ok = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`nothing listens on ${port}`);
  };
  const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

  try {
    const cli = (...args) => execFileSync(BIN, ['--data-dir', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    fs.writeFileSync(path.join(dir, 'pw'), 'bench-pass-1\n');
    cli('user', 'add', 'bench', '--admin', '--password-file', path.join(dir, 'pw'));
    const mp3 = path.join(dir, 'seed.mp3');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=2', '-c:a', 'libmp3lame', mp3]);
    cli('seed-library', '1', '--mp3', mp3);

    const port = await freePort();
    const server = withNofile(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, CHILLFI_LOG__LEVEL: 'warn', CHILLFI_PLUGINS__ENABLED: 'false' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const chillfiUrl = `http://127.0.0.1:${port}`;
    await waitPort(port);
    const admin = io(chillfiUrl, { transports: ['websocket'], forceNew: true });
    await new Promise((r) => admin.once('auth:session', r));
    const login = await admin.emitWithAck('auth:login', { username: 'bench', password: 'bench-pass-1' });
    if (!login.ok) throw new Error(`login: ${JSON.stringify(login.error)}`);
    const token = login.data.token;
    const list = await admin.emitWithAck('song:list', { limit: 1 });
    const song = list.data.items[0];

    const templateFile = path.join(dir, 'template.json');
    fs.writeFileSync(templateFile, JSON.stringify({ token, song }));
    const refPort = await freePort();
    withNofile(process.execPath, [self, 'reference', String(refPort), templateFile], { stdio: ['ignore', 'ignore', 'inherit'] });
    const refUrl = `http://127.0.0.1:${refPort}`;
    await waitPort(refPort);
    const refAdmin = io(refUrl, { transports: ['websocket'], forceNew: true, auth: { token } });
    await new Promise((r) => refAdmin.once('auth:session', r));

    // Client processes, each with a message queue per type.
    const workers = [];
    for (let w = 0; w < WORKERS; w++) {
      const child = fork(self, ['worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      const waiting = new Map();
      const queued = new Map();
      child.on('message', (m) => {
        const list = waiting.get(m.type);
        if (list?.length) list.shift()(m);
        else queued.set(m.type, [...(queued.get(m.type) ?? []), m]);
      });
      const next = (type) => new Promise((resolve) => {
        const q = queued.get(type);
        if (q?.length) resolve(q.shift());
        else waiting.set(type, [...(waiting.get(type) ?? []), resolve]);
      });
      workers.push({ child, next });
    }
    await Promise.all(workers.map((w) => w.next('up')));

    async function run(label, url, emitter, n) {
      const share = workers.map((_, i) => Math.floor(n / WORKERS) + (i < n % WORKERS ? 1 : 0));
      const t = Date.now();
      workers.forEach((w, i) => w.child.send({ type: 'connect', url, token, count: share[i] }));
      await Promise.all(workers.map((w) => w.next('connected')));
      const connectSecs = (Date.now() - t) / 1000;
      const all = [];
      const acks = [];
      let missing = 0;
      for (let r = 0; r < ROUNDS + 2; r++) {
        const title = `${label} ${n} round ${r} ${Math.random().toString(36).slice(2, 8)}`;
        workers.forEach((w) => w.child.send({ type: 'arm', round: r, title }));
        await Promise.all(workers.map((w) => w.next('armed')));
        const delivered = Promise.all(workers.map((w) => w.next('delivered')));
        let timer;
        const late = new Promise((resolve) => {
          timer = setTimeout(() => {
            workers.forEach((w) => w.child.send({ type: 'report' }));
            resolve();
          }, TIMEOUT_MS);
        });
        const t0 = now();
        const ack = await emitter.emitWithAck('song:update', { songId: song.id, metadata: { title } });
        const tAck = now() - t0;
        if (!ack.ok) throw new Error(`song:update: ${JSON.stringify(ack.error)}`);
        const reports = await Promise.race([delivered, late.then(() => delivered)]);
        clearTimeout(timer);
        // The first two rounds warm both sides up and are not counted.
        if (r < 2) continue;
        const got = reports.reduce((a, m) => a + m.count, 0);
        missing += n - got;
        all.push(Math.max(...reports.map((m) => m.last)) - t0);
        acks.push(tAck);
      }
      workers.forEach((w) => w.child.send({ type: 'close' }));
      await Promise.all(workers.map((w) => w.next('closed')));
      const s = [...all].sort((a, b) => a - b);
      const a = [...acks].sort((x, y) => x - y);
      const res = { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1], missing, ack: quantile(a, 0.5), connectSecs };
      console.log(`  ${label.padEnd(9)} ${String(n).padStart(5)} clients: all delivered p50 ${res.p50.toFixed(1).padStart(6)} ms  p99 ${res.p99.toFixed(1).padStart(6)} ms  max ${res.max.toFixed(1).padStart(6)} ms  missing ${missing}  (ack p50 ${res.ack.toFixed(1)} ms, connect ${connectSecs.toFixed(1)} s)`);
      // Let the server drop the closed sockets before the next run.
      await new Promise((r) => setTimeout(r, 500));
      return res;
    }

    console.log(`broadcast bench: ${ROUNDS} rounds (+2 warm-up), ${WORKERS} client processes, open-file limit ${NOFILE}, ${os.cpus().length} cores`);
    for (const n of CLIENTS) {
      const mine = await run('chillfi', chillfiUrl, admin, n);
      const ref = await run('socket.io', refUrl, refAdmin, n);
      const r50 = mine.p50 / ref.p50;
      const r99 = mine.p99 / ref.p99;
      const goal = n >= 2000
        ? `   goals (2000): p99 < 100 ms ${mine.p99 < 100 ? 'ok' : 'MISSED'}, 0 missing ${mine.missing === 0 ? 'ok' : 'MISSED'}, ratio <= 1.0 ${r99 <= 1.0 ? 'ok' : 'MISSED'}`
        : '';
      console.log(`  ratio chillfi/socket.io at ${n}: p50 ${r50.toFixed(2)}  p99 ${r99.toFixed(2)}${goal}`);
    }
    console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    admin.close();
    refAdmin.close();
    workers.forEach((w) => w.child.send({ type: 'exit' }));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
