// Share links against the real binary: created over Socket.IO, opened over plain HTTP without an
// account (page, byte-range streams, cover), and every way a link stops working.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, call, flacWithCover, login, ok, sineFile, sleep, startServer, uploadSongs,
} from './harness.mjs';

const BOB = { name: 'bob', password: 'bob-pass-123', admin: false };
const NASTY = `<script>alert("x")</script> & 'Song'`;

async function get(server, urlPath, init = {}) {
  const res = await fetch(`${server.url}${urlPath}`, { redirect: 'manual', ...init });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
}

const linkPath = (share) => new URL(share.url).pathname;
const randomToken = () => crypto.randomBytes(32).toString('base64url');

describe('share links', () => {
  let server;
  let media;
  let song; // with cover art and a title full of markup
  let other; // another of alice's songs
  let mp3; // the stored file of `song`
  let alice;
  let bob;
  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-share-media-'));
    server = await startServer({ users: [ADMIN, ALICE, BOB] });
    ({ socket: alice } = await login(server, ALICE));
    ({ socket: bob } = await login(server, BOB));
    [song, other] = await uploadSongs(alice, [
      { file: flacWithCover(media, 'nasty.flac', { seconds: 6, title: NASTY, album: 'Share Album' }) },
      { file: sineFile(media, 'plain.wav', { seconds: 2, freq: 610 }), metadata: { title: 'Plain', album: 'Elsewhere' } },
    ]);
    mp3 = fs.readFileSync(path.join(server.dataDir, 'blobs', 'songs', `${song.hash}.mp3`));
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await server.stop();
    fs.rmSync(media, { recursive: true, force: true });
  });

  it('opens a song link without an account: page, cover, ranges, and play counting', async () => {
    const share = await ok(alice, 'share:create', { kind: 'song', id: song.id, ownerId: 'ignored' });
    assert.match(share.token, /^[A-Za-z0-9_-]{43,}$/, '≥ 256 bits, URL-safe');
    assert.equal(share.url, `${server.url}/s/${share.token}`, 'absolute, from the address the client used');
    assert.equal(share.kind, 'song');
    assert.equal(share.id, song.id);
    assert.equal(share.title, NASTY);
    assert.equal(share.expiresAt, null);
    assert.equal(share.maxPlays, null);
    assert.equal(share.plays, 0);
    assert.ok(share.shareId && share.shareId !== share.token);

    const page = await get(server, linkPath(share));
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    // one script, the page's own file (the CSP allows no inline script); the title is escaped
    assert.deepEqual(page.text.match(/<script[^>]*>/g), ['<script src="/share/page.js" defer>']);
    assert.ok(page.text.includes('<script src="/share/page.js" defer></script>'), 'no inline script');
    assert.ok(!page.text.includes(' style='), 'no inline style (the CSP forbids it)');
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Song&#39;';
    assert.ok(page.text.includes(`<meta property="og:title" content="${escaped}">`), page.text);
    assert.ok(page.text.includes(`<title>${escaped} · ChillFi</title>`));
    assert.match(page.text, /<meta property="og:description" content="Test Artist · Share Album">/);
    assert.match(page.text, /<meta property="og:type" content="music\.song">/);
    assert.ok(page.text.includes(`<meta property="og:image" content="${server.url}/s/${share.token}/art">`));
    assert.ok(page.text.includes(`<audio controls preload="none" src="/s/${share.token}/stream/${song.id}"></audio>`));

    const art = await get(server, `/s/${share.token}/art`);
    assert.equal(art.status, 200);
    assert.equal(art.headers.get('content-type'), 'image/png');
    assert.equal(art.body.subarray(1, 4).toString(), 'PNG');

    const plays = async () => (await ok(alice, 'share:list', { kind: 'song', id: song.id })).items.find((s) => s.shareId === share.shareId).plays;
    const stream = `/s/${share.token}/stream/${song.id}`;
    const full = await get(server, stream);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('content-type'), 'audio/mpeg');
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    assert.ok(full.body.equals(mp3), 'the stored MP3, byte for byte');
    assert.equal(await plays(), 1, 'a GET is a play');
    // The counted answer hands out the ticket a browser sends back when it seeks.
    const ticket = full.headers.get('set-cookie').split(';')[0];
    assert.match(ticket, /^chillfi_play=\d+\.[0-9a-f]{64}$/);
    const cookie = { Cookie: ticket };

    const part = await get(server, stream, { headers: { Range: 'bytes=1000-4999', ...cookie } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-4999/${mp3.length}`);
    assert.ok(part.body.equals(full.body.subarray(1000, 5000)), 'the matching slice');
    const tail = await get(server, stream, { headers: { Range: 'bytes=-100', ...cookie } });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(mp3.subarray(mp3.length - 100)));
    const head = await get(server, stream, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(mp3.length));
    assert.equal(head.body.length, 0);
    const probe = await get(server, stream, { headers: { Range: 'bytes=0-1', ...cookie } });
    assert.equal(probe.status, 206);
    const unsatisfiable = await get(server, stream, { headers: { Range: `bytes=${mp3.length}-` } });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(await plays(), 1, 'seeking with the ticket, HEAD and errors are not plays');
    const fromZero = await get(server, stream, { headers: { Range: 'bytes=0-' } });
    assert.equal(fromZero.status, 206);
    assert.ok(fromZero.body.equals(mp3));
    assert.equal(await plays(), 2, 'without the ticket, a range is a new play');
    const seekAway = await get(server, stream, { headers: { Range: 'bytes=5000-' } });
    assert.equal(seekAway.status, 206);
    assert.equal(await plays(), 3, 'from any offset');

    // Only songs of the link.
    assert.equal((await get(server, `/s/${share.token}/stream/${other.id}`)).status, 404);
    assert.equal((await get(server, `/s/${share.token}/stream/nope`)).status, 404);
    // The token is the only key: the normal stream route wants its signature.
    assert.equal((await get(server, `/stream/${song.id}`)).status, 403);
  });

  it('validates what it creates and keeps links private to their creator', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      [{ kind: 'artist', id: song.artistId }, 'invalid', 'kind'],
      [{ kind: 'song', id: song.id, expiresAt: now - 5 }, 'invalid', 'expiresAt'],
      [{ kind: 'song', id: song.id, expiresAt: now + 11 * 366 * 86400 }, 'invalid', 'expiresAt'],
      [{ kind: 'song', id: song.id, expiresAt: 'tomorrow' }, 'invalid', 'expiresAt'],
      [{ kind: 'song', id: song.id, maxPlays: 0 }, 'invalid', 'maxPlays'],
      [{ kind: 'song', id: song.id, maxPlays: 1_000_001 }, 'invalid', 'maxPlays'],
      [{ kind: 'song', id: song.id, maxPlays: 1.5 }, 'invalid', 'maxPlays'],
      [{ kind: 'song', id: 'no-such-song' }, 'not_found'],
      [{ kind: 'album', id: 'no-such-album' }, 'not_found'],
      [{ kind: 'playlist', id: 'no-such-playlist' }, 'not_found'],
    ];
    for (const [payload, code, field] of cases) {
      const res = await call(alice, 'share:create', payload);
      assert.equal(res.error?.code, code, JSON.stringify(payload));
      if (field) assert.equal(res.error.field, field, JSON.stringify(payload));
    }
    // Everyone may share any song; a private playlist only its owner (and whoever it is shared with).
    const bobsLink = await ok(bob, 'share:create', { kind: 'song', id: song.id, maxPlays: 1_000_000 });
    const secret = (await ok(alice, 'playlist:create', { name: 'Secret', songIds: [song.id] })).playlist;
    assert.equal((await call(bob, 'share:create', { kind: 'playlist', id: secret.id })).error.code, 'not_found');

    const aliceList = (await ok(alice, 'share:list')).items;
    assert.ok(!aliceList.some((s) => s.shareId === bobsLink.shareId), 'only your own links');
    assert.ok(aliceList.every((s) => !('token' in s) && !('url' in s)), 'tokens are shown once');
    assert.equal((await call(alice, 'share:revoke', { shareId: bobsLink.shareId })).error.code, 'not_found');
    assert.equal((await get(server, linkPath(bobsLink))).status, 200, 'still works');
    assert.equal((await call(alice, 'share:list', { kind: 'video' })).error.field, 'kind');
    const { socket: admin } = await login(server, ADMIN);
    assert.ok((await ok(admin, 'share:list')).items.some((s) => s.shareId === bobsLink.shareId), 'admins see all links');
    assert.deepEqual(await ok(admin, 'share:revoke', { shareId: bobsLink.shareId }), { shareId: bobsLink.shareId });
    assert.equal((await get(server, linkPath(bobsLink))).status, 404);
    admin.close();
  });

  it('stops working when used up, revoked, expired, or its item is deleted; all alike', async () => {
    const unknown = await get(server, `/s/${randomToken()}`);
    assert.equal(unknown.status, 404);
    assert.equal((await get(server, '/s/short')).status, 404);
    assert.equal((await get(server, `/s/${randomToken()}/stream/${song.id}`)).status, 404);
    assert.equal((await get(server, `/s/${randomToken()}/art`)).status, 404);

    // Play limit: two plays, then new plays are refused.
    const limited = await ok(alice, 'share:create', { kind: 'song', id: song.id, maxPlays: 2 });
    assert.equal(limited.maxPlays, 2);
    const stream = `/s/${limited.token}/stream/${song.id}`;
    const firstPlay = await get(server, stream);
    assert.equal(firstPlay.status, 200);
    assert.equal((await get(server, stream, { headers: { Range: 'bytes=0-' } })).status, 206);
    const third = await get(server, stream);
    assert.equal(third.status, 404, 'no third play');
    assert.equal(third.text, unknown.text, 'the same answer as an unknown token');
    assert.equal((await get(server, linkPath(limited))).status, 404, 'the page too');
    // Seeking within a counted play still works, with its ticket (and only with it).
    const ticket = firstPlay.headers.get('set-cookie').split(';')[0];
    assert.equal((await get(server, stream, { headers: { Range: 'bytes=5000-', Cookie: ticket } })).status, 206);
    assert.equal((await get(server, stream, { headers: { Range: 'bytes=5000-' } })).status, 404);
    const info = (await ok(alice, 'share:list', { id: song.id })).items.find((s) => s.shareId === limited.shareId);
    assert.equal(info.plays, 2);

    // Revoked.
    const revoked = await ok(alice, 'share:create', { kind: 'song', id: song.id });
    assert.equal((await get(server, linkPath(revoked))).status, 200);
    assert.deepEqual(await ok(alice, 'share:revoke', { shareId: revoked.shareId }), { shareId: revoked.shareId });
    const afterRevoke = await get(server, linkPath(revoked));
    assert.equal(afterRevoke.status, 404);
    assert.equal(afterRevoke.text, unknown.text);
    assert.equal((await get(server, `/s/${revoked.token}/stream/${song.id}`)).status, 404);
    assert.equal((await call(alice, 'share:revoke', { shareId: revoked.shareId })).error.code, 'not_found');
    assert.ok(!(await ok(alice, 'share:list')).items.some((s) => s.shareId === revoked.shareId));

    // Expired.
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const expiring = await ok(alice, 'share:create', { kind: 'song', id: song.id, expiresAt });
    assert.equal(expiring.expiresAt, expiresAt);
    assert.equal((await get(server, linkPath(expiring))).status, 200);
    while (Date.now() / 1000 < expiresAt + 1) await sleep(200);
    const expired = await get(server, linkPath(expiring));
    assert.equal(expired.status, 404);
    assert.equal(expired.text, unknown.text);
    assert.equal((await get(server, `/s/${expiring.token}/stream/${song.id}`, { headers: { Range: 'bytes=100-' } })).status, 404);

    // A playlist link serves exactly the playlist's songs, and dies with the playlist.
    const pl = (await ok(alice, 'playlist:create', { name: 'Linked <i>list</i>', description: 'two songs', songIds: [other.id, song.id] })).playlist;
    const plLink = await ok(alice, 'share:create', { kind: 'playlist', id: pl.id });
    assert.equal(plLink.title, 'Linked <i>list</i>');
    const plPage = await get(server, linkPath(plLink));
    assert.equal(plPage.status, 200);
    assert.ok(plPage.text.includes('<h1>Linked &lt;i&gt;list&lt;/i&gt;</h1>'));
    assert.match(plPage.text, /og:type" content="music\.playlist"/);
    const order = [other.id, song.id].map((id) => plPage.text.indexOf(`/stream/${id}"`));
    assert.ok(order[0] > 0 && order[1] > order[0], 'songs in playlist order');
    assert.equal((await get(server, `/s/${plLink.token}/stream/${other.id}`)).status, 200);
    await ok(alice, 'playlist:removeSongs', { playlistId: pl.id, indexes: [0] });
    assert.equal((await get(server, `/s/${plLink.token}/stream/${other.id}`)).status, 404, 'removed from the playlist');
    await ok(alice, 'playlist:delete', { playlistId: pl.id });
    assert.equal((await get(server, linkPath(plLink))).status, 404);
    assert.ok(!(await ok(alice, 'share:list')).items.some((s) => s.shareId === plLink.shareId));

    // An album link, and a song link whose song is deleted.
    const albumLink = await ok(alice, 'share:create', { kind: 'album', id: song.albumId });
    assert.equal(albumLink.title, 'Share Album');
    const albumPage = await get(server, linkPath(albumLink));
    assert.equal(albumPage.status, 200);
    assert.ok(albumPage.text.includes(`/s/${albumLink.token}/stream/${song.id}"`));
    assert.ok(!albumPage.text.includes(other.id), 'only the album\'s songs');
    const otherLink = await ok(alice, 'share:create', { kind: 'song', id: other.id });
    assert.equal((await get(server, linkPath(otherLink))).status, 200);
    await ok(alice, 'song:delete', { songId: other.id });
    assert.equal((await get(server, linkPath(otherLink))).status, 404);
    assert.equal((await get(server, `/s/${otherLink.token}/stream/${other.id}`)).status, 404);
  });
});

describe('share link guessing', () => {
  let server;
  before(async () => {
    server = await startServer({ users: [ALICE] });
  });
  after(async () => {
    await server.stop();
  });

  it('answers 429 with Retry-After after 30 unknown tokens from one address', async () => {
    const { socket } = await login(server, ALICE);
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-share-rl-'));
    const [song] = await uploadSongs(socket, [{ file: sineFile(media, 'rl.wav', { seconds: 1 }) }]);
    const good = await ok(socket, 'share:create', { kind: 'song', id: song.id });
    assert.equal((await get(server, linkPath(good))).status, 200, 'working links do not count');
    for (let i = 0; i < 30; i++) {
      const res = await get(server, i % 3 === 0 ? `/s/${randomToken()}/stream/${song.id}` : `/s/${randomToken()}`);
      assert.equal(res.status, 404, `guess ${i + 1}`);
    }
    const limited = await get(server, `/s/${randomToken()}`);
    assert.equal(limited.status, 429);
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 600, `Retry-After ${retry}`);
    // While limited, even a working token gets no answer about itself.
    assert.equal((await get(server, linkPath(good))).status, 429);
    assert.equal((await get(server, `/s/${good.token}/stream/${song.id}`)).status, 429);
    // The signed-in API is not affected.
    assert.equal((await ok(socket, 'share:list')).items.length, 1);
    socket.close();
    fs.rmSync(media, { recursive: true, force: true });
  });
});
