#!/usr/bin/env node
// Subsonic API benchmark: seeds N synthetic songs, starts the real server and measures over
// HTTP (Node's fetch, one connection at a time):
//   - a Symfonium-style full sync: search3 with an empty query, songCount=500, paging through
//     the whole library (total time and per-page p50/p99; goal: whole sync < 5 s, p99 < 50 ms);
//   - getCoverArt size=300 once cached (p50/p99; goal p99 < 5 ms).
//
//   node bench/subsonic.mjs                 # 100 000 songs
//   SONGS=20000 RUNS=200 node bench/subsonic.mjs
//
// Needs a release build (TEST_CHILLFI_BIN, default $CARGO_TARGET_DIR/release/chillfi) and ffmpeg.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SONGS = Number(process.env.SONGS ?? 100000);
const RUNS = Number(process.env.RUNS ?? 500);
const PAGE = 500;
const BIN = process.env.TEST_CHILLFI_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'chillfi');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-subsonic-bench-'));
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

const verdict = (value, target) => (value < target ? 'ok' : 'MISSED');
let proc;
try {
  fs.writeFileSync(path.join(dir, 'pw'), 'bench-pass-1\n');
  cli('user', 'add', 'bench', '--admin', '--password-file', path.join(dir, 'pw'));
  const mp3 = path.join(dir, 'seed.mp3');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=5', '-c:a', 'libmp3lame', '-b:a', '128k', mp3]);
  const t0 = Date.now();
  cli('seed-library', String(SONGS), '--mp3', mp3);
  console.log(`seeded ${SONGS} songs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const apiKey = cli('user', 'key', 'bench', '--label', 'bench').trim().split('\n').at(-1).trim();

  // A 1200x1200 cover in the blob store under its content name, as the pipeline stores one.
  const png = path.join(dir, 'cover.png');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=1200x1200', '-frames:v', '1', png]);
  const bytes = fs.readFileSync(png);
  const art = `${crypto.createHash('sha256').update(bytes).digest('hex')}.png`;
  fs.mkdirSync(path.join(dir, 'blobs', 'art'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'art', art), bytes);

  const port = await freePort();
  proc = spawn(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, CHILLFI_LOG__LEVEL: 'warn' }, stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try { if ((await fetch(`${url}/api/health`)).ok) break; } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  const rest = (method, params) => `${url}/rest/${method}?${new URLSearchParams({ apiKey, c: 'bench', v: '1.16.1', ...params })}`;

  // Warm-up: one page (the first sorted order is built on first use).
  await (await fetch(rest('search3', { query: '', f: 'json', songCount: '1', artistCount: '0', albumCount: '0' }))).json();

  const pages = [];
  const seen = new Set();
  const syncStart = process.hrtime.bigint();
  for (let offset = 0; ; offset += PAGE) {
    const p0 = process.hrtime.bigint();
    const res = await fetch(rest('search3', {
      query: '', f: 'json', songCount: String(PAGE), songOffset: String(offset), artistCount: '0', albumCount: '0',
    }));
    const body = await res.json();
    pages.push(Number(process.hrtime.bigint() - p0) / 1e6);
    const songs = body['subsonic-response'].searchResult3.song ?? [];
    for (const s of songs) seen.add(s.id);
    if (songs.length < PAGE) break;
  }
  const total = Number(process.hrtime.bigint() - syncStart) / 1e9;
  if (seen.size !== SONGS) throw new Error(`the sync saw ${seen.size} songs, not ${SONGS}`);
  const pq = quantiles(pages);
  console.log(`search3 full sync (${pages.length} pages of ${PAGE}, JSON)   total ${total.toFixed(2)} s   target < 5 s: ${verdict(total, 5)}`);
  console.log(`search3 page                         p50 ${pq.p50.toFixed(2).padStart(7)} ms   p99 ${pq.p99.toFixed(2).padStart(7)} ms   target p99 < 50 ms: ${verdict(pq.p99, 50)}`);

  const first = await fetch(rest('getCoverArt', { id: art, size: '300' }));
  if (!first.ok || first.headers.get('content-type') !== 'image/jpeg') throw new Error(`getCoverArt: ${first.status}`);
  await first.arrayBuffer();
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.hrtime.bigint();
    const r = await fetch(rest('getCoverArt', { id: art, size: '300' }));
    await r.arrayBuffer();
    times.push(Number(process.hrtime.bigint() - c0) / 1e6);
  }
  const cq = quantiles(times);
  console.log(`getCoverArt size=300 (cached)        p50 ${cq.p50.toFixed(2).padStart(7)} ms   p99 ${cq.p99.toFixed(2).padStart(7)} ms   target p99 < 5 ms: ${verdict(cq.p99, 5)}`);
} finally {
  if (proc) proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  fs.rmSync(dir, { recursive: true, force: true });
}
