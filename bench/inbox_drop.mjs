#!/usr/bin/env node
// Section 4 of bench/pipeline.sh: the inbox of a running server against the ffmpeg CLI.
//
//   node bench/inbox_drop.mjs BIN FLAC_DIR PROBE_MP3 RUNS
//   node bench/inbox_drop.mjs --stages BIN DIR   # only the time per ingest stage, DIR's files
//
// Each run: a fresh data dir and server (plugins off), one signed-in socket listening for
// `song:added`; every FLAC in FLAC_DIR is dropped into the inbox with one `cp`; wall time from
// the start of the copy until all are songs. Then PROBE_MP3 is copied in: time from the end of
// that copy until it is a song (remuxed, so this bounds how soon a closed file is taken). The
// CLI converts the same FLACs to MP3 320k CBR (the server's conversion) two at a time.
// Prints best-of-RUNS figures and the ratio.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';

const stagesOnly = process.argv[2] === '--stages';
const [BIN, FLAC_DIR, PROBE, RUNS = '3'] = process.argv.slice(stagesOnly ? 3 : 2);
const flacs = fs.readdirSync(FLAC_DIR).filter((n) => (stagesOnly ? /\.(mp3|flac)$/.test(n) : n.endsWith('.flac'))).sort().map((n) => path.join(FLAC_DIR, n));
const now = () => performance.now();

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});
const run = (cmd, args) => new Promise((resolve, reject) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
});

async function serverRun({ stages = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-drop-'));
  let proc;
  try {
    fs.writeFileSync(path.join(dir, 'pw'), 'bench-pass-1\n');
    execFileSync(BIN, ['--data-dir', dir, 'user', 'add', 'bench', '--admin', '--password-file', path.join(dir, 'pw')], { stdio: 'ignore' });
    const port = await freePort();
    // The pipeline's stage timings (debug log) tell how much of the probe's time was the
    // ingest itself; the rest is the pick-up.
    proc = spawn(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: {
        ...process.env, CHILLFI_LOG__LEVEL: 'warn,chillfi::ingest::timing=debug', CHILLFI_LOG__FORMAT: 'json', CHILLFI_PLUGINS__ENABLED: 'false',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    proc.stderr.on('data', (d) => { log += d; });
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      try { if ((await fetch(`${url}/api/health`)).ok) break; } catch {}
      await new Promise((r) => setTimeout(r, 20));
    }
    const socket = io(url, { transports: ['websocket'], forceNew: true });
    await new Promise((r) => socket.once('auth:session', r));
    const login = await socket.emitWithAck('auth:login', { username: 'bench', password: 'bench-pass-1' });
    if (!login.ok) throw new Error('login failed');
    const added = [];
    let wake = null;
    socket.on('song:added', () => { added.push(now()); wake?.(); });
    const until = async (n) => { while (added.length < n) await new Promise((r) => { wake = r; }); };
    const inbox = path.join(dir, 'inbox');

    if (stages) {
      // One file at a time, each a song before the next: the pipeline's cost per file, alone.
      for (const [i, f] of flacs.entries()) {
        await run('cp', [f, inbox]);
        await until(i + 1);
      }
      socket.close();
      const sums = new Map();
      let n = 0;
      for (const l of log.split('\n').filter((x) => x.includes('ingest::timing'))) {
        n += 1;
        for (const m of l.matchAll(/([a-z_]+)=([0-9.]+)/g)) sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[2]));
      }
      return { sums, n };
    }
    const t0 = now();
    await run('cp', [...flacs, inbox]);
    const copied = now();
    await until(flacs.length);
    const allSongs = now();

    await run('cp', [PROBE, inbox]);
    const probeCopied = now();
    await until(flacs.length + 1);
    const probeSong = added[flacs.length];
    socket.close();
    const probeLine = log.split('\n').filter((l) => l.includes('ingest::timing') && l.includes(path.basename(PROBE))).pop() ?? '';
    const ingestMs = [...probeLine.matchAll(/[a-z_]+=([0-9.]+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    return { wall: (allSongs - t0) / 1000, copy: (copied - t0) / 1000, toSong: probeSong - probeCopied, pickup: probeSong - probeCopied - ingestMs, ingestMs };
  } finally {
    if (proc) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function cliRun() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-cli-'));
  try {
    const queue = [...flacs];
    const t0 = now();
    const lane = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', f, '-map', '0:a', '-c:a', 'libmp3lame', '-b:a', '320k', path.join(out, `${path.basename(f)}.mp3`)]);
      }
    };
    await Promise.all([lane(), lane()]);
    return (now() - t0) / 1000;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

if (stagesOnly) {
  const { sums, n } = await serverRun({ stages: true });
  let total = 0;
  for (const [stage, ms] of sums) {
    total += ms / n;
    console.log(`    ${stage.padEnd(18)} ${(ms / n).toFixed(2).padStart(7)} ms`);
  }
  console.log(`    ${'total'.padEnd(18)} ${total.toFixed(2).padStart(7)} ms   (mean of ${n} files)`);
  process.exit(0);
}

let best = null;
let pickup = Infinity;
let probe = null;
let cli = Infinity;
for (let i = 0; i < Number(RUNS); i++) {
  const r = await serverRun();
  if (!best || r.wall < best.wall) best = r;
  if (r.pickup < pickup) probe = r;
  pickup = Math.min(pickup, r.pickup);
  cli = Math.min(cli, await cliRun());
}
const ratio = best.wall / cli;
const line = (s) => console.log(`  ${s}`);
line(`inbox, ${flacs.length} FLACs dropped with cp : wall ${best.wall.toFixed(2)}s until all are songs (the copy itself: ${best.copy.toFixed(2)}s)`);
line(`ffmpeg CLI, two at a time       : wall ${cli.toFixed(2)}s`);
line(`ratio inbox/CLI: wall ${ratio.toFixed(2)}   (target <= 1.0) ${ratio <= 1.0 ? 'ok' : 'MISSED'}`);
line(`closed MP3 copied in -> song     : ${probe.toSong.toFixed(0)} ms, of which the ingest itself ${probe.ingestMs.toFixed(0)} ms`);
line(`pick-up (copy end -> ingest start, and song:added on the wire): ${pickup.toFixed(0)} ms   (target < 100 ms) ${pickup < 100 ? 'ok' : 'MISSED'}`);
