// App credentials for the Subsonic API over Socket.IO (subsonic:createKey/listKeys/revokeKey),
// their effect on /rest requests (revocation, password change and deletion take effect on the
// next request), and the per-user marks (song:star/unstar/rate, album:star/unstar): in every
// song view the caller gets, pushed live to the caller's other clients, whichever API set them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, ALICE, call, flacWithCover, login, ok, record, sineFile, sleep, startServer, uploadSongs, waitForMatch } from './harness.mjs';

const BOB = { name: 'bob', password: 'bob-pass-123', admin: false };
const DAVE = { name: 'dave', password: 'dave-pass-123', admin: false };

async function rest(server, method, params) {
  const q = new URLSearchParams({ f: 'json', c: 'node-test', v: '1.16.1', ...params });
  const r = await fetch(`${server.url}/rest/${method}?${q}`);
  const body = await r.json();
  return { status: r.status, res: body['subsonic-response'] };
}

function token(secret) {
  const salt = crypto.randomBytes(6).toString('hex');
  return { t: crypto.createHash('md5').update(secret + salt).digest('hex'), s: salt };
}

describe('subsonic credentials and song marks', () => {
  let server;
  let media;
  let song;
  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-sub-media-'));
    server = await startServer({ users: [ADMIN, ALICE, BOB, DAVE] });
    const { socket } = await login(server, ALICE);
    [song] = await uploadSongs(socket, [{ file: sineFile(media, 'tone.wav', { seconds: 1 }), metadata: { title: 'Tone' } }]);
    socket.close();
  });
  after(async () => {
    await server.stop();
    fs.rmSync(media, { recursive: true, force: true });
  });

  it('creates an API key shown once, lists it with its last use, and revokes it', async () => {
    const { socket } = await login(server, ALICE);
    const key = await ok(socket, 'subsonic:createKey', { label: 'Phone', kind: 'apiKey' });
    assert.equal(key.label, 'Phone');
    assert.equal(key.kind, 'apiKey');
    assert.match(key.secret, /^[0-9a-f]{64}$/);
    let listed = await ok(socket, 'subsonic:listKeys');
    assert.deepEqual(listed.items.map((k) => [k.id, k.lastUsedAt]), [[key.id, null]]);
    assert.equal(listed.items[0].secret, undefined, 'never listed again');

    let { status, res } = await rest(server, 'ping', { apiKey: key.secret });
    assert.equal(status, 200);
    assert.equal(res.status, 'ok');
    ({ res } = await rest(server, 'tokenInfo', { apiKey: key.secret }));
    assert.equal(res.tokenInfo.username, 'alice');
    listed = await ok(socket, 'subsonic:listKeys');
    assert.ok(listed.items[0].lastUsedAt > 0, 'use recorded');

    // Another user cannot revoke it (and cannot learn it exists).
    const { socket: bob } = await login(server, BOB);
    const denied = await call(bob, 'subsonic:revokeKey', { id: key.id });
    assert.equal(denied.error.code, 'not_found');
    assert.deepEqual((await ok(bob, 'subsonic:listKeys')).items, []);

    assert.deepEqual(await ok(socket, 'subsonic:revokeKey', { id: key.id }), { id: key.id });
    ({ res } = await rest(server, 'ping', { apiKey: key.secret }));
    assert.equal(res.status, 'failed');
    assert.equal(res.error.code, 44);
    socket.close();
    bob.close();
  });

  it('refuses bad labels and kinds', async () => {
    const { socket } = await login(server, ALICE);
    for (const payload of [{ label: '', kind: 'apiKey' }, { label: 'x', kind: 'password' }, { kind: 'apiKey' }, { label: 'a'.repeat(65), kind: 'apiKey' }]) {
      const res = await call(socket, 'subsonic:createKey', payload);
      assert.equal(res.ok, false, JSON.stringify(payload));
      assert.equal(res.error.code, 'invalid');
    }
    socket.close();
  });

  it('app passwords work with t+s until the account password changes', async () => {
    const { socket } = await login(server, BOB);
    const pw = await ok(socket, 'subsonic:createKey', { label: 'DSub', kind: 'appPassword' });
    assert.ok(pw.secret.length >= 20);
    let { res } = await rest(server, 'ping', { u: 'bob', ...token(pw.secret) });
    assert.equal(res.status, 'ok');
    ({ res } = await rest(server, 'ping', { u: 'bob', p: `enc:${Buffer.from(pw.secret).toString('hex')}` }));
    assert.equal(res.status, 'ok');
    await ok(socket, 'auth:changePassword', { currentPassword: BOB.password, newPassword: 'bob-pass-456' });
    ({ res } = await rest(server, 'ping', { u: 'bob', ...token(pw.secret) }));
    assert.equal(res.error.code, 40, 'a password change revokes app credentials');
    socket.close();
  });

  it('a deleted user\'s credentials stop working', async () => {
    const { socket: admin } = await login(server, ADMIN);
    const created = await ok(admin, 'auth:createUser', { username: 'carol', password: 'carol-pass-1', isAdmin: false });
    const { socket: carol } = await login(server, { name: 'carol', password: 'carol-pass-1' });
    const key = await ok(carol, 'subsonic:createKey', { label: 'k', kind: 'apiKey' });
    assert.equal((await rest(server, 'ping', { apiKey: key.secret })).res.status, 'ok');
    await ok(admin, 'user:delete', { userId: created.user?.id ?? created.id });
    assert.equal((await rest(server, 'ping', { apiKey: key.secret })).res.error.code, 44);
    admin.close();
    carol.close();
  });

  it('stars and rates songs per user, visible to the Subsonic API', async () => {
    const { socket } = await login(server, ALICE);
    let marks = await ok(socket, 'song:star', { songId: song.id });
    assert.equal(marks.songId, song.id);
    assert.ok(marks.starred > 0);
    marks = await ok(socket, 'song:rate', { songId: song.id, rating: 5 });
    assert.equal(marks.rating, 5);
    const key = await ok(socket, 'subsonic:createKey', { label: 'marks', kind: 'apiKey' });
    const { res } = await rest(server, 'getSong', { apiKey: key.secret, id: song.id });
    assert.equal(res.song.userRating, 5);
    assert.match(res.song.starred, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const bad = await call(socket, 'song:rate', { songId: song.id, rating: 6 });
    assert.equal(bad.error.code, 'invalid');
    const missing = await call(socket, 'song:star', { songId: 'nope' });
    assert.equal(missing.error.code, 'not_found');
    marks = await ok(socket, 'song:unstar', { songId: song.id });
    assert.equal(marks.starred, null);
    marks = await ok(socket, 'song:rate', { songId: song.id, rating: 0 });
    assert.equal(marks.rating, null);
    socket.close();
  });

  it('song views carry the caller\'s own marks; a change shows live in the caller\'s other tabs only', async () => {
    const { socket: tab1 } = await login(server, DAVE);
    const { socket: tab2 } = await login(server, DAVE);
    const { socket: alice } = await login(server, ALICE);
    const aliceHeard = record(alice, 'song:marked');
    const pushed = waitForMatch(tab2, 'song:marked', (p) => p.songId === song.id && p.rating === 4);
    await ok(tab1, 'song:star', { songId: song.id });
    await ok(tab1, 'song:rate', { songId: song.id, rating: 4 });
    const p = await pushed;
    assert.ok(p.starred > 0, 'the push says it is starred');

    const mine = (await ok(tab2, 'song:get', { songId: song.id })).song;
    assert.equal(mine.rating, 4);
    assert.equal(mine.starred, p.starred);
    const listed = (await ok(tab2, 'song:list', { search: 'Tone' })).items.find((s) => s.id === song.id);
    assert.deepEqual([listed.starred, listed.rating], [p.starred, 4]);
    const many = (await ok(tab2, 'song:getMany', { ids: [song.id] })).items[0];
    assert.equal(many.rating, 4);
    const album = await ok(tab2, 'album:get', { albumId: song.albumId });
    assert.equal(album.songs[0].rating, 4);
    assert.deepEqual((await ok(tab2, 'song:starred')).items.map((s) => s.id), [song.id]);

    // Alice's views of the same song carry her (absent) marks, and she heard nothing.
    const hers = (await ok(alice, 'song:get', { songId: song.id })).song;
    assert.deepEqual([hers.starred, hers.rating], [null, null]);
    assert.deepEqual((await ok(alice, 'song:starred')).items, []);

    // A star set from a phone app (Subsonic) reaches the web tabs too.
    const key = await ok(tab1, 'subsonic:createKey', { label: 'phone', kind: 'apiKey' });
    const unstarred = waitForMatch(tab2, 'song:marked', (m) => m.songId === song.id && m.starred === null);
    const { res } = await rest(server, 'unstar', { apiKey: key.secret, id: song.id });
    assert.equal(res.status, 'ok');
    assert.equal((await unstarred).rating, 4, 'unstarring keeps the rating');
    await sleep(300);
    assert.deepEqual(aliceHeard, []);
    for (const s of [tab1, tab2, alice]) s.close();
  });

  it('albums can be starred: album:get says so, the Subsonic API lists it, other tabs hear it', async () => {
    const { socket: tab1 } = await login(server, DAVE);
    const { socket: tab2 } = await login(server, DAVE);
    const pushed = waitForMatch(tab2, 'album:marked', (p) => p.albumId === song.albumId);
    const marks = await ok(tab1, 'album:star', { albumId: song.albumId });
    assert.ok(marks.starred > 0);
    assert.equal((await pushed).starred, marks.starred);
    assert.equal((await ok(tab2, 'album:get', { albumId: song.albumId })).album.starred, marks.starred);
    const key = await ok(tab1, 'subsonic:createKey', { label: 'albums', kind: 'apiKey' });
    const { res } = await rest(server, 'getStarred2', { apiKey: key.secret });
    assert.deepEqual((res.starred2.album ?? []).map((a) => a.id), [song.albumId]);
    assert.equal((await call(tab1, 'album:star', { albumId: 'nope' })).error.code, 'not_found');
    await ok(tab1, 'album:unstar', { albumId: song.albumId });
    assert.equal((await ok(tab2, 'album:get', { albumId: song.albumId })).album.starred, null);
    tab1.close();
    tab2.close();
  });

  it('song:lyrics answers the lyrics read from the file: LRC as timed lines, none as null', async () => {
    const { socket } = await login(server, ALICE);
    const lrc = '[00:00.25]Tick\n[00:00.75]Tock';
    const [timed] = await uploadSongs(socket, [{ file: sineFile(media, 'clock.flac', { seconds: 1, freq: 500, codec: ['-metadata', `lyrics=${lrc}`] }) }]);
    const got = await ok(socket, 'song:lyrics', { songId: timed.id });
    assert.deepEqual(got, {
      songId: timed.id,
      lyrics: { synced: true, lines: [{ startMs: 250, text: 'Tick' }, { startMs: 750, text: 'Tock' }] },
    });
    assert.equal(timed.lyrics, undefined, 'song views do not carry lyrics');
    assert.deepEqual(await ok(socket, 'song:lyrics', { songId: song.id }), { songId: song.id, lyrics: null });
    assert.equal((await call(socket, 'song:lyrics', { songId: 'nope' })).error.code, 'not_found');
    await ok(socket, 'song:delete', { songId: timed.id });
    assert.equal((await call(socket, 'song:lyrics', { songId: timed.id })).error.code, 'not_found');
    socket.close();
  });

  it('a resized cover goes with its original when the last song using it is deleted', async () => {
    const { socket } = await login(server, ALICE);
    const [covered] = await uploadSongs(socket, [{ file: flacWithCover(media, 'covered.flac', { seconds: 1, title: 'Covered' }) }]);
    const key = await ok(socket, 'subsonic:createKey', { label: 'covers', kind: 'apiKey' });
    const { res } = await rest(server, 'getSong', { apiKey: key.secret, id: covered.id });
    const art = async () => {
      const q = new URLSearchParams({ apiKey: key.secret, c: 'node-test', v: '1.16.1', id: res.song.coverArt, size: '32' });
      const r = await fetch(`${server.url}/rest/getCoverArt?${q}`);
      return { type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
    };
    const first = await art();
    assert.equal(first.type, 'image/jpeg');
    const sizedDir = path.join(server.dataDir, 'blobs', 'art-sized');
    const sized = fs.readdirSync(sizedDir);
    assert.equal(sized.length, 1, 'the resized copy is stored');
    assert.deepEqual((await art()).body, first.body, 'answered again (from the cache)');

    await ok(socket, 'song:delete', { songId: covered.id });
    const left = fs.existsSync(sizedDir) ? fs.readdirSync(sizedDir) : [];
    assert.deepEqual(left, [], 'the resized copy is deleted with the original');
    const gone = await art();
    assert.match(gone.type, /xml|json/, 'no image any more');
    assert.match(gone.body.toString(), /code="70"/);
    socket.close();
  });
});
