// App credentials for the Subsonic API over Socket.IO (subsonic:createKey/listKeys/revokeKey),
// their effect on /rest requests (revocation, password change and deletion take effect on the
// next request), and the per-user song marks (song:star/unstar/rate).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, ALICE, call, login, ok, sineFile, startServer, uploadSongs } from './harness.mjs';

const BOB = { name: 'bob', password: 'bob-pass-123', admin: false };

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
    server = await startServer({ users: [ADMIN, ALICE, BOB] });
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
});
