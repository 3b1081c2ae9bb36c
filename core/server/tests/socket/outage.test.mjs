// Storage outages (issue 13, items 6 and 7): a real SeaweedFS behind a TCP proxy that refuses,
// resets and stalls connections on command.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, login, ok, sineFile, sleep, startFaultProxy, startS3, startServer, uploadChunks,
  waitUntil,
} from './harness.mjs';

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
    const env = await startBehindProxy({ CHILLFI_INGEST__INBOX_SETTLE_SECS: '1', CHILLFI_INGEST__WORKERS: '2', CHILLFI_METRICS__ENABLED: 'true' });
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
      const uploadResults = new Map();
      alice.on('song:uploadResult', (p) => uploadResults.set(p.fileId, p));
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

      const uploadsFailed = () => [...uploadResults.values()].filter((r) => r.status !== 'added');
      const settled = () => added.size + failedFiles(inbox).length + uploadsFailed().length >= 40;
      await waitUntil(settled, 120000, 'every file to be a song or a failure');
      assert.deepEqual(failedFiles(inbox), [], 'no inbox file failed for a storage outage');
      assert.deepEqual(uploadsFailed(), [], 'no upload failed for a storage outage');
      assert.deepEqual([...uploadResults.values()].map((r) => r.status), ['added', 'added']);
      assert.equal(added.size, 40);
      assert.equal((await health(env.server)).body.songs, 40);
      assert.deepEqual(fs.readdirSync(inbox).filter((n) => n !== 'failed'), [], 'the inbox is empty');
      const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
      const storageErrors = metrics.split('\n').filter((l) => l.startsWith('chillfi_storage_errors_total{backend="s3"'));
      assert.ok(storageErrors.reduce((n, l) => n + Number(l.split(' ').pop()), 0) > 0, `the outage shows in /metrics:\n${storageErrors.join('\n')}`);
      admin.close();
      alice.close();
    } finally {
      await env.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});
