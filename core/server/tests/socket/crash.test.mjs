// Crashes and restarts (issue 13, items 8, 9 and 11): kill -9 at chosen moments, and what a
// restart must clean up, keep and stay quiet about.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, Server, flacWithCover, login, ok, runCli, sineFile, startServer, uploadChunks, uploadSongs,
  waitForMatch,
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

describe('crashes and restarts', () => {
  // Issue 11: a clean stop saves the song index and the next start reads it back instead of
  // every record; it must give the very same library, and never a stale one.
  it('a restart shows the same library, from the saved index after a clean stop and from the records after kill -9', async () => {
    const server = await startServer();
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-restart-'));
    const library = async (srv) => {
      const { socket } = await login(srv, ALICE);
      const songs = (await ok(socket, 'song:list', { sort: 'title', limit: 100 })).items
        .map((s) => `${s.id} ${s.title} | ${s.artist} | ${s.album} | plays ${s.playCount}`);
      const albums = (await ok(socket, 'album:list', {})).items.map((a) => `${a.id} ${a.name} ${a.songCount}`);
      const found = (await ok(socket, 'song:list', { filters: { search: 'tone 2' }, limit: 10 })).items.map((s) => s.id);
      socket.close();
      return { songs, albums, found };
    };
    const loadedFrom = (srv) => /library loaded.*from="([^"]+)"/.exec(srv.logs)?.[1];
    try {
      const { socket } = await login(server, ALICE);
      const files = tones(media, 'tone', 3).map((file, i) => ({
        file, metadata: { title: `Tone ${i}`, artist: `Player ${i % 2}`, album: `Set ${i % 2}` },
      }));
      const songs = await uploadSongs(socket, files);
      await ok(socket, 'song:recordListen', { songId: songs[1].id });
      await ok(socket, 'song:recordListen', { songId: songs[1].id });
      socket.close();
      const before = await library(server);
      assert.equal(before.songs.length, 3);
      assert.ok(before.songs.some((s) => s.endsWith('plays 2')), before.songs.join('\n'));

      await server.stop();
      assert.ok(fs.existsSync(path.join(server.dataDir, 'library-index.bin')), 'saved at the stop');
      const again = await new Server({ dataDir: server.dataDir, env: server.env }).start();
      assert.equal(loadedFrom(again), 'the index saved at the last close');
      assert.deepEqual(await library(again), before);
      await again.stop();

      // A song imported with the server stopped: the import reads the saved index, adds the
      // song and saves again; the next start shows it.
      const extra = path.join(media, 'extra');
      fs.mkdirSync(extra);
      sineFile(extra, 'late.flac', { seconds: 2, freq: 900, codec: ['-c:a', 'flac'] });
      const imported = await runCli(server.dataDir, ['import', extra, '--owner', 'alice']);
      assert.equal(imported.code, 0, imported.stderr);
      const third = await new Server({ dataDir: server.dataDir, env: server.env }).start();
      assert.equal(loadedFrom(third), 'the index saved at the last close');
      const withImport = await library(third);
      assert.equal(withImport.songs.length, 4);
      assert.ok(withImport.songs.some((s) => s.includes(' late |')), withImport.songs.join('\n'));

      // kill -9 saves nothing: the start after it builds the index from the records.
      await third.stop('SIGKILL');
      const fourth = await new Server({ dataDir: server.dataDir, env: server.env }).start();
      try {
        assert.equal(loadedFrom(fourth), 'the song records');
        assert.deepEqual(await library(fourth), withImport);
      } finally {
        await fourth.stop();
      }
    } finally {
      await server.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });

  // Item 8: the start-up sweeps what a kill leaves behind.
  it('removes temp blob files and staged upload bytes that no upload owns at start', async () => {
    const server = await startServer({ env: { CHILLFI_LOG__LEVEL: 'info' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-sweep-'));
    try {
      const { socket } = await login(server, ALICE);
      const file = flacWithCover(media, 'kept.flac', { seconds: 20, title: 'Kept' });
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
        const next = waitForMatch(s, 'song:added', (p) => p.song.title === 'second');
        fs.renameSync(second, path.join(inbox, 'second.flac'));
        await next.catch((e) => { throw new Error(`${e.message}; server log:\n${again.logs}`); });
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
