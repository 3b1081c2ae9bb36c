// The ingest pipeline through both doors (chunked Socket.IO upload, watched inbox) on both blob
// backends (local folder, real S3), with real media made by ffmpeg.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, call, cli, connect, ffmpeg, ffprobe, flacWithCover, login, ok, sha256, sineFile, sleep, startS3,
  startServer, uploadChunks, waitForMatch, waitUntil, Server,
} from './harness.mjs';

const CHUNK = 1024 * 1024;

/** Reads a stored blob back: from the local folder, or from SeaweedFS's filer. */
async function readBlob(backend, server, key) {
  if (backend.name === 'local') return fs.readFileSync(path.join(server.dataDir, 'blobs', key));
  const res = await fetch(`${backend.s3.filer}/buckets/chillfi-test/${key}`);
  assert.equal(res.status, 200, `S3 object ${key}`);
  return Buffer.from(await res.arrayBuffer());
}

function assertCleanMp3(bytes, dir) {
  assert.notEqual(bytes.subarray(0, 3).toString('latin1'), 'ID3', 'no ID3v2 header');
  assert.notEqual(bytes.subarray(bytes.length - 128, bytes.length - 125).toString('latin1'), 'TAG', 'no ID3v1 trailer');
  assert.ok(!bytes.includes(Buffer.from('APETAGEX')), 'no APE tag');
  const file = path.join(dir, `check-${Date.now()}.mp3`);
  fs.writeFileSync(file, bytes);
  const probe = ffprobe(file);
  assert.equal(probe.streams[0].codec_name, 'mp3');
  assert.deepEqual(Object.keys(probe.format.tags ?? {}), [], 'no container tags');
  return probe;
}

const backends = [{ name: 'local' }, { name: 's3' }];

for (const backend of backends) {
  describe(`ingest on the ${backend.name} backend`, () => {
    let server;
    let media;
    before(async () => {
      media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-media-'));
      let env = { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1' };
      if (backend.name === 's3') {
        backend.s3 = await startS3();
        env = { ...env, ...backend.s3.env };
      }
      server = await startServer({ env });
    });
    after(async () => {
      await server.stop();
      backend.s3?.stop();
    });

    it('uploads a FLAC in chunks, resumes after a dropped connection, and broadcasts song:added', async () => {
      const flac = flacWithCover(media, 'upload.flac', { seconds: 20, title: 'Chunked <b>Song</b>' });
      const size = fs.statSync(flac).size;
      const chunks = Math.ceil(size / CHUNK);
      assert.ok(chunks >= 3, `test file spans ${chunks} chunks`);

      const watcher = await login(server, ADMIN, ['polling']);
      const added = waitForMatch(watcher.socket, 'song:added', (p) => p.song.title === 'Chunked <b>Song</b>');

      const first = await login(server, ALICE, ['websocket']);
      const init = await ok(first.socket, 'song:uploadInit', { files: [{ name: 'upload.flac', size }] });
      const { uploadId } = init;
      const fileId = init.files[0].fileId;
      assert.equal(init.files[0].chunks, chunks);
      assert.equal(init.chunkSize, CHUNK);

      // Out of order, one chunk twice, then the connection drops.
      const acks = await uploadChunks(first.socket, uploadId, fileId, flac, CHUNK, [1, 0, 1]);
      assert.ok(acks.every((a) => a.ok), JSON.stringify(acks));
      assert.equal(acks[2].data.receivedChunks, 2, 'a repeated chunk is idempotent');
      first.socket.disconnect();

      // Another user may not touch this upload.
      const { socket: admin } = await login(server, ADMIN);
      const foreign = await uploadChunks(admin, uploadId, fileId, flac, CHUNK, [2]);
      assert.equal(foreign[0].error.code, 'forbidden');
      assert.equal((await call(admin, 'song:uploadStatus', { uploadId })).error.code, 'forbidden');

      const again = await login(server, ALICE, ['websocket']);
      const status = await ok(again.socket, 'song:uploadStatus', { uploadId });
      assert.equal(status.files[0].receivedChunks, 2);
      assert.equal(status.files[0].firstMissing, 2);
      const stages = [];
      again.socket.on('song:uploadProgress', (p) => p.fileId === fileId && stages.push(p.stage));
      const result = waitForMatch(again.socket, 'song:uploadResult', (p) => p.fileId === fileId);
      const rest = [];
      for (let i = status.files[0].firstMissing; i < chunks; i++) rest.push(i);
      const last = await uploadChunks(again.socket, uploadId, fileId, flac, CHUNK, rest);
      assert.equal(last.at(-1).data.complete, true);

      const done = await result;
      assert.equal(done.status, 'added', JSON.stringify(done));
      const song = done.song;
      assert.equal(song.title, 'Chunked <b>Song</b>', 'tags are data, kept verbatim');
      assert.equal(song.artist, 'Test Artist');
      assert.equal(song.album, 'Test Album');
      assert.equal(song.track, 3);
      assert.equal(song.year, 2021);
      assert.ok(Math.abs(song.durationMs - 20000) < 150, `duration ${song.durationMs}`);
      assert.equal(song.bitrate, 320000);
      assert.equal(song.sourceHash, sha256(flac));
      assert.match(song.coverKey, /^art\/[0-9a-f]{64}\.png$/);
      for (const stage of ['transfer', 'hashing', 'probing', 'converting', 'storing', 'indexing']) {
        assert.ok(stages.includes(stage), `progress stage ${stage} in ${stages}`);
      }
      const broadcast = await added;
      assert.equal(broadcast.song.id, song.id, 'a second client sees song:added');

      const mp3 = await readBlob(backend, server, `songs/${song.hash}.mp3`);
      const probe = assertCleanMp3(mp3, media);
      assert.ok(Math.abs(Number(probe.format.duration) - 20) < 0.15);
      const cover = await readBlob(backend, server, song.coverKey);
      assert.equal(cover.subarray(1, 4).toString(), 'PNG');

      // The same bytes again: a duplicate, found up front when the client sends the hash.
      const dupInit = await ok(again.socket, 'song:uploadInit', { files: [{ name: 'again.flac', size, sha256: sha256(flac) }] });
      assert.equal(dupInit.files[0].state, 'duplicate');
      assert.equal(dupInit.files[0].result.song.id, song.id);
      // ...and after the transfer when it does not.
      const blind = await ok(again.socket, 'song:uploadInit', { files: [{ name: 'again.flac', size }] });
      const blindResult = waitForMatch(again.socket, 'song:uploadResult', (p) => p.fileId === blind.files[0].fileId);
      await uploadChunks(again.socket, blind.uploadId, blind.files[0].fileId, flac, CHUNK, [...Array(chunks).keys()]);
      assert.equal((await blindResult).status, 'duplicate');
      const health = await (await fetch(`${server.url}/api/health`)).json();
      assert.equal(health.songs, 1);
      assert.equal(health.storage.backend, backend.name);
      for (const s of [watcher.socket, admin, again.socket]) s.close();
    });

    it('takes client metadata and a separately uploaded cover, and explains failures', async () => {
      const { socket } = await login(server, ALICE);
      const wav = sineFile(media, 'plain.wav', { seconds: 2, freq: 523 });
      const jpg = ffmpeg(path.join(media, 'cover.jpg'), ['-f', 'lavfi', '-i', 'color=c=orange:s=32x32', '-frames:v', '1']);
      const junk = path.join(media, 'junk.mp3');
      fs.writeFileSync(junk, Buffer.from(Array.from({ length: 50000 }, (_, i) => (i * 7919) % 256)));
      const init = await ok(socket, 'song:uploadInit', { files: [
        { name: 'plain.wav', size: fs.statSync(wav).size, metadata: { title: 'Edited Title', artist: 'Me', year: 1999 }, cover: { size: fs.statSync(jpg).size } },
        { name: 'junk.mp3', size: fs.statSync(junk).size },
      ] });
      const audio = init.files.find((f) => f.name === 'plain.wav');
      const coverEntry = init.files.find((f) => f.coverFor === audio.fileId);
      const bad = init.files.find((f) => f.name === 'junk.mp3');
      assert.ok(coverEntry, JSON.stringify(init.files));
      const results = [
        waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === audio.fileId),
        waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === bad.fileId),
      ];
      await uploadChunks(socket, init.uploadId, audio.fileId, wav, CHUNK, [0]);
      await uploadChunks(socket, init.uploadId, coverEntry.fileId, jpg, CHUNK, [0]);
      await uploadChunks(socket, init.uploadId, bad.fileId, junk, CHUNK, [0]);
      const [good, failed] = await Promise.all(results);
      assert.equal(good.status, 'added', JSON.stringify(good));
      assert.equal(good.song.title, 'Edited Title');
      assert.equal(good.song.artist, 'Me');
      assert.equal(good.song.year, 1999);
      assert.match(good.song.coverKey, /\.jpg$/);
      assert.equal(failed.status, 'failed');
      assert.match(failed.reason, /not an audio file|damaged/);

      const wrongSize = await call(socket, 'song:uploadChunk', { uploadId: init.uploadId, fileId: 'nope', index: 0, data: Buffer.alloc(1) });
      assert.equal(wrongSize.error.code, 'not_found');
      const missingField = await call(socket, 'song:uploadInit', { files: [{ name: 'x.mp3' }] });
      assert.equal(missingField.error.code, 'invalid');
      const empty = await call(socket, 'song:uploadInit', { files: [{ name: 'x.mp3', size: 0 }] });
      assert.equal(empty.error.field, 'files[0].size');
      const huge = await call(socket, 'song:uploadInit', { files: [{ name: 'x.flac', size: 5 * 1024 ** 4 }] });
      assert.equal(huge.error.code, 'too_large');
      socket.close();
    });

    it('skips and cancels mid-file', async () => {
      const { socket } = await login(server, ALICE);
      const a = sineFile(media, 'a.wav', { seconds: 15, freq: 300 });
      const b = sineFile(media, 'b.wav', { seconds: 15, freq: 350 });
      const init = await ok(socket, 'song:uploadInit', { files: [
        { name: 'a.wav', size: fs.statSync(a).size }, { name: 'b.wav', size: fs.statSync(b).size },
      ] });
      const [fa, fb] = init.files;
      await uploadChunks(socket, init.uploadId, fa.fileId, a, CHUNK, [0]);
      const skipped = await ok(socket, 'song:uploadControl', { uploadId: init.uploadId, fileId: fa.fileId, action: 'skip' });
      assert.equal(skipped.files.find((f) => f.fileId === fa.fileId).state, 'skipped');
      assert.equal(skipped.files.find((f) => f.fileId === fb.fileId).state, 'receiving');
      const late = await uploadChunks(socket, init.uploadId, fa.fileId, a, CHUNK, [1]);
      assert.equal(late[0].data.state, 'skipped', 'chunks for a skipped file are ignored');
      const cancelled = await ok(socket, 'song:uploadControl', { uploadId: init.uploadId, action: 'cancel' });
      assert.ok(cancelled.files.every((f) => ['skipped', 'cancelled'].includes(f.state)));
      const badAction = await call(socket, 'song:uploadControl', { uploadId: init.uploadId, action: 'explode' });
      assert.equal(badAction.error.field, 'action');
      assert.ok(!fs.existsSync(path.join(server.dataDir, 'staging', 'uploads', init.uploadId)), 'staging cleaned');
      socket.close();
    });

    it('imports good inbox files and moves bad ones to failed/ with reasons', async () => {
      const inbox = path.join(server.dataDir, 'inbox');
      const { socket } = await login(server, ALICE);
      const titles = new Set();
      socket.on('song:added', (p) => titles.add(p.song.title));
      fs.mkdirSync(path.join(inbox, 'Artist', 'Album'), { recursive: true });
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-drop-'));
      const mp3 = sineFile(tmp, 'Deep Song.mp3', { seconds: 2, freq: 660, codec: ['-c:a', 'libmp3lame', '-b:a', '320k'] });
      const ogg = sineFile(tmp, 'Tagged.ogg', { seconds: 2, freq: 700, codec: ['-c:a', 'libvorbis', '-metadata', 'title=Ogg Title'] });
      fs.copyFileSync(mp3, path.join(inbox, 'Artist', 'Album', 'Deep Song.mp3'));
      fs.copyFileSync(ogg, path.join(inbox, 'Tagged.ogg'));
      fs.writeFileSync(path.join(inbox, 'empty.mp3'), '');
      fs.writeFileSync(path.join(inbox, 'notes.txt'), 'just some text, not music\n');
      fs.writeFileSync(path.join(inbox, 'random.mp3'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) % 256)));
      fs.writeFileSync(path.join(inbox, 'playlist.mp3'), `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${path.join(tmp, 'Deep Song.mp3')}\n#EXT-X-ENDLIST\n`);
      fs.writeFileSync(path.join(inbox, 'concat.flac'), `ffconcat version 1.0\nfile '${path.join(tmp, 'Tagged.ogg')}'\n`);
      fs.symlinkSync('/etc/passwd', path.join(inbox, 'link.mp3'));

      await waitUntil(() => titles.has('Deep Song') && titles.has('Ogg Title'), 60000, 'inbox songs to be added');
      const failed = path.join(inbox, 'failed');
      const expected = ['empty.mp3', 'notes.txt', 'random.mp3', 'playlist.mp3', 'concat.flac', 'link.mp3'];
      await waitUntil(() => expected.every((n) => fs.existsSync(path.join(failed, `${n}.error.txt`))), 60000, 'failed files');
      const reason = (n) => fs.readFileSync(path.join(failed, `${n}.error.txt`), 'utf8');
      assert.match(reason('empty.mp3'), /empty/);
      assert.match(reason('playlist.mp3'), /not an audio file we accept/);
      assert.match(reason('concat.flac'), /not an audio file we accept/);
      assert.match(reason('link.mp3'), /symbolic link/);
      assert.ok(fs.lstatSync(path.join(failed, 'link.mp3')).isSymbolicLink(), 'the link itself moved, nothing followed');
      assert.ok(!fs.existsSync(path.join(inbox, 'Tagged.ogg')), 'imported files leave the inbox');
      assert.ok(!fs.existsSync(path.join(inbox, 'Artist')), 'emptied folders are removed');
      // The MP3 at 320k was stored as it was (remuxed), still without tags.
      socket.close();
    });
  });
}

describe('inbox: when a dropped file is taken', () => {
  // With a settle time of an hour, only the writer's close (or a rename into the inbox) can make
  // the server take these files within the test's time.
  it('takes a file copied with cp, a file renamed in and a folder moved in as soon as they are complete', async () => {
    const server = await startServer({ users: [ADMIN], env: { CHILLFI_INGEST__INBOX_SETTLE_SECS: '3600' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-drop-'));
    try {
      const inbox = path.join(server.dataDir, 'inbox');
      const { socket } = await login(server, ADMIN);
      const order = [];
      socket.on('song:added', (p) => order.push(`added ${p.song.title}`));
      const copied = flacWithCover(media, 'copied.flac', { seconds: 30, title: 'Copied' });
      const added = waitForMatch(socket, 'song:added', (p) => p.song.title === 'Copied', 30000);
      execFileSync('cp', [copied, path.join(inbox, 'copied.flac')]);
      order.push('copy ended');
      await added;

      // Written under a hidden name, then renamed into place (rsync, most downloaders).
      const renamed = flacWithCover(media, 'renamed.flac', { seconds: 4, title: 'Renamed' });
      const part = path.join(inbox, '.renamed.flac.part');
      fs.copyFileSync(renamed, part);
      const second = waitForMatch(socket, 'song:added', (p) => p.song.title === 'Renamed', 30000);
      fs.renameSync(part, path.join(inbox, 'renamed.flac'));
      await second;

      // A whole folder prepared elsewhere on the same file system and moved in.
      const album = path.join(media, 'Album');
      fs.mkdirSync(album);
      flacWithCover(album, 'inside.flac', { seconds: 4, title: 'Inside' });
      const third = waitForMatch(socket, 'song:added', (p) => p.song.title === 'Inside', 30000);
      fs.renameSync(album, path.join(inbox, 'Album'));
      await third;

      assert.deepEqual(order, ['copy ended', 'added Copied', 'added Renamed', 'added Inside']);
      await waitUntil(() => fs.readdirSync(inbox).filter((n) => n !== 'failed').length === 0, 10000, 'the inbox to empty');
      socket.close();
    } finally {
      await server.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });

  it('never takes a file still open for writing, however long its writer pauses', async () => {
    const server = await startServer({ users: [ADMIN], env: { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-slow-'));
    try {
      const inbox = path.join(server.dataDir, 'inbox');
      const { socket } = await login(server, ADMIN);
      const order = [];
      socket.on('song:added', (p) => order.push(`added ${p.song.title}`));
      const source = fs.readFileSync(flacWithCover(media, 'slow.flac', { seconds: 12, title: 'Slow Writer' }));
      const target = path.join(inbox, 'slow.flac');
      const fd = fs.openSync(target, 'w');
      const parts = 4;
      const step = Math.ceil(source.length / parts);
      // Each pause is longer than the settle time plus the scan interval: a server going by
      // size and mtime alone would take the file during the first one.
      for (let i = 0; i < parts; i++) {
        fs.writeSync(fd, source, i * step, Math.min(step, source.length - i * step));
        if (i < parts - 1) await sleep(2500);
      }
      assert.ok(fs.existsSync(target), 'the file is still where its writer put it');
      const added = waitForMatch(socket, 'song:added', (p) => p.song.title === 'Slow Writer', 30000);
      order.push('closed');
      fs.closeSync(fd);
      const { song } = await added;
      assert.deepEqual(order, ['closed', 'added Slow Writer'], 'taken only after its writer closed it');
      assert.ok(Math.abs(song.durationMs - 12000) < 200, `whole file imported (${song.durationMs} ms)`);
      assert.ok(!fs.existsSync(path.join(inbox, 'failed', 'slow.flac')), 'nothing failed');
      socket.close();
    } finally {
      await server.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});

describe('abandoned uploads', () => {
  it('forgets an upload idle for ingest.upload_abandon_secs with its staged bytes, keeps one still receiving', async () => {
    const server = await startServer({ env: { CHILLFI_INGEST__UPLOAD_ABANDON_SECS: '2' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-abandon-'));
    const staging = (uploadId) => path.join(server.dataDir, 'staging', 'uploads', uploadId);
    const SMALL = 64 * 1024;
    try {
      const left = flacWithCover(media, 'left.flac', { seconds: 6, title: 'Left Behind' });
      const kept = flacWithCover(media, 'kept.flac', { seconds: 20, title: 'Kept Alive' });
      const keptChunks = Math.ceil(fs.statSync(kept).size / SMALL);
      assert.ok(keptChunks >= 30, `the kept upload spans ${keptChunks} chunks, enough to outlive several sweeps`);

      // Upload 1: a few chunks, then the user goes away for good.
      const first = await login(server, ALICE);
      const a = await ok(first.socket, 'song:uploadInit', { files: [{ name: 'left.flac', size: fs.statSync(left).size }], chunkSize: SMALL });
      const aFile = a.files[0].fileId;
      const acks = await uploadChunks(first.socket, a.uploadId, aFile, left, SMALL, [0, 1, 2]);
      assert.ok(acks.every((x) => x.ok), JSON.stringify(acks));
      assert.equal(fs.statSync(path.join(staging(a.uploadId), `${aFile}.part`)).size, fs.statSync(left).size, 'chunks are staged');
      first.socket.disconnect();

      // Upload 2: keeps sending a chunk every 250 ms (one pause of 1 s), well inside the window.
      const { socket } = await login(server, ALICE);
      const unknown = await call(socket, 'song:uploadStatus', { uploadId: 'no-such-upload' });
      assert.equal(unknown.error?.code, 'not_found', JSON.stringify(unknown));
      const b = await ok(socket, 'song:uploadInit', { files: [{ name: 'kept.flac', size: fs.statSync(kept).size }], chunkSize: SMALL });
      const bFile = b.files[0].fileId;
      const result = waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === bFile);
      let goneAt = null;
      for (let i = 0; i < keptChunks; i++) {
        const [ack] = await uploadChunks(socket, b.uploadId, bFile, kept, SMALL, [i]);
        assert.ok(ack.ok, `chunk ${i} of the active upload: ${JSON.stringify(ack)}`);
        if (goneAt === null) {
          const st = await call(socket, 'song:uploadStatus', { uploadId: a.uploadId });
          if (!st.ok) {
            assert.equal(st.error.code, 'not_found', JSON.stringify(st));
            goneAt = Date.now();
          }
        }
        // Hold back the last chunk until the sweep has run a few more times.
        if (i === keptChunks - 2) {
          const deadline = Date.now() + 15000;
          while ((goneAt === null || Date.now() - goneAt < 3000) && Date.now() < deadline) {
            await sleep(250);
            if (goneAt === null && !(await call(socket, 'song:uploadStatus', { uploadId: a.uploadId })).ok) goneAt = Date.now();
            // A status call is not a chunk: stay active with a harmless repeat of chunk 0.
            await uploadChunks(socket, b.uploadId, bFile, kept, SMALL, [0]);
          }
        }
        await sleep(i === 5 ? 1000 : 250);
      }
      assert.ok(goneAt !== null, 'the idle upload was removed while the other was still receiving');
      assert.ok(Date.now() - goneAt >= 3000, 'the active upload outlived the abandon window after that sweep');
      const again = await call(socket, 'song:uploadStatus', { uploadId: a.uploadId });
      assert.equal(again.error?.code, 'not_found', 'the abandoned upload is unknown now');
      assert.ok(!fs.existsSync(staging(a.uploadId)), 'its staged bytes are gone');
      const late = await call(socket, 'song:uploadChunk', { uploadId: a.uploadId, fileId: aFile, index: 3, data: Buffer.alloc(SMALL) });
      assert.equal(late.error?.code, 'not_found', 'a late chunk does not bring it back');
      assert.ok(!fs.existsSync(staging(a.uploadId)), 'nor its staging folder');

      const done = await result;
      assert.equal(done.status, 'added', JSON.stringify(done));
      assert.equal(done.song.title, 'Kept Alive');
      assert.equal(done.song.sourceHash, sha256(kept));
      const health = await (await fetch(`${server.url}/api/health`)).json();
      assert.equal(health.songs, 1, 'only the active upload became a song');
      socket.close();
    } finally {
      await server.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});

describe('crash safety', () => {
  it('loses and duplicates nothing when killed -9 in the middle of a 50-file inbox ingest', async () => {
    const server = await startServer({ env: { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1', CHILLFI_INGEST__WORKERS: '2' } });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-bulk-'));
    const inbox = path.join(server.dataDir, 'inbox');
    for (let i = 0; i < 50; i++) {
      const f = sineFile(tmp, `bulk-${i}.flac`, { seconds: 3, freq: 200 + i * 10, codec: ['-c:a', 'flac'] });
      fs.renameSync(f, path.join(inbox, `bulk-${i}.flac`));
    }
    const songsNow = async (s) => (await (await fetch(`${s.url}/api/health`)).json()).songs;
    await waitUntil(async () => (await songsNow(server)) >= 5, 120000, 'some songs before the crash');
    const before = await songsNow(server);
    assert.ok(before < 50, `the crash must hit mid-ingest (had ${before})`);
    await server.stop('SIGKILL');

    const again = await new Server({ dataDir: server.dataDir, env: server.env }).start();
    try {
      await waitUntil(async () => (await songsNow(again)) === 50 && fs.readdirSync(inbox).filter((n) => n.endsWith('.flac')).length === 0, 180000, 'all 50 songs after restart');
      const blobs = fs.readdirSync(path.join(server.dataDir, 'blobs', 'songs'));
      assert.equal(blobs.length, 50, 'one blob per song, no orphans');
      assert.equal(fs.readdirSync(path.join(inbox, 'failed')).length, 0, 'nothing failed');
      const staging = fs.readdirSync(path.join(server.dataDir, 'staging')).filter((n) => n.endsWith('.mp3'));
      assert.deepEqual(staging, [], 'no leftover conversions');
    } finally {
      await again.stop();
    }
  });
});

describe('chillfi import', () => {
  it('imports a folder once with progress and a summary, leaving the originals in place', async () => {
    const server = await startServer({ users: [ADMIN] });
    await server.stop();
    const music = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-collection-'));
    fs.mkdirSync(path.join(music, 'Band', 'Record'), { recursive: true });
    sineFile(path.join(music, 'Band', 'Record'), '01 - One.flac', { seconds: 1, freq: 400, codec: ['-c:a', 'flac'] });
    sineFile(music, 'Two.mp3', { seconds: 1, freq: 500, codec: ['-c:a', 'libmp3lame'] });
    fs.writeFileSync(path.join(music, 'cover-notes.txt'), 'liner notes');
    const run = () => {
      try {
        return { code: 0, out: cli(server.dataDir, ['import', music]) };
      } catch (e) {
        return { code: e.status, out: e.stdout, err: e.stderr };
      }
    };
    const first = run();
    assert.equal(first.code, 1, 'a failed file makes the exit status non-zero');
    assert.match(first.out, /2 added, 0 already in the library, 1 failed/);
    assert.match(first.out, /cover-notes\.txt: not an audio file/);
    assert.match(first.err, /1 file\(s\) could not be imported/);
    assert.ok(fs.existsSync(path.join(music, 'Two.mp3')), 'originals stay');
    const second = run();
    assert.match(second.out, /0 added, 2 already in the library, 1 failed/, 'idempotent');
    const again = await new Server({ dataDir: server.dataDir }).start();
    try {
      const health = await (await fetch(`${again.url}/api/health`)).json();
      assert.equal(health.songs, 2);
    } finally {
      await again.stop();
    }
  });
});

describe('hostile names and a 2 GB file', () => {
  it('refuses NUL and 4 KB names, keeps ../ names as mere labels, streams a 2 GB file to failed/', async () => {
    const server = await startServer({ env: { CHILLFI_INGEST__INBOX_SETTLE_SECS: '1' } });
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-names-'));
    try {
      const { socket } = await login(server, ALICE);
      const nul = await call(socket, 'song:uploadInit', { files: [{ name: 'a\u0000b.mp3', size: 10 }] });
      assert.equal(nul.error.field, 'files[0].name');
      const long = await call(socket, 'song:uploadInit', { files: [{ name: `${'x'.repeat(4096)}.mp3`, size: 10 }] });
      assert.equal(long.error.field, 'files[0].name');

      const wav = sineFile(media, 'escape.wav', { seconds: 1, freq: 440 });
      const hostile = '../../../../tmp/escape.wav';
      const init = await ok(socket, 'song:uploadInit', { files: [{ name: hostile, size: fs.statSync(wav).size }] });
      const result = waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === init.files[0].fileId);
      await uploadChunks(socket, init.uploadId, init.files[0].fileId, wav, CHUNK, [0]);
      const done = await result;
      assert.equal(done.status, 'added', JSON.stringify(done));
      assert.equal(done.song.title, 'escape', 'the title comes from the last path part');
      assert.equal(done.song.originalName, hostile, 'the name is kept as a label only');
      const written = fs.readdirSync(path.join(server.dataDir, 'blobs', 'songs'));
      assert.deepEqual(written, [`${done.song.hash}.mp3`], 'stored by content hash, nowhere else');

      // A sparse 2 GB file of zeros named .mp3: hashed and probed as a stream, then refused.
      const inbox = path.join(server.dataDir, 'inbox');
      const big = path.join(media, 'big.mp3');
      fs.closeSync(fs.openSync(big, 'w'));
      fs.truncateSync(big, 2 * 1024 ** 3);
      fs.renameSync(big, path.join(inbox, 'big.mp3'));
      const reasonFile = path.join(inbox, 'failed', 'big.mp3.error.txt');
      await waitUntil(() => fs.existsSync(reasonFile), 120000, 'the 2 GB file in failed/');
      assert.match(fs.readFileSync(reasonFile, 'utf8'), /not an audio file|damaged/);
      assert.equal(fs.statSync(path.join(inbox, 'failed', 'big.mp3')).size, 2 * 1024 ** 3, 'nothing lost');
      const peakKb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]);
      assert.ok(peakKb < 300 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MB: the file was never held in memory`);
      assert.equal((await (await fetch(`${server.url}/api/health`)).json()).status, 'ok', 'the server stays up');
      socket.close();
    } finally {
      await server.stop();
      fs.rmSync(media, { recursive: true, force: true });
    }
  });
});
