// Storage faults and crashes (issue 13, items 6-9 and 11): a real SeaweedFS behind a TCP proxy
// that refuses, resets and stalls connections on command, and kill -9 at chosen moments.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, Server, call, login, ok, sineFile, sleep, startFaultProxy, startS3, startServer,
  uploadChunks, waitForMatch, waitUntil,
} from './harness.mjs';

const CHUNK = 1024 * 1024;

/** Audio files made by ffmpeg (distinct tones, so distinct songs), in a scratch folder. */
function tones(dir, prefix, count, { seconds = 2, codec = ['-c:a', 'flac'], ext = 'flac' } = {}) {
  return Array.from({ length: count }, (_, i) => sineFile(dir, `${prefix}-${i}.${ext}`, { seconds, freq: 150 + i * 17, codec }));
}

/** Files (not reason files) in the inbox's failed/ folder. */
function failedFiles(inbox) {
  const dir = path.join(inbox, 'failed');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).filter((n) => !n.endsWith('.error.txt') && fs.statSync(path.join(dir, n)).isFile());
}

async function health(server, ms = 1000) {
  const started = Date.now();
  const res = await fetch(`${server.url}/api/health`, { signal: AbortSignal.timeout(ms) });
  return { status: res.status, body: await res.json(), ms: Date.now() - started };
}

/** A server on S3 (SeaweedFS) reached through a fault proxy. */
async function startBehindProxy(env = {}) {
  const s3 = await startS3();
  const proxy = await startFaultProxy(s3.endpoint);
  const server = await startServer({ env: { ...s3.env, CHILLFI_STORAGE__S3__ENDPOINT: proxy.url, ...env } });
  return {
    s3, proxy, server,
    async stop() {
      await server.stop();
      await proxy.stop();
      s3.stop();
    },
  };
}

describe('storage outages', () => {
  // Item 7: health used to wait for the storage check, so a hanging S3 hung it too.
  it('health answers within 1 s whatever the storage does, naming the part that is degraded', async () => {
    const env = await startBehindProxy();
    try {
      const up = await health(env.server);
      assert.equal(up.body.status, 'ok');
      for (const mode of ['stall', 'refuse', 'reset']) {
        await env.proxy.set(mode);
        const down = await health(env.server, 1000);
        assert.equal(down.status, 200, `${mode}: health itself works`);
        assert.equal(down.body.status, 'degraded', mode);
        assert.equal(down.body.storage.ok, false, mode);
        assert.match(down.body.storage.detail, /./, `${mode}: says what is wrong`);
        assert.deepEqual(down.body.degraded, ['storage'], `${mode}: names the part`);
        assert.equal(typeof down.body.songs, 'number', 'the rest of the answer is there');
      }
      await env.proxy.set('pass');
      await waitUntil(async () => (await health(env.server)).body.status === 'ok', 10000, 'health ok again');
    } finally {
      await env.stop();
    }
  });

  // Item 6: an outage used to send every file it touched to failed/ for good.
  it('keeps inbox files and uploads queued through a 30 s outage: 40 songs, nothing failed', { timeout: 240000 }, async () => {
    const env = await startBehindProxy({ CHILLFI_INGEST__INBOX_SETTLE_SECS: '1', CHILLFI_INGEST__WORKERS: '2' });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-outage-'));
    const inbox = path.join(env.server.dataDir, 'inbox');
    try {
      const { socket: admin } = await login(env.server, ADMIN);
      const { socket: alice } = await login(env.server, ALICE);
      const added = new Set();
      admin.on('song:added', ({ song }) => added.add(song.id));
      const files = tones(media, 'outage', 38);
      const uploads = tones(media, 'upload', 2, { seconds: 3 });
      // A few before the outage: the server works through the proxy.
      for (const f of files.slice(0, 4)) fs.renameSync(f, path.join(inbox, path.basename(f)));
      await waitUntil(() => added.size >= 4, 60000, 'the first songs');

      // 30 s of outage in three kinds: refused, reset, hanging. Everything else arrives meanwhile.
      await env.proxy.set('refuse');
      for (const f of files.slice(4)) fs.renameSync(f, path.join(inbox, path.basename(f)));
      const init = await ok(alice, 'song:uploadInit', { files: uploads.map((f) => ({ name: path.basename(f), size: fs.statSync(f).size })) });
      const results = init.files.map((entry) => waitForMatch(alice, 'song:uploadResult', (p) => p.fileId === entry.fileId, 170000));
      for (const [i, entry] of init.files.entries()) {
        const acks = await uploadChunks(alice, init.uploadId, entry.fileId, uploads[i], init.chunkSize, [...Array(Math.ceil(entry.size / init.chunkSize)).keys()]);
        assert.ok(acks.every((a) => a.ok), JSON.stringify(acks));
      }
      await sleep(10000);
      await env.proxy.set('reset');
      await sleep(10000);
      await env.proxy.set('stall');
      await sleep(10000);
      assert.ok(added.size < 40, `the outage hit the ingest (had ${added.size} songs)`);
      await env.proxy.set('pass');

      const settled = () => added.size + failedFiles(inbox).length >= 40;
      await waitUntil(settled, 120000, 'every file to be a song or a failure');
      assert.deepEqual(failedFiles(inbox), [], 'nothing failed for a storage outage');
      for (const r of await Promise.all(results)) assert.equal(r.status, 'added', JSON.stringify(r));
      assert.equal(added.size, 40);
      assert.equal((await health(env.server)).body.songs, 40);
      assert.deepEqual(fs.readdirSync(inbox).filter((n) => n !== 'failed'), [], 'the inbox is empty');
      admin.close();
      alice.close();
    } finally {
      await env.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});

describe('crashes and restarts', () => {
  // Item 8: the start-up sweeps what a kill leaves behind.
  it('removes temp blob files and staged upload bytes that no upload owns at start', async () => {
    const server = await startServer({ env: { CHILLFI_LOG__LEVEL: 'info' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-sweep-'));
    try {
      const { socket } = await login(server, ALICE);
      const [file] = tones(media, 'kept', 1, { seconds: 20 });
      const init = await ok(socket, 'song:uploadInit', { files: [{ name: 'kept.flac', size: fs.statSync(file).size }] });
      const [entry] = init.files;
      assert.ok(entry.chunks >= 2);
      await uploadChunks(socket, init.uploadId, entry.fileId, file, init.chunkSize, [0]);
      socket.close();
      await server.stop();

      const blobs = path.join(server.dataDir, 'blobs');
      fs.mkdirSync(path.join(blobs, 'songs'), { recursive: true });
      fs.writeFileSync(path.join(blobs, 'songs', '.~tmp-Ab12Cd'), Buffer.alloc(50000, 1));
      const orphan = path.join(server.dataDir, 'staging', 'uploads', 'no-such-upload');
      fs.mkdirSync(orphan, { recursive: true });
      fs.writeFileSync(path.join(orphan, 'f1.part'), Buffer.alloc(70000, 2));

      const again = await new Server({ dataDir: server.dataDir, env: server.env }).start();
      try {
        assert.ok(!fs.existsSync(path.join(blobs, 'songs', '.~tmp-Ab12Cd')), 'temp blob file removed');
        assert.ok(!fs.existsSync(orphan), 'staged bytes of no upload removed');
        // The upload that exists keeps its bytes and finishes.
        const { socket: s } = await login(again, ALICE);
        const status = await ok(s, 'song:uploadStatus', { uploadId: init.uploadId });
        assert.equal(status.files[0].firstMissing, 1);
        const result = waitForMatch(s, 'song:uploadResult', (p) => p.fileId === entry.fileId);
        await uploadChunks(s, init.uploadId, entry.fileId, file, init.chunkSize, [...Array(entry.chunks).keys()].slice(1));
        assert.equal((await result).status, 'added');
        s.close();
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(media, { recursive: true, force: true });
    }
  });

  // Item 9: chunks the server had acknowledged were missing after kill -9.
  it('keeps every acknowledged upload chunk through kill -9', async () => {
    const server = await startServer();
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-acked-'));
    try {
      const { socket } = await login(server, ALICE);
      const big = path.join(media, 'big.bin');
      const chunks = 24;
      fs.writeFileSync(big, Buffer.alloc(chunks * CHUNK + 123, 7));
      const init = await ok(socket, 'song:uploadInit', { files: [{ name: 'big.flac', size: fs.statSync(big).size }], chunkSize: CHUNK });
      const [entry] = init.files;
      const acks = await uploadChunks(socket, init.uploadId, entry.fileId, big, CHUNK, [...Array(chunks).keys()]);
      assert.ok(acks.every((a) => a.ok), JSON.stringify(acks.find((a) => !a.ok)));
      await server.stop('SIGKILL'); // at once after the last acknowledgement
      socket.close();

      const again = await new Server({ dataDir: server.dataDir, env: server.env }).start();
      try {
        const { socket: s } = await login(again, ALICE);
        const status = await ok(s, 'song:uploadStatus', { uploadId: init.uploadId });
        assert.equal(status.files[0].receivedChunks, chunks, 'every acknowledged chunk is still there');
        assert.equal(status.files[0].firstMissing, chunks);
        const part = path.join(again.dataDir, 'staging', 'uploads', init.uploadId, `${entry.fileId}.part`);
        const bytes = fs.readFileSync(part);
        assert.ok(bytes.subarray(0, chunks * CHUNK).every((b) => b === 7), 'with their bytes');
        s.close();
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(media, { recursive: true, force: true });
    }
  });

  // Item 11: a file imported just before a kill came back as "could not be read" plus an error
  // moving it to failed/.
  it('a file that became a song just before kill -9 is not reported as failed after the restart', async () => {
    const env = { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1', CHILLFI_INGEST__WORKERS: '1', CHILLFI_LOG__LEVEL: 'info' };
    const server = await startServer({ env });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-noise-'));
    const inbox = path.join(server.dataDir, 'inbox');
    try {
      const { socket } = await login(server, ADMIN);
      const [first, second] = tones(media, 'noise', 2);
      const added = waitForMatch(socket, 'song:added', () => true);
      fs.renameSync(first, path.join(inbox, 'first.flac'));
      await added;
      await server.stop('SIGKILL'); // the song is in; the job's removal is not yet on disk
      socket.close();

      const again = await new Server({ dataDir: server.dataDir, env }).start();
      try {
        const { socket: s } = await login(again, ADMIN);
        // One worker runs the recovered job first; when the next file is a song, it is done.
        const next = waitForMatch(s, 'song:added', (p) => p.song.title === 'noise-1');
        fs.renameSync(second, path.join(inbox, 'second.flac'));
        await next;
        const logs = again.logs;
        assert.doesNotMatch(logs, /could not be read/, logs);
        assert.doesNotMatch(logs, /moving .* to failed/, logs);
        assert.doesNotMatch(logs, /ingest failed/, logs);
        assert.deepEqual(failedFiles(inbox), []);
        assert.equal((await health(again)).body.songs, 2);
        s.close();
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});
