// Chaos: 200 small files dropped into the inbox while the server is killed with SIGKILL at
// random moments ten times (and restarted each time). Afterwards every file is exactly one song
// or one failed/ entry with its reason, nothing is duplicated, blobs and songs match one to one,
// no temp file is left, and health is ok. CHAOS_SEED=<n> replays a run (the seed is printed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, Server, login, ok, startServer, waitUntil } from './harness.mjs';

const GOOD = 190;
const BAD = 10;
const KILLS = 10;

/** A mono 16-bit 8 kHz WAV of `ms` milliseconds of a sine at `freq` Hz (no ffmpeg per file). */
function wav(freq, ms = 400) {
  const rate = 8000;
  const samples = Math.round((rate * ms) / 1000);
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + samples * 2, 4); buf.write('WAVE', 8);
  buf.write('fmt ', 12); buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write('data', 36); buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * freq * i) / rate) * 12000), 44 + i * 2);
  return buf;
}

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map((rel) => path.join(dir, rel)).filter((p) => fs.lstatSync(p).isFile());
}

async function allSongs(socket) {
  const songs = [];
  for (let page = 1; ; page++) {
    const res = await ok(socket, 'song:list', { page, limit: 500 });
    songs.push(...res.items);
    if (songs.length >= res.total || res.items.length === 0) return songs;
  }
}

describe('chaos', () => {
  it(`${GOOD + BAD} inbox files, ${KILLS} kill -9 at random moments: nothing lost, nothing doubled`, { timeout: 180000 }, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`chaos seed ${seed}`);
    const random = rng(seed);
    const env = { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1', CHILLFI_INGEST__WORKERS: '2', CHILLFI_LOG__LEVEL: 'info' };
    let server = await startServer({ env });
    const dataDir = server.dataDir;
    const inbox = path.join(dataDir, 'inbox');
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-chaos-'));
    const names = { good: [], bad: [] };
    const logs = [];
    try {
      // Files are written next to the inbox and renamed in, as a copy tool finishing would.
      for (let i = 0; i < GOOD; i++) {
        const name = `chaos-${String(i).padStart(3, '0')}.wav`;
        fs.writeFileSync(path.join(scratch, name), wav(120 + i * 9));
        names.good.push(name);
      }
      for (let i = 0; i < BAD; i++) {
        const name = `broken-${i}.mp3`;
        fs.writeFileSync(path.join(scratch, name), `not audio ${i}\n`.repeat(50));
        names.bad.push(name);
      }
      const order = [...names.good, ...names.bad].sort(() => random() - 0.5);
      // Drop them in three waves: before the first kill, between kills, and near the end.
      const waves = [order.slice(0, 80), order.slice(80, 160), order.slice(160)];
      const drop = (wave) => { for (const n of wave) fs.renameSync(path.join(scratch, n), path.join(inbox, n)); };

      drop(waves[0]);
      for (let k = 0; k < KILLS; k++) {
        if (k === 3) drop(waves[1]);
        if (k === 7) drop(waves[2]);
        await new Promise((r) => setTimeout(r, 150 + Math.floor(random() * 1600)));
        await server.stop('SIGKILL');
        logs.push(server.logs);
        server = await new Server({ dataDir, env }).start();
      }

      const pending = () => walk(inbox).filter((p) => !p.startsWith(path.join(inbox, 'failed') + path.sep));
      const { socket } = await login(server, ADMIN);
      await waitUntil(async () => pending().length === 0 && (await allSongs(socket)).length + walk(path.join(inbox, 'failed')).filter((p) => !p.endsWith('.error.txt')).length >= GOOD + BAD, 120000, 'every file settled');

      const songs = await allSongs(socket);
      const titles = songs.map((s) => s.title).sort();
      const expected = names.good.map((n) => n.replace(/\.wav$/, '')).sort();
      assert.equal(new Set(titles).size, titles.length, 'no song twice');
      assert.deepEqual(titles, expected, 'every good file is exactly one song');

      const failedDir = path.join(inbox, 'failed');
      const failed = fs.existsSync(failedDir) ? fs.readdirSync(failedDir) : [];
      assert.deepEqual(failed.filter((n) => !n.endsWith('.error.txt')).sort(), [...names.bad].sort(), 'every bad file is exactly one failed/ entry');
      for (const n of names.bad) {
        const reason = fs.readFileSync(path.join(failedDir, `${n}.error.txt`), 'utf8');
        assert.match(reason, /\w/, `${n} has its reason`);
      }
      assert.equal(failed.length, 2 * BAD, 'nothing else in failed/');

      const blobFiles = walk(path.join(dataDir, 'blobs'));
      assert.deepEqual(blobFiles.filter((p) => path.basename(p).startsWith('.~tmp')), [], 'no temp blob files');
      const songBlobs = blobFiles.filter((p) => p.includes(`${path.sep}songs${path.sep}`)).map((p) => path.basename(p, '.mp3')).sort();
      assert.deepEqual(songBlobs, songs.map((s) => s.hash).sort(), 'one blob per song, no blob without a song');
      const staged = walk(path.join(dataDir, 'staging')).filter((p) => p.endsWith('.mp3'));
      assert.deepEqual(staged, [], 'no conversion left in staging');

      const health = await (await fetch(`${server.url}/api/health`)).json();
      assert.equal(health.status, 'ok');
      assert.equal(health.songs, GOOD);
      socket.close();
    } finally {
      await server.stop();
      logs.push(server.logs);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    const all = logs.join('\n');
    assert.doesNotMatch(all, /panicked/, 'no panic in any run');
    assert.doesNotMatch(all, /could not be read/, 'a file imported before a kill is not reported as unreadable');
  });
});
