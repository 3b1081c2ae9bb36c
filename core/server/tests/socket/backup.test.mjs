// Backup and restore (docs/operations.md): a backup made while the server runs and an ingest is
// under way brings back every user, song, playlist, share and queue on a new server, and the
// songs stream; old tokens keep working because the signing secret comes along.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALICE, Server, connect, login, ok, runCli, sineFile, startServer, uploadSongs } from './harness.mjs';


function absolute(server, url) {
  return url.startsWith('http') ? url : `${server.url}${url}`;
}

describe('backup and restore', () => {
  let server;
  let work;
  before(async () => {
    server = await startServer();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-backup-'));
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('a live backup during an ingest restores users, songs, playlists, shares, queues and tokens', async () => {
    const { socket: alice, token } = await login(server, ALICE);
    const songs = await uploadSongs(alice, [
      { file: sineFile(work, 'a.wav', { seconds: 2, freq: 300 }), metadata: { title: 'Kept A' } },
      { file: sineFile(work, 'b.wav', { seconds: 2, freq: 500 }), metadata: { title: 'Kept B' } },
    ]);
    const playlist = (await ok(alice, 'playlist:create', { name: 'Backed up', songIds: songs.map((s) => s.id) })).playlist;
    const share = await ok(alice, 'share:create', { kind: 'song', id: songs[0].id });
    await ok(alice, 'player:addToQueue', { songIds: [songs[1].id, songs[0].id] });

    // An import runs while the backup is taken.
    const incoming = path.join(work, 'incoming');
    fs.mkdirSync(incoming);
    for (let i = 0; i < 6; i++) sineFile(incoming, `t${i}.wav`, { seconds: 3, freq: 200 + 50 * i });
    const importing = runCli(server.dataDir, ['import', incoming]);
    const archive = path.join(work, 'chillfi.backup');
    const made = await runCli(server.dataDir, ['backup', archive, '--with-blobs']);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /backup written to/);
    assert.equal(fs.statSync(archive).mode & 0o777, 0o600, 'the archive holds secrets');
    assert.equal((await importing).code, 0);
    alice.close();

    const restoredDir = path.join(work, 'restored');
    const restored = await runCli(restoredDir, ['restore', archive]);
    assert.equal(restored.code, 0, restored.stderr);
    const again = await new Server({ dataDir: restoredDir }).start();
    try {
      const s = await connect(again, { token });
      assert.equal(s.session.user?.username, 'alice', 'the old token still signs in');
      const list = await ok(s, 'song:list', { limit: 100 });
      for (const song of songs) assert.ok(list.items.some((x) => x.id === song.id), `${song.title} is back`);
      for (const song of list.items) {
        const play = await ok(s, 'song:play', { songId: song.id });
        const res = await fetch(absolute(again, play.url));
        assert.equal(res.status, 200, `${song.title} streams`);
        assert.ok((await res.arrayBuffer()).byteLength > 1000);
      }
      const lists = await ok(s, 'playlist:list');
      const p = lists.items.find((x) => x.id === playlist.id);
      assert.ok(p, 'the playlist is back');
      assert.equal((await ok(s, 'playlist:get', { playlistId: playlist.id })).playlist.songIds.length, 2);
      const shares = await ok(s, 'share:list', { kind: 'song', id: songs[0].id });
      assert.ok(shares.items.some((x) => x.shareId === share.shareId), 'the share is back');
      assert.equal((await fetch(`${again.url}/s/${share.token}`)).status, 200, 'and its link works');
      assert.deepEqual((await ok(s, 'player:queue')).songIds, [songs[1].id, songs[0].id], 'the queue is back');
      const { socket: viaPassword } = await login(again, ALICE);
      viaPassword.close();
      s.close();
    } finally {
      await again.stop();
    }
  });

  it('refuses a directory that is not empty, and a damaged archive, leaving nothing behind', async () => {
    const archive = path.join(work, 'small.backup');
    assert.equal((await runCli(server.dataDir, ['backup', archive])).code, 0);
    const busy = await runCli(server.dataDir, ['restore', archive]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /is not empty/);

    const bytes = fs.readFileSync(archive);
    bytes[700] ^= 0xff; // inside the first member's data
    const damagedFile = path.join(work, 'damaged.backup');
    fs.writeFileSync(damagedFile, bytes);
    const target = path.join(work, 'from-damaged');
    const r = await runCli(target, ['restore', damagedFile]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /damaged/);
    assert.deepEqual(fs.readdirSync(target), [], 'nothing half-restored is left');
  });
});
