#!/usr/bin/env node
// WebSocket flood benchmark (issue 13, item 3): 16 anonymous sockets (no token, no namespace
// joined) each send one big text message (8, 30 and 60 MiB rounds, in 4 MiB frames) at the real
// server, and the server's resident memory is sampled every 20 ms until every socket is closed or
// answered. Prints per round the RSS before, the peak, the growth, and the growth per socket.
//
//   node bench/ws_flood.mjs
//   SENDERS=32 MESSAGE_MIB=60 node bench/ws_flood.mjs     # one round
//
// Needs: a build of chillfi (TEST_CHILLFI_BIN, default $CARGO_TARGET_DIR/release/chillfi) and
// `npm ci` in core/server/tests/socket (for ws). Target: growth < 64 MB for 16 senders.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(repo, 'core/server/tests/socket/package.json'));
const WebSocket = require('ws');

const SENDERS = Number(process.env.SENDERS ?? 16);
const ROUNDS = (process.env.MESSAGE_MIB ?? '8,30,60').split(',').map(Number);
const TARGET_MB = 64;
const BIN = process.env.TEST_CHILLFI_BIN
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'chillfi');

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

const rss = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
};
const mb = (bytes) => (bytes / 1e6).toFixed(1);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-wsflood-'));
const port = await freePort();
const server = spawn(BIN, ['--data-dir', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
  env: { ...process.env, CHILLFI_LOG__LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  for (let ready = false; !ready;) {
    try { ready = (await fetch(`http://127.0.0.1:${port}/api/health`)).ok; } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  // Growth is counted from the fresh server's RSS (memory a round leaves behind counts).
  const before = rss(server.pid);
  for (const MESSAGE_MIB of ROUNDS) {
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, rss(server.pid)); }, 20);
    // One message: a namespace CONNECT whose auth payload is MESSAGE_MIB of text, sent in 4 MiB
    // frames (one 60 MiB frame is refused by the frame limit alone; fragments are not).
    const FRAME = 4 * 1024 * 1024;
    const filler = Buffer.alloc(FRAME, 'x');
    const frames = Math.ceil((MESSAGE_MIB * 1024 * 1024) / FRAME);
    const sendMessage = (ws) => {
      ws.send('40{"token":"', { fin: false });
      for (let i = 0; i < frames; i++) ws.send(filler, { binary: false, fin: false });
      ws.send('"}', { binary: false, fin: true });
    };
    const outcomes = await Promise.all(Array.from({ length: SENDERS }, () => new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
      const timer = setTimeout(() => { ws.terminate(); resolve('no answer in 60 s'); }, 60000);
      const done = (what) => { clearTimeout(timer); ws.terminate(); resolve(what); };
      ws.on('open', () => sendMessage(ws));
      ws.on('message', (d) => { const s = d.toString(); if (s.startsWith('4')) done('answered'); });
      ws.on('close', (code) => done(`closed ${code}`));
      ws.on('error', () => done('error'));
    })));
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(sampler);
    const counts = outcomes.reduce((m, o) => ({ ...m, [o]: (m[o] ?? 0) + 1 }), {});
    const growth = peak - before;
    console.log(`${SENDERS} anonymous senders x ${MESSAGE_MIB} MiB: ${JSON.stringify(counts)}`);
    console.log(`RSS before ${mb(before)} MB, peak ${mb(peak)} MB, growth ${mb(growth)} MB (${mb(growth / SENDERS)} MB per socket)`);
    console.log(`growth / target (${TARGET_MB} MB): ${(growth / (TARGET_MB * 1e6)).toFixed(2)} ${growth < TARGET_MB * 1e6 ? 'ok' : 'MISSED'}`);
  }
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
}
