// Holes found by an attack run against the release binary (issue 13, items 1-5 and 10): each
// test drives the real server the way the attack did and asserts the behaviour users rely on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import {
  ALICE, BIN, call, connect, flacWithCover, login, ok, sineFile, startServer, uploadChunks,
  uploadSongs, waitForMatch, waitUntil,
} from './harness.mjs';

const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'referrer-policy'];

async function get(server, urlPath, init = {}) {
  const res = await fetch(`${server.url}${urlPath}`, { redirect: 'manual', ...init });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
}

describe('hardening', () => {
  let server;
  let media;
  let alice;
  let song;
  let mp3;
  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-hardening-'));
    // A small login allowance so that the throttled answer (429) is quick to reach.
    server = await startServer({ env: { CHILLFI_AUTH__LOGIN_ATTEMPTS_PER_IP: '3', CHILLFI_AUTH__LOGIN_ATTEMPTS_PER_USER: '3' } });
    ({ socket: alice } = await login(server, ALICE));
    [song] = await uploadSongs(alice, [{ file: sineFile(media, 'limit.wav', { seconds: 4, freq: 530 }), metadata: { title: 'Limited' } }]);
    mp3 = fs.readFileSync(path.join(server.dataDir, 'blobs', 'songs', `${song.hash}.mp3`));
  });
  after(async () => {
    alice?.close();
    await server?.stop();
    fs.rmSync(media, { recursive: true, force: true });
  });

  // Item 1: a Range request used to skip the play counter, so a one-play link served the whole
  // song any number of times.
  it('a one-play share link serves one play, whatever the ranges, and continues only that play', async () => {
    const share = await ok(alice, 'share:create', { kind: 'song', id: song.id, maxPlays: 1 });
    const stream = `/s/${share.token}/stream/${song.id}`;
    const plays = async () => (await ok(alice, 'share:list', { kind: 'song', id: song.id })).items.find((s) => s.shareId === share.shareId).plays;

    const first = await get(server, stream, { headers: { Range: 'bytes=1-' } });
    assert.equal(first.status, 206, 'the first request plays');
    assert.ok(first.body.equals(mp3.subarray(1)));
    assert.equal(await plays(), 1, 'a request from byte 1 counts like any other');
    const ticket = first.headers.get('set-cookie');
    assert.ok(ticket, 'the counted request hands out the ticket that continues its play');
    const cookie = ticket.split(';')[0];
    assert.match(ticket, new RegExp(`Path=/s/${share.token}/stream/${song.id}`, 'i'), 'the ticket is only sent to this stream');
    assert.match(ticket, /HttpOnly/i);

    let served = first.body.length;
    for (const range of ['bytes=1-', 'bytes=2-', 'bytes=0-1', `bytes=-${mp3.length - 1}`, 'bytes=0-', null]) {
      const r = await get(server, stream, range ? { headers: { Range: range } } : {});
      assert.ok([404, 429].includes(r.status), `without the ticket, ${range ?? 'a plain GET'} is a second play: ${r.status}`);
      served += r.status < 300 ? r.body.length : 0;
    }
    const post = await get(server, stream, { method: 'POST', headers: { Range: 'bytes=1-' } });
    assert.ok(post.status >= 400 && post.body.length < 1000, 'another method gets no audio');
    assert.ok(served <= mp3.length, `at most one play's worth of bytes (${served} of ${mp3.length})`);

    // The ticket continues the counted play: seeking and re-reading are free.
    const seek = await get(server, stream, { headers: { Range: 'bytes=1000-4999', Cookie: cookie } });
    assert.equal(seek.status, 206);
    assert.ok(seek.body.equals(mp3.subarray(1000, 5000)));
    const again = await get(server, stream, { headers: { Range: 'bytes=0-', Cookie: cookie } });
    assert.equal(again.status, 206);
    assert.ok(again.body.equals(mp3));
    assert.equal(await plays(), 1, 'continuing a play is not a new one');

    // A ticket belongs to its link: another link of the same song does not accept it.
    const other = await ok(alice, 'share:create', { kind: 'song', id: song.id, maxPlays: 1 });
    const otherStream = `/s/${other.token}/stream/${song.id}`;
    const forged = await get(server, otherStream, { headers: { Range: 'bytes=0-', Cookie: cookie } });
    assert.equal(forged.status, 206, "the other link's own first play");
    const otherPlays = (await ok(alice, 'share:list', { kind: 'song', id: song.id })).items.find((s) => s.shareId === other.shareId).plays;
    assert.equal(otherPlays, 1, 'a ticket of one link never continues another');
    const tampered = cookie.slice(0, -2) + (cookie.endsWith('AA') ? 'BB' : 'AA');
    assert.equal((await get(server, stream, { headers: { Range: 'bytes=0-', Cookie: tampered } })).status, 404, 'a tampered ticket is no ticket');
  });

  // Item 2: error answers used to go out without the security headers.
  it('every answer carries the security headers, errors included', async () => {
    const answers = {
      'GET /api/nope (404)': await get(server, '/api/nope'),
      'POST /api/health (405)': await get(server, '/api/health', { method: 'POST' }),
      'GET /api/auth/login (405)': await get(server, '/api/auth/login'),
      'POST /api/auth/login, bad JSON (400)': await get(server, '/api/auth/login', { method: 'POST', body: '{' }),
      'PUT /stream/x (405)': await get(server, '/stream/x', { method: 'PUT' }),
      'GET /stream/x unsigned (403)': await get(server, '/stream/x'),
      'GET /s/unknown (404)': await get(server, '/s/unknown-token'),
      'GET /missing.png (404)': await get(server, '/missing.png'),
      'GET / (200)': await get(server, '/'),
    };
    const wrong = () => get(server, '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'nobody', password: 'wrong-password' }) });
    answers['POST /api/auth/login, wrong password'] = await wrong();
    let throttled;
    for (let i = 0; i < 10 && !throttled; i++) {
      const r = await wrong();
      if (r.status === 429) throttled = r;
    }
    assert.ok(throttled, 'the login allowance runs out');
    answers['POST /api/auth/login, throttled (429)'] = throttled;
    for (const [what, r] of Object.entries(answers)) {
      for (const h of SECURITY_HEADERS) assert.ok(r.headers.get(h), `${what} (${r.status}) has ${h}`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', what);
      assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/, what);
    }
  });

  // Item 3: anonymous sockets could make the server hold 64 MiB per WebSocket message.
  it('closes a WebSocket whose message is larger than the protocol needs, and still takes upload chunks', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const frames = [];
    ws.on('message', (d) => frames.push(d.toString().slice(0, 200)));
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    // A namespace CONNECT with an 8 MiB "token", far above the largest chunk the protocol sends,
    // in 1 MiB fragments (each frame is small; the message is not).
    ws.send('40{"token":"', { fin: false });
    for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(1024 * 1024, 'x'), { binary: false, fin: false });
    ws.send('"}', { binary: false, fin: true });
    const outcome = await Promise.race([
      closed.then((code) => ({ code })),
      waitUntil(() => frames.some((f) => f.startsWith('44') || f.startsWith('40')), 15000, 'an answer').then(() => ({ answered: frames })),
    ]);
    assert.ok(outcome.code !== undefined, `the server closes the socket instead of parsing the message: ${JSON.stringify(outcome)}`);
    assert.deepEqual(frames.filter((f) => f.startsWith('4')), [], 'and never answers it');
    // The same limit still lets the protocol's largest message through: chunks of the largest
    // size a client may choose.
    const socket = alice; // signed in before the login allowance of this address ran out
    const big = flacWithCover(media, 'chunky.flac', { seconds: 45, title: 'Chunky' });
    const size = fs.statSync(big).size;
    const chunkSize = 2 * 1024 * 1024;
    assert.ok(size > chunkSize, `spans a full chunk and more (${size} bytes)`);
    const tooBig = await call(socket, 'song:uploadInit', { files: [{ name: 'x.flac', size }], chunkSize: chunkSize + 1 });
    assert.equal(tooBig.error?.field, 'chunkSize', 'no chunk larger than the bound');
    const init = await ok(socket, 'song:uploadInit', { files: [{ name: 'chunky.flac', size }], chunkSize });
    const [entry] = init.files;
    const result = waitForMatch(socket, 'song:uploadResult', (p) => p.fileId === entry.fileId);
    const acks = await uploadChunks(socket, init.uploadId, entry.fileId, big, chunkSize, [...Array(entry.chunks).keys()]);
    assert.ok(acks.every((a) => a.ok), JSON.stringify(acks.find((a) => !a.ok)));
    const done = await result;
    assert.equal(done.status, 'added', JSON.stringify(done));
    assert.equal(done.song.title, 'Chunky');
  });

  // Item 5: a wrong password answered 400 `invalid` over HTTP.
  it('a wrong password is 401 unauthenticated over HTTP and the same code over Socket.IO', async () => {
    const fresh = await startServer();
    try {
      const r = await fetch(`${fresh.url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: ALICE.name, password: 'not-her-password' }),
      });
      assert.equal(r.status, 401);
      const body = await r.json();
      assert.equal(body.ok, false);
      assert.equal(body.error.code, 'unauthenticated');
      assert.match(body.error.message, /wrong username or password/);
      const s = await connect(fresh);
      const res = await call(s, 'auth:login', { username: 'nobody', password: 'not-a-password' });
      assert.equal(res.ok, false);
      assert.equal(res.error.code, 'unauthenticated');
      assert.equal(res.error.message, body.error.message, 'an unknown user looks the same');
      s.close();
      const good = await fetch(`${fresh.url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: ALICE.name, password: ALICE.password }),
      });
      assert.equal(good.status, 200);
    } finally {
      await fresh.stop();
    }
  });
});

// Item 4: token_ttl_hours <= refresh_window_hours made every socket get a new token every 2 s.
describe('configuration that would cause a refresh storm', () => {
  it('is refused by `config check` and at start, naming both keys', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-ttl-'));
    try {
      const env = { ...process.env, CHILLFI_AUTH__TOKEN_TTL_HOURS: '2', CHILLFI_AUTH__REFRESH_WINDOW_HOURS: '2' };
      for (const args of [['config', 'check'], ['serve', '--listen', '127.0.0.1:0']]) {
        const run = spawnSync(BIN, ['--data-dir', dataDir, ...args], { env, encoding: 'utf8', timeout: 20000 });
        assert.notEqual(run.status, 0, `${args.join(' ')} fails`);
        assert.match(run.stderr, /auth\.token_ttl_hours/, `${args.join(' ')}: ${run.stderr}`);
        assert.match(run.stderr, /auth\.refresh_window_hours/, `${args.join(' ')}: ${run.stderr}`);
      }
      const fine = spawnSync(BIN, ['--data-dir', dataDir, 'config', 'check'], {
        env: { ...env, CHILLFI_AUTH__TOKEN_TTL_HOURS: '3' }, encoding: 'utf8', timeout: 20000,
      });
      assert.equal(fine.status, 0, fine.stderr);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// Item 10: SIGTERM while a request was open logged a panic from the session sweep, which ran
// after the Socket.IO layer had been closed.
describe('shutdown', () => {
  it('stops without a panic while a request is still open', async () => {
    const server = await startServer({ env: { CHILLFI_SERVER__SHUTDOWN_GRACE_SECS: '5', CHILLFI_LOG__LEVEL: 'info' } });
    const { socket } = await login(server, ALICE);
    // A login request whose body never finishes keeps one request open through the grace period.
    const open = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => open.once('connect', resolve));
    open.write('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user');
    open.on('error', () => {});
    const started = Date.now();
    const { code, signal } = await server.stop('SIGTERM');
    open.destroy();
    socket.close();
    assert.ok(Date.now() - started > 2500, 'the open request held the shutdown past a session sweep tick');
    assert.doesNotMatch(server.logs, /panic/i);
    assert.equal(signal, null, server.logs);
    assert.equal(code, 0, server.logs);
    assert.match(server.logs, /stopped cleanly/);
  });
});
