// Browse, search, play (Range on both blob backends), edit, delete, queue and stats, through the
// official socket.io-client against the real binary; a second client observes every broadcast.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, call, connect, flacWithCover, login, ok, record, sineFile, sleep, startS3, startServer,
  uploadSongs, waitForMatch,
} from './harness.mjs';

const BOB = { name: 'bob', password: 'bob-pass-12', admin: false };

const backends = [{ name: 'local' }, { name: 's3' }];

/** Absolute URL of a `song:play` answer (local URLs are same-origin paths). */
const absolute = (server, url) => (url.startsWith('/') ? `${server.url}${url}` : url);

for (const backend of backends) {
  describe(`library on the ${backend.name} backend`, () => {
    let server;
    let media;
    let alice; // uploads
    let bob; // a second user, watching broadcasts
    let admin;
    let songs; // [beyonce, flac, quiet]

    before(async () => {
      media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-lib-'));
      let env = { CHILLFI_PLAYBACK__URL_TTL_SECS: '4' };
      if (backend.name === 's3') {
        backend.s3 = await startS3();
        env = { ...env, ...backend.s3.env };
      }
      server = await startServer({ users: [ADMIN, ALICE, BOB], env });
      alice = await login(server, ALICE);
      bob = await login(server, BOB, ['polling']);
      admin = await login(server, ADMIN);
      const a = sineFile(media, 'a.wav', { seconds: 3, freq: 300 });
      const b = flacWithCover(media, 'b.flac', { seconds: 12, title: 'Noise <script>alert(1)</script>', artist: 'Pink Noise', album: 'Colours' });
      const c = sineFile(media, 'c.wav', { seconds: 2, freq: 900 });
      songs = await uploadSongs(alice.socket, [
        { file: a, metadata: { title: 'Formation', artist: 'Beyoncé', album: 'Lemonade', year: 2016, track: 2 } },
        { file: b },
        { file: c, metadata: { title: 'Quiet', artist: 'beyoncé', album: 'Lemonade', year: 2016, track: 1 } },
      ]);
    });
    after(async () => {
      for (const s of [alice, bob, admin]) s?.socket.close();
      await server?.stop();
      backend.s3?.stop();
      fs.rmSync(media, { recursive: true, force: true });
    });

    it('lists, sorts, pages, filters and searches ignoring case and accents', async () => {
      const all = await ok(bob.socket, 'song:list', {});
      assert.equal(all.total, 3);
      assert.equal(all.page, 1);
      assert.equal(all.limit, 50);
      assert.ok(all.version >= 3, `version ${all.version}`);
      assert.deepEqual(all.items.map((s) => s.id), [songs[2].id, songs[1].id, songs[0].id], 'newest first by default');

      const byTitle = await ok(bob.socket, 'song:list', { sort: 'title', limit: 2, page: 1 });
      assert.deepEqual(byTitle.items.map((s) => s.title), ['Formation', 'Noise <script>alert(1)</script>']);
      assert.equal(byTitle.total, 3);
      const page2 = await ok(bob.socket, 'song:list', { sort: 'title', limit: 2, page: 2 });
      assert.deepEqual(page2.items.map((s) => s.title), ['Quiet']);
      const desc = await ok(bob.socket, 'song:list', { sort: 'title', order: 'desc', limit: 1 });
      assert.equal(desc.items[0].title, 'Quiet');

      const search = await ok(bob.socket, 'song:list', { filters: { search: 'BEYONCE lemon' } });
      assert.deepEqual(search.items.map((s) => s.title).sort(), ['Formation', 'Quiet']);
      const none = await ok(bob.socket, 'song:list', { filters: { search: 'beyonce noise' } });
      assert.equal(none.total, 0);
      const byArtist = await ok(bob.socket, 'song:list', { filters: { artist: 'BEYONCÉ' }, sort: 'album' });
      assert.deepEqual(byArtist.items.map((s) => s.title), ['Quiet', 'Formation'], 'album order follows track numbers');
      const byYear = await ok(bob.socket, 'song:list', { filters: { year: 2016, uploader: alice.user.id } });
      assert.equal(byYear.total, 2);

      const badSort = await call(bob.socket, 'song:list', { sort: 'password' });
      assert.equal(badSort.error.code, 'invalid');
      assert.equal(badSort.error.field, 'sort');
      assert.equal((await call(bob.socket, 'song:list', { limit: 501 })).error.field, 'limit');
      assert.equal((await call(bob.socket, 'song:list', { order: 'sideways' })).error.field, 'order');
      const anon = await call(await connect(server), 'song:list', {});
      assert.equal(anon.error.code, 'unauthenticated');
    });

    it('gets songs one by one and in batches, albums, artists and stats', async () => {
      const { song } = await ok(bob.socket, 'song:get', { songId: songs[1].id });
      assert.equal(song.title, 'Noise <script>alert(1)</script>', 'tags come back verbatim');
      assert.match(song.coverUrl, /^\/art\/[0-9a-f]{64}\.png$/);
      assert.equal(song.playCount, 0);
      assert.equal((await call(bob.socket, 'song:get', { songId: 'nope' })).error.code, 'not_found');

      const many = await ok(bob.socket, 'song:getMany', { ids: [songs[2].id, 'missing', songs[0].id] });
      assert.deepEqual(many.items.map((s) => s.id), [songs[2].id, songs[0].id]);
      assert.deepEqual(many.missing, ['missing']);

      const albums = await ok(bob.socket, 'album:list', {});
      assert.deepEqual(albums.items.map((a) => [a.name, a.songCount]), [['Colours', 1], ['Lemonade', 2]]);
      const lemonade = albums.items[1];
      assert.equal(lemonade.durationMs, songs[0].durationMs + songs[2].durationMs);
      const { album, songs: tracks } = await ok(bob.socket, 'album:get', { albumId: lemonade.id });
      assert.equal(album.year, 2016);
      assert.deepEqual(tracks.map((s) => s.title), ['Quiet', 'Formation']);
      const colours = (await ok(bob.socket, 'album:list', { search: 'colo' })).items;
      assert.equal(colours.length, 1);
      assert.match(colours[0].coverUrl, /^\/art\//);

      const artists = await ok(bob.socket, 'artist:list', { search: 'beyonce' });
      assert.equal(artists.total, 1);
      assert.equal(artists.items[0].songCount, 2);
      assert.equal(artists.items[0].albumCount, 1);
      const artist = await ok(bob.socket, 'artist:get', { artistId: artists.items[0].id });
      assert.equal(artist.albums[0].name, 'Lemonade');
      assert.equal(artist.songs.length, 2);

      const stats = await ok(bob.socket, 'library:stats');
      assert.equal(stats.songs, 3);
      assert.equal(stats.albums, 2);
      assert.equal(stats.artists, 2);
      assert.equal(stats.durationMs, songs.reduce((n, s) => n + s.durationMs, 0));
    });

    it('streams with HTTP Range so a browser can seek, and refuses tampered or expired URLs', async () => {
      const play = await ok(bob.socket, 'song:play', { songId: songs[1].id });
      assert.equal(play.song.id, songs[1].id);
      const url = absolute(server, play.url);
      if (backend.name === 'local') assert.match(play.url, /^\/stream\//);
      else assert.ok(play.url.startsWith(backend.s3.endpoint), play.url);

      const full = await fetch(url);
      assert.equal(full.status, 200);
      assert.equal(full.headers.get('content-type'), 'audio/mpeg');
      const body = Buffer.from(await full.arrayBuffer());
      assert.equal(body.length, songs[1].sizeBytes);
      assert.equal(Number(full.headers.get('content-length')), body.length);

      const part = await fetch(url, { headers: { Range: 'bytes=1000-4999' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes 1000-4999/${body.length}`);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), body.subarray(1000, 5000));
      const tail = await fetch(url, { headers: { Range: 'bytes=-100' } });
      assert.equal(tail.status, 206);
      assert.deepEqual(Buffer.from(await tail.arrayBuffer()), body.subarray(body.length - 100));
      const past = await fetch(url, { headers: { Range: `bytes=${body.length + 10}-` } });
      assert.equal(past.status, 416);

      // One changed character of the signature, and a later expiry with the old signature.
      const u = new URL(url);
      const sigName = backend.name === 'local' ? 'sig' : 'X-Amz-Signature';
      const sig = u.searchParams.get(sigName);
      u.searchParams.set(sigName, (sig[0] === '0' ? '1' : '0') + sig.slice(1));
      assert.equal((await fetch(u)).status, 403, 'modified signature');
      if (backend.name === 'local') {
        const moved = new URL(url);
        moved.searchParams.set('exp', String(Number(moved.searchParams.get('exp')) + 3600));
        assert.equal((await fetch(moved)).status, 403, 'modified expiry');
        assert.equal((await fetch(`${server.url}/stream/${songs[0].id}${new URL(url).search}`)).status, 403, 'other song');
        assert.equal((await fetch(`${server.url}/stream/..%2F..%2Fetc%2Fpasswd${new URL(url).search}`)).status, 404);
        const head = await fetch(url, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(Number(head.headers.get('content-length')), body.length);
      } else {
        const csp = (await fetch(server.url)).headers.get('content-security-policy');
        assert.match(csp, new RegExp(`media-src 'self' blob: ${backend.s3.endpoint.replace(/[.]/g, '\\.')}`), csp);
      }
      await sleep(5500);
      assert.equal((await fetch(url)).status, 403, 'expired URL');
      assert.equal((await call(bob.socket, 'song:play', { songId: 'nope' })).error.code, 'not_found');
    });

    it('serves pipeline cover art with long caching, and nothing else under /art', async () => {
      const { song } = await ok(bob.socket, 'song:get', { songId: songs[1].id });
      const res = await fetch(`${server.url}${song.coverUrl}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.match(res.headers.get('cache-control'), /immutable/);
      assert.equal(Buffer.from(await res.arrayBuffer()).subarray(1, 4).toString(), 'PNG');
      for (const bad of ['/art/../songs/x.mp3', `/art/${'0'.repeat(64)}.png`, '/art/abc.gif', `/art/${song.hash}.mp3`]) {
        assert.equal((await fetch(`${server.url}${bad}`)).status, 404, bad);
      }
    });

    it('edits tags (owner or admin), regroups albums, broadcasts, and feeds library:changes', async () => {
      const before = (await ok(bob.socket, 'library:stats')).version;
      const seen = waitForMatch(bob.socket, 'song:updated', (p) => p.song.id === songs[0].id);
      const { song } = await ok(alice.socket, 'song:update', {
        songId: songs[0].id,
        metadata: { title: '  <img src=x onerror=alert(1)>  ', album: 'Renaissance', year: 2022, track: null },
      });
      assert.equal(song.title, '<img src=x onerror=alert(1)>', 'trimmed, otherwise verbatim');
      assert.equal(song.album, 'Renaissance');
      assert.equal(song.track, null);
      const pushed = await seen;
      assert.equal(pushed.song.album, 'Renaissance', 'another user sees the edit live');
      assert.ok(pushed.version > before);
      const albums = await ok(bob.socket, 'album:list', { search: 'renaissance' });
      assert.equal(albums.total, 1);
      assert.equal((await ok(bob.socket, 'album:list', { search: 'lemonade' })).items[0].songCount, 1);

      const forbidden = await call(bob.socket, 'song:update', { songId: songs[0].id, metadata: { title: 'Mine now' } });
      assert.equal(forbidden.error.code, 'forbidden');
      const badYear = await call(alice.socket, 'song:update', { songId: songs[0].id, metadata: { year: 99999 } });
      assert.equal(badYear.error.field, 'metadata.year');
      const control = await call(alice.socket, 'song:update', { songId: songs[0].id, metadata: { artist: 'a\u0000b' } });
      assert.equal(control.error.field, 'metadata.artist');
      const byAdmin = await ok(admin.socket, 'song:update', { songId: songs[0].id, metadata: { genre: 'Pop' } });
      assert.equal(byAdmin.song.genre, 'Pop');

      const bulk = await ok(alice.socket, 'song:updateMany', { songIds: [songs[0].id, songs[2].id], metadata: { genre: 'R&B' } });
      assert.deepEqual(bulk.items.map((s) => s.genre), ['R&B', 'R&B']);
      const bulkBad = await call(bob.socket, 'song:updateMany', { songIds: [songs[0].id], metadata: { genre: 'x' } });
      assert.equal(bulkBad.error.code, 'forbidden');
      assert.equal((await ok(bob.socket, 'song:get', { songId: songs[0].id })).song.genre, 'R&B', 'all or nothing');

      const changes = await ok(bob.socket, 'library:changes', { since: before });
      assert.equal(changes.reset, false);
      assert.deepEqual(changes.upserted.map((s) => s.id).sort(), [songs[0].id, songs[2].id].sort());
      assert.deepEqual(changes.deleted, []);
      const nothing = await ok(bob.socket, 'library:changes', { since: changes.version });
      assert.deepEqual([nothing.upserted, nothing.deleted], [[], []]);
      assert.equal((await ok(bob.socket, 'library:changes', { since: changes.version + 100 })).reset, true);
    });

    it('counts listens, keeps history and stats, and shares the queue between a user\'s sessions', async () => {
      assert.equal((await ok(bob.socket, 'song:recordListen', { songId: songs[1].id, playedMs: 5000 })).playCount, 1);
      assert.equal((await ok(bob.socket, 'song:recordListen', { songId: songs[1].id })).playCount, 2);
      await ok(bob.socket, 'song:recordListen', { songId: songs[2].id, playedMs: 10 ** 9 });
      const history = await ok(bob.socket, 'song:getListens', {});
      assert.deepEqual(history.items.map((l) => l.song.id), [songs[2].id, songs[1].id, songs[1].id]);
      assert.equal(history.items[0].playedMs, songs[2].durationMs, 'a listen is at most the song');
      const stats = await ok(bob.socket, 'user:getStats', {});
      assert.equal(stats.totalPlays, 3);
      assert.equal(stats.topSongs[0].song.id, songs[1].id);
      assert.equal(stats.topSongs[0].plays, 2);
      assert.equal(stats.topArtists[0].artist, 'Pink Noise');
      assert.equal(stats.uploads, 0);
      assert.equal((await ok(alice.socket, 'user:getStats', {})).uploads, 3);
      assert.equal((await call(bob.socket, 'user:getStats', { userId: alice.user.id })).error.code, 'forbidden');
      assert.equal((await ok(admin.socket, 'user:getStats', { userId: bob.user.id })).totalPlays, 3);
      const uploads = await ok(alice.socket, 'user:getUploads', { limit: 2 });
      assert.equal(uploads.total, 3);
      assert.equal(uploads.items.length, 2);
      const popular = await ok(bob.socket, 'song:list', { sort: 'playCount', limit: 1 });
      assert.equal(popular.items[0].id, songs[1].id);
      assert.equal(popular.items[0].playCount, 2);

      const bob2 = await login(server, BOB);
      try {
        const pushed = waitForMatch(bob2.socket, 'player:queueUpdated', (p) => p.queue.songIds.length === 3);
        // The session that edits its queue learns the result from its ack; a push of its own
        // edit arriving later would overwrite what the player did meanwhile.
        const toSelf = record(bob.socket, 'player:queueUpdated');
        let q = await ok(bob.socket, 'player:addToQueue', { songIds: [songs[0].id, songs[1].id, songs[2].id] });
        assert.deepEqual(q.songIds, [songs[0].id, songs[1].id, songs[2].id]);
        await pushed;
        q = await ok(bob.socket, 'player:status', { current: 1, positionMs: 1500, playing: true });
        assert.deepEqual([q.current, q.positionMs, q.playing], [1, 1500, true]);
        q = await ok(bob.socket, 'player:moveInQueue', { from: 1, to: 0 });
        assert.deepEqual([q.songIds[0], q.current], [songs[1].id, 0], 'the current song moves with its entry');
        q = await ok(bob.socket, 'player:removeFromQueue', { indexes: [2] });
        assert.deepEqual(q.songIds, [songs[1].id, songs[0].id]);
        assert.equal((await call(bob.socket, 'player:moveInQueue', { from: 0, to: 9 })).error.field, 'to');
        assert.equal((await call(bob.socket, 'player:addToQueue', { songIds: ['nope'] })).error.field, 'songIds');
        assert.deepEqual(toSelf, [], 'no push of its own edits to the editing session');
        const other = await ok(bob2.socket, 'player:queue');
        assert.deepEqual(other.songIds, q.songIds, 'the other session sees the same queue');
        assert.deepEqual((await ok(alice.socket, 'player:queue')).songIds, [], 'queues are per user');
        q = await ok(bob2.socket, 'player:clearQueue');
        assert.deepEqual([q.songIds, q.current], [[], null]);
      } finally {
        bob2.socket.close();
      }
    });

    it('deletes (owner or admin): gone from lists, stream and blob, broadcast to everyone', async () => {
      const play = await ok(alice.socket, 'song:play', { songId: songs[2].id });
      const url = absolute(server, play.url);
      assert.equal((await fetch(url)).status, 200);
      const before = (await ok(bob.socket, 'library:stats')).version;
      assert.equal((await call(bob.socket, 'song:delete', { songId: songs[2].id })).error.code, 'forbidden');
      const seen = waitForMatch(bob.socket, 'song:deleted', (p) => p.songId === songs[2].id);
      assert.deepEqual(await ok(alice.socket, 'song:delete', { songId: songs[2].id }), { songId: songs[2].id });
      assert.ok((await seen).version > before);
      assert.equal((await call(bob.socket, 'song:get', { songId: songs[2].id })).error.code, 'not_found');
      assert.equal((await fetch(url)).status, 404, 'the stream URL dies with the song');
      assert.equal((await ok(bob.socket, 'song:list', {})).total, 2);
      const changes = await ok(bob.socket, 'library:changes', { since: before });
      assert.deepEqual(changes.deleted, [songs[2].id]);
      if (backend.name === 'local') {
        assert.ok(!fs.existsSync(path.join(server.dataDir, 'blobs', 'songs', `${songs[2].hash}.mp3`)), 'blob removed');
      }
      assert.equal((await call(alice.socket, 'song:delete', { songId: songs[2].id })).error.code, 'not_found');
      // The same file can be uploaded again after its deletion.
      const again = await uploadSongs(alice.socket, [{ file: path.join(media, 'c.wav') }]);
      assert.notEqual(again[0].id, songs[2].id);
    });
  });
}
