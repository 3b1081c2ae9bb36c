// Fuzz-style run of the real pipeline over a corpus of real, odd and broken audio files: the
// tests/data/ folder of mutagen's PyPI source distribution (truncated MP3/FLAC/OGG/MP4, bad Xing
// headers, empty files, odd tags, formats we do not accept, a JPEG, a MIDI file...).
//
// Every file of that folder is fed, not only audio-looking ones: the inbox takes whatever is
// dropped into it whatever its name, so the junk (.id3, .apev2, .jpg, .mid) must end in failed/
// with a reason just like a truncated FLAC, and "nothing lost" is only meaningful over all of it.
// Two byte-identical copies are added so that the duplicate outcome is counted too.
//
// The archive comes from .ci/fetch-corpus.sh (run by .ci/setup.sh --tests); this test runs that
// script itself when the archive is missing and fails, never skips, when it cannot be fetched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN, BIN, login, startServer, waitUntil } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
const CORPUS_DIR = process.env.TEST_CORPUS_DIR ?? '/var/tmp/chillfi-tools/corpus';
const ARCHIVE = 'mutagen-1.47.0.tar.gz';
const SHA256 = '719fadef0a978c31b4cf3c956261b3c58b6948b32023078a2117b1de09f0fc99';

const hashOf = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The hash-checked archive, fetched with .ci/fetch-corpus.sh if it is not cached yet. */
function corpusArchive() {
  const archive = path.join(CORPUS_DIR, ARCHIVE);
  if (!fs.existsSync(archive) || hashOf(archive) !== SHA256) {
    const r = spawnSync('bash', [path.join(repo, '.ci', 'fetch-corpus.sh')], {
      env: { ...process.env, CHILLFI_CORPUS_DIR: CORPUS_DIR },
      encoding: 'utf8',
      timeout: 180000,
    });
    if (r.status !== 0 || !fs.existsSync(archive)) {
      throw new Error(
        `the test corpus (PyPI sdist ${ARCHIVE}) could not be fetched into ${CORPUS_DIR}; ` +
          `run .ci/fetch-corpus.sh with network access to PyPI.\n${r.error ?? ''}${r.stderr ?? ''}`,
      );
    }
  }
  assert.equal(hashOf(archive), SHA256, `${archive} does not match its pinned SHA-256`);
  return archive;
}

/** Every file under `dir`, as paths relative to it. */
function listFiles(dir, prefix = '') {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) return listFiles(path.join(dir, e.name), rel);
    return [rel];
  });
}

describe('odd and broken audio (mutagen test corpus)', () => {
  it('turns every file into a song, a duplicate or a failed/ entry with a reason, and stays up', async (t) => {
    const archive = corpusArchive();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-corpus-'));
    const corpus = path.join(work, 'corpus');
    fs.mkdirSync(corpus);
    execFileSync('tar', ['xzf', archive, '-C', corpus, '--strip-components=3', 'mutagen-1.47.0/tests/data']);
    assert.ok(listFiles(corpus).length >= 90, `the corpus has ${listFiles(corpus).length} files`);
    // Plus copies of two files in a subfolder: duplicates (possibly racing on two workers).
    fs.mkdirSync(path.join(corpus, 'copies'));
    fs.copyFileSync(path.join(corpus, 'silence-44-s.flac'), path.join(corpus, 'copies', 'silence-44-s (copy).flac'));
    fs.copyFileSync(path.join(corpus, 'xing.mp3'), path.join(corpus, 'copies', 'xing.mp3'));
    const names = listFiles(corpus).sort();
    const hashes = new Map(names.map((n) => [n, hashOf(path.join(corpus, n))]));

    const server = await startServer({
      users: [ADMIN],
      env: {
        CHILLFI_INGEST__INBOX_SETTLE_SECS: '1',
        CHILLFI_INGEST__INBOX_AFTER_IMPORT: 'move',
        CHILLFI_INGEST__WORKERS: '2',
      },
    });
    try {
      const { socket } = await login(server, ADMIN);
      const added = [];
      socket.on('song:added', (p) => added.push(p.song));

      // Dropped into a subfolder of the inbox in one rename, as a copy tool would finish.
      const inbox = path.join(server.dataDir, 'inbox');
      const dropped = path.join(server.dataDir, 'drop');
      fs.cpSync(corpus, dropped, { recursive: true });
      fs.renameSync(dropped, path.join(inbox, 'corpus'));
      const started = Date.now();
      const settled = () => {
        const left = listFiles(path.join(inbox, 'corpus'));
        const done = listFiles(path.join(inbox, 'done', 'corpus'));
        const failed = listFiles(path.join(inbox, 'failed', 'corpus')).filter((n) => !n.endsWith('.error.txt'));
        return { left, done, failed };
      };
      try {
        await waitUntil(() => {
          assert.equal(server.proc.exitCode, null, `chillfi died during the corpus run:\n${server.logs}`);
          const s = settled();
          return s.left.length === 0 && s.done.length + s.failed.length === names.length;
        }, 45000, 'every corpus file to leave the inbox');
      } catch (e) {
        const s = settled();
        throw new Error(`${e.message}; still in the inbox: ${JSON.stringify(s.left)}; done ${s.done.length}, failed ${s.failed.length} of ${names.length}\n${server.logs.slice(-4000)}`);
      }
      const elapsed = Date.now() - started;

      const { done, failed } = settled();
      const doneSet = new Set(done);
      const failedSet = new Set(failed);
      for (const n of names) {
        const where = [doneSet.has(n) && 'done', failedSet.has(n) && 'failed'].filter(Boolean);
        assert.equal(where.length, 1, `${n} ends in exactly one of done/ and failed/ (found in: ${where})`);
        const kept = path.join(inbox, where[0], 'corpus', n);
        assert.equal(hashOf(kept), hashes.get(n), `${n} is kept byte for byte`);
      }
      assert.deepEqual([...doneSet, ...failedSet].sort(), names, 'no file appeared that was not dropped');

      for (const n of failed) {
        const note = path.join(inbox, 'failed', 'corpus', `${n}.error.txt`);
        assert.ok(fs.existsSync(note), `${n} has a reason file`);
        const reason = fs.readFileSync(note, 'utf8').split('could not import this file:\n')[1]?.trim();
        assert.ok(reason, `${n}.error.txt gives a reason: ${JSON.stringify(fs.readFileSync(note, 'utf8'))}`);
        assert.ok(!/panick|internal|the server could not store/i.test(reason), `${n}: a rejection, not a server fault: ${reason}`);
      }

      // Songs: one per distinct source among the imported files; the rest of them are duplicates.
      const health = await (await fetch(`${server.url}/api/health`)).json();
      assert.equal(health.status, 'ok', 'the server still answers /api/health');
      const distinct = new Set(done.map((n) => hashes.get(n)));
      const duplicates = done.length - distinct.size;
      assert.equal(health.songs, distinct.size, 'one song per distinct imported source');
      assert.ok(duplicates >= 2, `the copies are duplicates (${duplicates})`);
      assert.equal(names.length, health.songs + failed.length + duplicates, 'in == songs + failed + duplicates');
      await waitUntil(() => added.length === health.songs, 10000, 'a song:added per song');
      assert.deepEqual(new Set(added.map((s) => s.sourceHash)), distinct, 'the songs are exactly the imported sources');
      for (const s of added) assert.ok(s.durationMs >= 0 && s.title, `song ${JSON.stringify(s)}`);
      const leftovers = fs.readdirSync(path.join(server.dataDir, 'staging')).filter((n) => n.endsWith('.mp3'));
      assert.deepEqual(leftovers, [], 'no conversions left in staging');
      const blobs = fs.readdirSync(path.join(server.dataDir, 'blobs', 'songs'));
      assert.ok(blobs.length >= 1 && blobs.length <= health.songs, `${blobs.length} song blobs for ${health.songs} songs`);
      const peakKb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))[1]);
      assert.ok(peakKb < 300 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MB (ooming-header.flac and friends)`);
      socket.close();
      const stopped = await server.stop();
      assert.equal(stopped.signal, null, 'a clean shutdown after the corpus');
      t.diagnostic(`corpus: ${names.length} files, ${health.songs} songs, ${failed.length} failed, ${duplicates} duplicates, ${elapsed} ms, peak RSS ${Math.round(peakKb / 1024)} MB`);

      // The other door, `chillfi import`, over the same files: nothing new, the same failures.
      const r = spawnSync(BIN, ['--data-dir', server.dataDir, 'import', corpus], { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.signal, null, `chillfi import was killed (${r.signal}): a crash or a hang\n${r.stderr}`);
      assert.equal(r.status, failed.length > 0 ? 1 : 0, r.stderr);
      assert.match(r.stdout, new RegExp(`\\n0 added, ${done.length} already in the library, ${failed.length} failed\\n`));
    } finally {
      await server.stop();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
