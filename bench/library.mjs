#!/usr/bin/env node
// Library benchmark: seeds synthetic songs (one shared real MP3 made by ffmpeg), starts the real
// server, and measures with the official socket.io-client the p50/p99 latency of song:list
// (page 1 and a deep page), search and song:play, plus memory, start-up time and what idle inbox
// rescans read. Runs each library size in SONGS and prints how every figure grows.
//
//   node bench/library.mjs                        # 100 000 then 1 000 000 songs, 500 requests each
//   SONGS=100000 RUNS=200 node bench/library.mjs  # one size, fewer requests
//   LIBRARY_DIR=/var/tmp/chillfi-libs node bench/library.mjs
//                      # keeps each size's data dir there (LIBRARY_DIR/<songs>) between runs:
//                      # seeded on the first, reused (never deleted) after
//
// Needs: a release build (TEST_CHILLFI_BIN, default $CARGO_TARGET_DIR/release/chillfi), ffmpeg,
// and `npm ci` in bench/ (or core/server/tests/socket) for socket.io-client. About 1.5 GB of
// disk per million songs (sled), in $TMPDIR.
// Targets: at 100 000 songs (issue #4 and #16): p99 < 10 ms for list and search, RSS < 150 MB,
// restart < 1 s, peak RSS while the index loads < 150 MB. At 1 000 000 (issue #11): RSS at ready
// < 600 MB, list/search p99 < 20 ms, start to /api/health < 4 s, idle inbox rescans read no
// song records.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const requireFrom = (dir) => createRequire(path.join(repo, dir, 'package.json'));
let io;
try {
  ({ io } = requireFrom('bench')('socket.io-client'));
} catch {
  ({ io } = requireFrom('core/server/tests/socket')('socket.io-client'));
}

const SIZES = (process.env.SONGS ?? '100000,1000000').split(',').map(Number);
const RUNS = Number(process.env.RUNS ?? 500);
const BIN = process.env.TEST_CHILLFI_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'chillfi');

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

const statusKb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const ioOf = (pid) => Object.fromEntries(fs.readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 10 ms ticks
};
const verdict = (ok) => (ok ? 'ok' : 'MISSED');

async function measure(socket, name, event, payload, target, into) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const p = typeof payload === 'function' ? payload(i) : payload;
    const t0 = process.hrtime.bigint();
    const res = await socket.emitWithAck(event, p);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
  }
  const { p50, p99 } = quantiles(times);
  into[`${name} p99 (ms)`] = p99;
  const goal = target ? `target p99 < ${target} ms: ${verdict(p99 < target)}` : '';
  console.log(`  ${name.padEnd(34)} p50 ${p50.toFixed(2).padStart(7)} ms   p99 ${p99.toFixed(2).padStart(7)} ms   ${goal}`);
}

/** One library size: seeds it, starts the server, measures. Returns the figures by name. */
async function bench(SONGS) {
  const big = SONGS >= 1000000;
  const fig = {};
  const kept = process.env.LIBRARY_DIR && path.join(process.env.LIBRARY_DIR, String(SONGS));
  const dir = kept || fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-bench-'));
  const cli = (...args) => execFileSync(BIN, ['--data-dir', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(`\n== ${SONGS} songs ==`);
  let proc;
  try {
    const seeded = kept && fs.existsSync(path.join(dir, 'seeded'));
    const seedStart = Date.now();
    if (!seeded) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'pw'), 'bench-pass-1\n');
      cli('user', 'add', 'bench', '--admin', '--password-file', path.join(dir, 'pw'));
      const mp3 = path.join(dir, 'seed.mp3');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=5', '-c:a', 'libmp3lame', '-b:a', '128k', mp3]);
      cli('seed-library', String(SONGS), '--mp3', mp3);
      fs.writeFileSync(path.join(dir, 'seeded'), `${SONGS}\n`);
    }
    fig['seeding (s)'] = (Date.now() - seedStart) / 1000;
    const du = Number(execFileSync('du', ['-sk', path.join(dir, 'db')], { encoding: 'utf8' }).split('\t')[0]) / 1024;
    fig['database on disk (MB)'] = du;
    console.log(`  ${seeded ? `reused ${dir}` : `seeded in ${fig['seeding (s)'].toFixed(1)} s`}, database ${du.toFixed(0)} MB`);

    // The first start follows the seeding (its files still being written back); a restart is
    // what a NAS reboot or upgrade looks like. Both are printed; the target applies to the
    // restart. Rescans every second, to see what an idle rescan reads.
    async function start() {
      const port = await freePort();
      const t0 = Date.now();
      const child = spawn(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
        env: { ...process.env, CHILLFI_LOG__LEVEL: 'warn', CHILLFI_INGEST__INBOX_RESCAN_SECS: '1' }, stdio: 'ignore',
      });
      const url = `http://127.0.0.1:${port}`;
      for (;;) {
        try { if ((await fetch(`${url}/api/health`)).ok) break; } catch {}
        if (child.exitCode !== null) throw new Error(`chillfi exited with ${child.exitCode}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const ready = Date.now() - t0;
      return { proc: child, url, ready, peak: statusKb(child.pid, 'VmHWM') / 1024, rss: statusKb(child.pid, 'VmRSS') / 1024 };
    }
    async function stop(child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    const first = await start();
    console.log(`  first start after seeding:         ${first.ready} ms`);
    await stop(first.proc);
    const starts = [];
    let url;
    for (let i = 0; i < 3; i++) {
      const again = await start();
      starts.push(again);
      if (i < 2) await stop(again.proc);
      else ({ proc, url } = again);
    }
    const median = (key) => starts.map((s) => s[key]).sort((a, b) => a - b)[1];
    fig['start to /api/health (ms)'] = median('ready');
    fig['peak RSS while loading (MB)'] = median('peak');
    fig['RSS at ready (MB)'] = median('rss');
    const readyGoal = big ? 4000 : 1000;
    console.log(`  restart to /api/health (median/3): ${fig['start to /api/health (ms)']} ms   target < ${readyGoal} ms: ${verdict(fig['start to /api/health (ms)'] < readyGoal)}`);
    console.log(`  peak RSS while the index loads:    ${fig['peak RSS while loading (MB)'].toFixed(0)} MB${big ? '' : `   target < 150 MB: ${verdict(fig['peak RSS while loading (MB)'] < 150)}`}`);
    console.log(`  RSS at ready:                      ${fig['RSS at ready (MB)'].toFixed(0)} MB${big ? `   target < 600 MB: ${verdict(fig['RSS at ready (MB)'] < 600)}` : ''}`);

    // Idle inbox rescans (one a second, nothing in the inbox): bytes the server reads. sled's
    // log flusher rewrites pages for a while after an open of a big database; the window starts
    // once a second goes by with less than 16 KB read (a song record re-read per rescan would be
    // far more: the library is hundreds of MB).
    const quietStart = Date.now();
    for (let last = ioOf(proc.pid).rchar; Date.now() - quietStart < 30000;) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = ioOf(proc.pid).rchar;
      if (now - last < 16 * 1024) break;
      last = now;
    }
    fig['wait for a quiet server (s)'] = (Date.now() - quietStart) / 1000;
    const io0 = ioOf(proc.pid);
    const cpu0 = cpuMs(proc.pid);
    await new Promise((r) => setTimeout(r, 5500));
    const io1 = ioOf(proc.pid);
    fig['read by 5 idle rescans (KB)'] = (io1.rchar - io0.rchar) / 1024;
    fig['CPU of 5 idle rescans (ms)'] = cpuMs(proc.pid) - cpu0;
    console.log(`  (sled settled ${fig['wait for a quiet server (s)'].toFixed(0)} s after ready)`);
    console.log(`  5 idle inbox rescans:              read ${fig['read by 5 idle rescans (KB)'].toFixed(1)} KB, cpu ${fig['CPU of 5 idle rescans (ms)']} ms   (song records re-read: ${verdict(fig['read by 5 idle rescans (KB)'] < 64)})`);

    const socket = io(url, { transports: ['websocket'], forceNew: true });
    await new Promise((r) => socket.once('auth:session', r));
    const login = await socket.emitWithAck('auth:login', { username: 'bench', password: 'bench-pass-1' });
    if (!login.ok) throw new Error('login failed');
    const page1 = await socket.emitWithAck('song:list', { limit: 50 });
    if (page1.data.total !== SONGS) throw new Error(`expected ${SONGS} songs, got ${page1.data.total}`);

    const target = big ? 20 : 10;
    await measure(socket, 'song:list page 1 (newest)', 'song:list', { limit: 50 }, target, fig);
    await measure(socket, 'song:list page 1 by title', 'song:list', { sort: 'title', limit: 50 }, target, fig);
    const deep = Math.max(1, Math.floor(SONGS / 50 / 2));
    await measure(socket, 'song:list deep page (by artist)', 'song:list', { sort: 'artist', page: deep, limit: 50 }, target, fig);
    const words = ['love', 'night river', 'cafe', 'GHOST', 'summer 42'];
    await measure(socket, 'search (1-2 words, accent-free)', 'song:list', (i) => ({ filters: { search: words[i % words.length] }, limit: 50 }), target, fig);
    const ids = page1.data.items.map((s) => s.id);
    await measure(socket, 'song:play', 'song:play', (i) => ({ songId: ids[i % ids.length] }), 0, fig);

    fig['RSS after the runs (MB)'] = statusKb(proc.pid, 'VmRSS') / 1024;
    console.log(`  server RSS after the runs:         ${fig['RSS after the runs (MB)'].toFixed(0)} MB${big ? '' : `   target < 150 MB: ${verdict(fig['RSS after the runs (MB)'] < 150)}`}`);
    socket.close();
    return fig;
  } finally {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    if (!kept) fs.rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const n of SIZES) results.push([n, await bench(n)]);
if (results.length > 1) {
  const [[n0, a], [n1, b]] = [results[0], results[results.length - 1]];
  console.log(`\n== growth from ${n0} to ${n1} songs (${(n1 / n0).toFixed(0)}x the songs) ==`);
  for (const key of Object.keys(a)) {
    const growth = a[key] > 0 ? `${(b[key] / a[key]).toFixed(2)}x` : '-';
    console.log(`  ${key.padEnd(38)} ${a[key].toFixed(1).padStart(9)} -> ${b[key].toFixed(1).padStart(9)}   ${growth}`);
  }
}
console.log(`\nload average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}  (cores: ${os.cpus().length})`);
