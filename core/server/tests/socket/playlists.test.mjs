// Playlists over Socket.IO against the real binary: editing, the access rules between users, and
// the pushes other sockets get (playlist:updated / deleted / shared).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, call, connect, login, ok, record, sineFile, startServer, uploadSongs, waitForMatch, waitUntil,
} from './harness.mjs';

const BOB = { name: 'bob', password: 'bob-pass-123', admin: false };

describe('playlists', () => {
  let server;
  let media;
  let songs; // uploaded by alice: three short sines
  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-pl-media-'));
    server = await startServer({ users: [ADMIN, ALICE, BOB] });
    const { socket } = await login(server, ALICE);
    songs = await uploadSongs(socket, [300, 400, 500].map((freq, i) => ({
      file: sineFile(media, `tone${i}.wav`, { seconds: 1 + i, freq }),
      metadata: { title: `Tone ${i}` },
    })));
    socket.close();
  });
  after(async () => {
    await server.stop();
    fs.rmSync(media, { recursive: true, force: true });
  });

  it('creates, lists, reads, renames, adds, removes, reorders and deletes', async () => {
    const [s0, s1, s2] = songs.map((s) => s.id);
    const { socket: alice, user: aliceUser } = await login(server, ALICE);
    const { socket: alice2 } = await login(server, ALICE, ['polling']);
    const { user: bobUser } = await login(server, BOB);
    const updates = record(alice2, 'playlist:updated');
    const createdPush = waitForMatch(alice2, 'playlist:updated', (x) => x.playlist.name === 'Morning <b>mix</b>');

    const created = await ok(alice, 'playlist:create', {
      name: '  Morning <b>mix</b>  ', description: 'for the train', songIds: [s0, s1, s0],
      ownerId: bobUser.id, surprise: true, // both ignored
    });
    const p = created.playlist;
    assert.equal(p.name, 'Morning <b>mix</b>', 'trimmed, kept verbatim');
    assert.equal(p.description, 'for the train');
    assert.equal(p.ownerId, aliceUser.id, 'the owner is the caller, whatever the payload says');
    assert.equal(p.ownerName, aliceUser.displayName);
    assert.equal(p.isPublic, false);
    assert.deepEqual(p.songIds, [s0, s1, s0], 'a song may appear twice');
    assert.equal(p.songCount, 3);
    assert.equal(p.durationMs, songs[0].durationMs * 2 + songs[1].durationMs);
    assert.deepEqual(p.sharedWith, []);
    assert.ok(p.createdAt > 1_600_000_000 && p.updatedAt >= p.createdAt);
    assert.deepEqual((await createdPush).playlist, p, 'a second client of the owner is told');

    for (const [payload, field] of [
      [{ name: '' }, 'name'], [{ name: '   ' }, 'name'], [{ name: 'x'.repeat(101) }, 'name'],
      [{ name: 'bell\u0007' }, 'name'], [{ name: 'two\nlines' }, 'name'],
      [{ name: 'ok', description: 'd'.repeat(1001) }, 'description'],
      [{ name: 'ok', songIds: [s0, 'no-such-song'] }, 'songIds'],
      [{}, 'name'],
    ]) {
      const res = await call(alice, 'playlist:create', payload);
      assert.equal(res.error?.code, 'invalid', JSON.stringify(payload));
      assert.equal(res.error.field, field, JSON.stringify(payload));
    }
    const wrongType = await call(alice, 'playlist:create', { name: 'x', songIds: 'not a list' });
    assert.equal(wrongType.error.code, 'invalid');
    assert.ok((await ok(alice, 'playlist:create', { name: 'é'.repeat(100) })).playlist.id, '100 characters are fine');

    const listed = await ok(alice, 'playlist:list');
    assert.deepEqual(listed.items.find((x) => x.id === p.id), p);

    const got = await ok(alice, 'playlist:get', { playlistId: p.id });
    assert.deepEqual(got.playlist, p);
    assert.deepEqual(got.songs.map((s) => s.id), [s0, s1, s0], 'songs in playlist order');
    assert.equal(got.songs[1].title, 'Tone 1');
    assert.ok('playCount' in got.songs[0] && 'coverUrl' in got.songs[0], 'wire Songs');

    const renamed = (await ok(alice, 'playlist:update', { playlistId: p.id, name: 'Evening', description: '' })).playlist;
    assert.equal(renamed.name, 'Evening');
    assert.equal(renamed.description, '');
    assert.equal(renamed.isPublic, false, 'untouched fields stay');
    assert.equal((await call(alice, 'playlist:update', { playlistId: p.id, name: ' ' })).error.field, 'name');

    let now = (await ok(alice, 'playlist:addSongs', { playlistId: p.id, songIds: [s2], position: 0 })).playlist;
    assert.deepEqual(now.songIds, [s2, s0, s1, s0]);
    now = (await ok(alice, 'playlist:addSongs', { playlistId: p.id, songIds: [s1] })).playlist;
    assert.deepEqual(now.songIds, [s2, s0, s1, s0, s1], 'appended by default');
    assert.equal(now.songCount, 5);
    assert.equal((await call(alice, 'playlist:addSongs', { playlistId: p.id, songIds: [s1], position: 6 })).error.field, 'position');
    assert.equal((await call(alice, 'playlist:addSongs', { playlistId: p.id, songIds: ['nope'] })).error.field, 'songIds');

    now = (await ok(alice, 'playlist:removeSongs', { playlistId: p.id, indexes: [4, 1] })).playlist;
    assert.deepEqual(now.songIds, [s2, s1, s0], 'removed by position, not by id');
    assert.equal((await call(alice, 'playlist:removeSongs', { playlistId: p.id, indexes: [3] })).error.field, 'indexes');

    now = (await ok(alice, 'playlist:reorder', { playlistId: p.id, songIds: [s0, s2, s1] })).playlist;
    assert.deepEqual(now.songIds, [s0, s2, s1]);
    for (const bad of [[s0, s2], [s0, s2, s1, s1], [s0, s2, s2], [s0, s2, 'x']]) {
      const res = await call(alice, 'playlist:reorder', { playlistId: p.id, songIds: bad });
      assert.equal(res.error?.field, 'songIds', JSON.stringify(bad));
    }
    assert.deepEqual((await ok(alice, 'playlist:get', { playlistId: p.id })).playlist.songIds, [s0, s2, s1], 'failed edits change nothing');

    // One push per change, in order, the last one the final state.
    await waitUntil(() => updates.filter((x) => x.playlist.id === p.id).length === 6, 10000, 'six pushes');
    const mine = updates.filter((x) => x.playlist.id === p.id).map((x) => x.playlist);
    assert.deepEqual(mine.map((x) => x.songCount), [3, 3, 4, 5, 3, 3]);
    assert.deepEqual(mine.at(-1), (await ok(alice, 'playlist:get', { playlistId: p.id })).playlist);

    const deletedPush = waitForMatch(alice2, 'playlist:deleted', (x) => x.playlistId === p.id);
    assert.deepEqual(await ok(alice, 'playlist:delete', { playlistId: p.id }), { playlistId: p.id });
    await deletedPush;
    assert.equal((await call(alice, 'playlist:get', { playlistId: p.id })).error.code, 'not_found');
    assert.equal((await call(alice, 'playlist:delete', { playlistId: p.id })).error.code, 'not_found');
    assert.ok(!(await ok(alice, 'playlist:list')).items.some((x) => x.id === p.id));
    for (const s of [alice, alice2]) s.close();
  });

  it('hides private playlists from others and lets only the owner (or an admin) change them', async () => {
    const { socket: alice } = await login(server, ALICE);
    const { socket: bob } = await login(server, BOB);
    const { socket: admin } = await login(server, ADMIN);
    const [s0, s1] = songs.map((s) => s.id);
    const secret = (await ok(alice, 'playlist:create', { name: 'Secret', songIds: [s0] })).playlist;
    const open = (await ok(alice, 'playlist:create', { name: 'Open', songIds: [s0, s1], isPublic: true })).playlist;

    const notFound = [
      ['playlist:get', { playlistId: secret.id }],
      ['playlist:update', { playlistId: secret.id, name: 'mine now' }],
      ['playlist:delete', { playlistId: secret.id }],
      ['playlist:addSongs', { playlistId: secret.id, songIds: [s1] }],
      ['playlist:removeSongs', { playlistId: secret.id, indexes: [0] }],
      ['playlist:reorder', { playlistId: secret.id, songIds: [s0] }],
      ['playlist:shareWith', { playlistId: secret.id, usernames: ['bob'] }],
      ['share:create', { kind: 'playlist', id: secret.id }],
      ['playlist:get', { playlistId: 'no-such-playlist' }],
    ];
    for (const [event, payload] of notFound) {
      const res = await call(bob, event, payload);
      assert.equal(res.error?.code, 'not_found', `${event}: ${JSON.stringify(res)}`);
    }
    // The same answer whether the playlist exists or not: nothing leaks.
    const missing = await call(bob, 'playlist:get', { playlistId: 'no-such-playlist' });
    const hidden = await call(bob, 'playlist:get', { playlistId: secret.id });
    assert.deepEqual(hidden, missing);

    const bobList = (await ok(bob, 'playlist:list')).items.map((x) => x.id);
    assert.ok(bobList.includes(open.id), 'public playlists are listed for everyone');
    assert.ok(!bobList.includes(secret.id));
    assert.deepEqual((await ok(bob, 'playlist:get', { playlistId: open.id })).playlist.songIds, [s0, s1]);

    const forbidden = [
      ['playlist:update', { playlistId: open.id, name: 'hijacked' }],
      ['playlist:update', { playlistId: open.id, isPublic: false }],
      ['playlist:delete', { playlistId: open.id }],
      ['playlist:addSongs', { playlistId: open.id, songIds: [s1] }],
      ['playlist:removeSongs', { playlistId: open.id, indexes: [0] }],
      ['playlist:reorder', { playlistId: open.id, songIds: [s1, s0] }],
      ['playlist:shareWith', { playlistId: open.id, usernames: ['admin'] }],
    ];
    for (const [event, payload] of forbidden) {
      const res = await call(bob, event, payload);
      assert.equal(res.error?.code, 'forbidden', `${event}: ${JSON.stringify(res)}`);
    }
    const still = (await ok(alice, 'playlist:get', { playlistId: open.id })).playlist;
    assert.equal(still.name, 'Open');
    assert.deepEqual(still.songIds, [s0, s1], 'refused edits changed nothing');

    // An administrator may read and moderate anything; ownership stays.
    assert.equal((await ok(admin, 'playlist:get', { playlistId: secret.id })).playlist.name, 'Secret');
    const moderated = (await ok(admin, 'playlist:update', { playlistId: secret.id, name: 'Moderated' })).playlist;
    assert.equal(moderated.name, 'Moderated');
    assert.equal(moderated.ownerId, secret.ownerId);
    assert.ok(!(await ok(admin, 'playlist:list')).items.some((x) => x.id === secret.id), 'not in the admin\'s own list');
    const anonSocket = await connect(server);
    assert.equal((await call(anonSocket, 'playlist:list')).error.code, 'unauthenticated');
    anonSocket.close();
    for (const s of [alice, bob, admin]) s.close();
  });

  it('shares with users, pushes to the right sockets, and follows visibility changes', async () => {
    const { socket: alice, user: aliceUser } = await login(server, ALICE);
    const { socket: bob, user: bobUser } = await login(server, BOB);
    const { socket: admin } = await login(server, ADMIN);
    const bobUpdates = record(bob, 'playlist:updated');
    const adminUpdates = record(admin, 'playlist:updated');
    const [s0, s1, s2] = songs.map((s) => s.id);

    const p = (await ok(alice, 'playlist:create', { name: 'For Bob', songIds: [s0] })).playlist;
    await ok(alice, 'playlist:addSongs', { playlistId: p.id, songIds: [s1] });
    // A public playlist's changes reach every signed-in socket; use one as a barrier.
    const barrier = [bob, admin].map((s) => waitForMatch(s, 'playlist:updated', (x) => x.playlist.name === 'Everyone'));
    const pub = (await ok(alice, 'playlist:create', { name: 'Everyone', isPublic: true, songIds: [s2] })).playlist;
    await Promise.all(barrier);
    assert.ok(!bobUpdates.some((x) => x.playlist.id === p.id), 'others never hear of a private playlist');
    assert.ok(!adminUpdates.some((x) => x.playlist.id === p.id));

    const unknown = await call(alice, 'playlist:shareWith', { playlistId: p.id, usernames: ['bob', 'nobody-here'] });
    assert.equal(unknown.error.code, 'invalid');
    assert.equal(unknown.error.field, 'usernames');
    assert.deepEqual((await ok(alice, 'playlist:get', { playlistId: p.id })).playlist.sharedWith, [], 'all or nothing');

    const shared = waitForMatch(bob, 'playlist:shared', (x) => x.playlist.id === p.id);
    const answer = (await ok(alice, 'playlist:shareWith', { playlistId: p.id, usernames: ['BOB'] })).playlist;
    assert.deepEqual(answer.sharedWith, [{ id: bobUser.id, username: 'bob', displayName: bobUser.displayName }]);
    const push = await shared;
    assert.deepEqual(push.playlist, answer);
    assert.deepEqual(push.by, { id: aliceUser.id, username: 'alice', displayName: aliceUser.displayName });

    assert.ok((await ok(bob, 'playlist:list')).items.some((x) => x.id === p.id), 'shared playlists are listed');
    assert.deepEqual((await ok(bob, 'playlist:get', { playlistId: p.id })).songs.map((s) => s.id), [s0, s1]);
    assert.equal((await call(bob, 'playlist:update', { playlistId: p.id, name: 'x' })).error.code, 'forbidden', 'sharing is read-only');
    assert.equal((await call(admin, 'playlist:get', { playlistId: p.id })).ok, true);
    assert.ok(!(await ok(admin, 'playlist:list')).items.some((x) => x.id === p.id), 'not shared with the admin');

    // Changes now reach bob too, and a deletion tells him.
    const bobSees = waitForMatch(bob, 'playlist:updated', (x) => x.playlist.id === p.id && x.playlist.name === 'For Bob, v2');
    await ok(alice, 'playlist:update', { playlistId: p.id, name: 'For Bob, v2' });
    await bobSees;

    // Public -> private: sockets that can no longer see it are told it is gone.
    const adminGone = waitForMatch(admin, 'playlist:deleted', (x) => x.playlistId === pub.id);
    await ok(alice, 'playlist:update', { playlistId: pub.id, isPublic: false });
    await adminGone;
    assert.equal((await call(admin, 'playlist:list')).data.items.some((x) => x.id === pub.id), false);
    assert.equal((await call(bob, 'playlist:get', { playlistId: pub.id })).error.code, 'not_found');

    const bobGone = waitForMatch(bob, 'playlist:deleted', (x) => x.playlistId === p.id);
    await ok(alice, 'playlist:delete', { playlistId: p.id });
    await bobGone;
    assert.equal((await call(bob, 'playlist:get', { playlistId: p.id })).error.code, 'not_found');
    for (const s of [alice, bob, admin]) s.close();
  });

  it('skips songs that were deleted', async () => {
    const { socket: alice } = await login(server, ALICE);
    const extra = await uploadSongs(alice, [{ file: sineFile(media, 'gone.wav', { seconds: 1, freq: 880 }), metadata: { title: 'Soon gone' } }]);
    const [s0] = songs.map((s) => s.id);
    const gone = extra[0].id;
    const p = (await ok(alice, 'playlist:create', { name: 'Fragile', songIds: [s0, gone, s0] })).playlist;
    assert.equal(p.songCount, 3);
    await ok(alice, 'song:delete', { songId: gone });
    const after = await ok(alice, 'playlist:get', { playlistId: p.id });
    assert.deepEqual(after.playlist.songIds, [s0, s0]);
    assert.equal(after.playlist.songCount, 2);
    assert.equal(after.playlist.durationMs, songs[0].durationMs * 2);
    assert.deepEqual(after.songs.map((s) => s.id), [s0, s0]);
    // Indexes refer to the list as read (without the deleted song).
    const edited = (await ok(alice, 'playlist:removeSongs', { playlistId: p.id, indexes: [1] })).playlist;
    assert.deepEqual(edited.songIds, [s0]);
    assert.equal((await call(alice, 'playlist:addSongs', { playlistId: p.id, songIds: [gone] })).error.field, 'songIds');
    alice.close();
  });
});
