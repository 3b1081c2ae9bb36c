#!/usr/bin/env node
// Library benchmark: seeds N synthetic songs (one shared real MP3 made by ffmpeg), starts the
// real server, and measures with the official socket.io-client the p50/p99 latency of
// song:list (page 1 and a deep page), search and song:play, plus RSS and cold start to ready.
//
//   node bench/library.mjs            # 100 000 songs, 500 requests per measurement
//   SONGS=20000 RUNS=200 node bench/library.mjs
//
// Needs: a release build (TEST_CHILLFI_BIN, default $CARGO_TARGET_DIR/release/chillfi), ffmpeg,
// and `npm ci` in core/server/tests/socket (for socket.io-client).
// Targets (issue #4): p99 < 10 ms for list and search, RSS < 150 MB, ready < 1 s.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(repo, 'core/server/tests/socket/package.json'));
const { io } = require('socket.io-client');

const SONGS = Number(process.env.SONGS ?? 100000);
const RUNS = Number(process.env.RUNS ?? 500);
const BIN = process.env.TEST_CHILLFI_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'chillfi');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-bench-'));
const cli = (...args) => execFileSync(BIN, ['--data-dir', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

function quantiles(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99) };
}

async function measure(socket, name, event, payload, target) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const p = typeof payload === 'function' ? payload(i) : payload;
    const t0 = process.hrtime.bigint();
    const res = await socket.emitWithAck(event, p);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
  }
  const { p50, p99 } = quantiles(times);
  const verdict = target ? (p99 < target ? 'ok' : 'MISSED') : '';
  console.log(`${name.padEnd(34)} p50 ${p50.toFixed(2).padStart(7)} ms   p99 ${p99.toFixed(2).padStart(7)} ms   ${target ? `target p99 < ${target} ms: ${verdict}` : ''}`);
}

try {
  fs.writeFileSync(path.join(dir, 'pw'), 'bench-pass-1\n');
  cli('user', 'add', 'bench', '--admin', '--password-file', path.join(dir, 'pw'));
  const mp3 = path.join(dir, 'seed.mp3');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=5', '-c:a', 'libmp3lame', '-b:a', '128k', mp3]);
  const seedStart = Date.now();
  cli('seed-library', String(SONGS), '--mp3', mp3);
  console.log(`seeded ${SONGS} songs in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  // The first start follows the seeding (its files still being written back); a restart is what
  // a NAS reboot or upgrade looks like. Both are printed; the target applies to the restart.
  async function start() {
    const port = await freePort();
    const t0 = Date.now();
    const proc = spawn(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, CHILLFI_LOG__LEVEL: 'warn' }, stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      try { if ((await fetch(`${url}/api/health`)).ok) break; } catch {}
      await new Promise((r) => setTimeout(r, 5));
    }
    return { proc, url, ready: Date.now() - t0 };
  }
  async function stop(proc) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  const first = await start();
  console.log(`first start after seeding:         ${first.ready} ms`);
  await stop(first.proc);
  const restarts = [];
  let proc, url;
  for (let i = 0; i < 3; i++) {
    const again = await start();
    restarts.push(again.ready);
    if (i < 2) await stop(again.proc);
    else ({ proc, url } = again);
  }
  const ready = restarts.sort((a, b) => a - b)[1];
  console.log(`restart to /api/health (median/3): ${ready} ms   target < 1000 ms: ${ready < 1000 ? 'ok' : 'MISSED'}`);

  const socket = io(url, { transports: ['websocket'], forceNew: true });
  await new Promise((r) => socket.once('auth:session', r));
  const login = await socket.emitWithAck('auth:login', { username: 'bench', password: 'bench-pass-1' });
  if (!login.ok) throw new Error('login failed');
  const page1 = await socket.emitWithAck('song:list', { limit: 50 });
  if (page1.data.total !== SONGS) throw new Error(`expected ${SONGS} songs, got ${page1.data.total}`);

  await measure(socket, 'song:list page 1 (newest)', 'song:list', { limit: 50 }, 10);
  await measure(socket, 'song:list page 1 by title', 'song:list', { sort: 'title', limit: 50 }, 10);
  const deep = Math.max(1, Math.floor(SONGS / 50 / 2));
  await measure(socket, `song:list deep page ${deep}`, 'song:list', { sort: 'artist', page: deep, limit: 50 }, 10);
  const words = ['love', 'night river', 'cafe', 'GHOST', 'summer 42'];
  await measure(socket, 'search (1-2 words, accent-free)', 'song:list', (i) => ({ filters: { search: words[i % words.length] }, limit: 50 }), 10);
  const ids = page1.data.items.map((s) => s.id);
  await measure(socket, 'song:play', 'song:play', (i) => ({ songId: ids[i % ids.length] }));

  const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]) / 1024;
  console.log(`server RSS after the runs:         ${rss.toFixed(0)} MB   target < 150 MB: ${rss < 150 ? 'ok' : 'MISSED'}`);
  socket.close();
  proc.kill('SIGTERM');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
