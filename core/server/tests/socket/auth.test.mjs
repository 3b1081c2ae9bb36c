import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import {
  ADMIN, ALICE, TRANSPORT_MODES, Server, call, cli, connect, login, ok, sleep, startServer,
  waitDisconnect, waitFor,
} from './harness.mjs';

const ADMIN_EVENTS = [
  ['auth:createUser', { username: 'mallory', isAdmin: true }],
  ['auth:resetPassword', { userId: 'x' }],
  ['auth:setPassword', { userId: 'x', password: 'whatever-123' }],
  ['user:list', {}],
  ['user:delete', { userId: 'x' }],
];

const USER_EVENTS = [
  ['auth:refresh', {}],
  ['auth:logout', {}],
  ['auth:changePassword', { currentPassword: 'a', newPassword: 'b' }],
  ['user:profile', {}],
  ['user:update', { bio: 'hi' }],
  ...ADMIN_EVENTS,
];

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

for (const [mode, transports] of Object.entries(TRANSPORT_MODES)) {
  describe(`auth over ${mode}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server.stop();
    });

    it('connects on the requested transport and answers server:info anonymously', async () => {
      const s = await connect(server, { transports });
      assert.equal(s.io.engine.transport.name, transports[0]);
      assert.equal(s.session.user, null);
      const info = await ok(s, 'server:info');
      assert.equal(info.name, 'ChillFi');
      assert.equal(info.hasUsers, true);
      assert.equal(info.user, null);
      s.close();
    });

    // A client may send its first request the moment it hears `connect` (socket.io-client's usual
    // pattern); the server used to register its handlers only afterwards, on a spawned task, so
    // under load such a request could find no handler and never be answered.
    it('answers a request sent the moment the socket connects', async () => {
      const sockets = Array.from({ length: 400 }, () =>
        io(server.url, { transports, reconnection: false, forceNew: true, timeout: 20000 }));
      try {
        const answers = await Promise.all(sockets.map((s) => new Promise((resolve) => {
          s.once('connect', () => {
            s.timeout(10000).emitWithAck('server:info').then((r) => resolve(r?.ok === true), () => resolve(false));
          });
          s.once('connect_error', () => resolve(false));
        })));
        assert.equal(answers.filter((a) => !a).length, 0, 'every first request is answered');
      } finally {
        for (const s of sockets) s.close();
      }
    });

    it('logs in with the right password and refuses a wrong one the same way as an unknown user', async () => {
      const s = await connect(server, { transports });
      const wrong = await call(s, 'auth:login', { username: 'alice', password: 'nope-nope' });
      const unknown = await call(s, 'auth:login', { username: 'nobody', password: 'nope-nope' });
      assert.equal(wrong.ok, false);
      assert.equal(wrong.error.code, 'unauthenticated');
      assert.equal(wrong.error.message, 'wrong username or password');
      assert.deepEqual(unknown.error, wrong.error);
      const data = await ok(s, 'auth:login', { username: 'Alice', password: ALICE.password });
      assert.equal(data.user.username, 'alice');
      assert.equal(data.user.isAdmin, false);
      assert.equal(data.user.passwordHash, undefined, 'no hash leaves the server');
      const ttl = data.expiresAt - Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(ttl - 7 * 24 * 3600) < 60, `7-day token, got ${ttl}s`);
      // The socket itself is now signed in.
      const me = await ok(s, 'user:profile');
      assert.equal(me.user.username, 'alice');
      s.close();
    });

    it('keeps anonymous sockets to login, reset and server:info', async () => {
      const s = await connect(server, { transports });
      for (const [event, payload] of USER_EVENTS) {
        const res = await call(s, event, payload);
        assert.equal(res.ok, false, event);
        assert.equal(res.error.code, 'unauthenticated', event);
      }
      const reset = await call(s, 'auth:useResetToken', { resetToken: 'f'.repeat(32), newPassword: 'long-enough-1' });
      assert.equal(reset.error.code, 'invalid', 'reset is reachable anonymously');
      s.close();
    });

    it('answers forbidden to a non-admin calling any admin event', async () => {
      const { socket } = await login(server, ALICE, transports);
      for (const [event, payload] of ADMIN_EVENTS) {
        const res = await call(socket, event, payload);
        assert.equal(res.error?.code, 'forbidden', `${event}: ${JSON.stringify(res)}`);
      }
      socket.close();
    });

    it('creates a user without a password, who sets one with the reset token once', async () => {
      const { socket: admin } = await login(server, ADMIN, transports);
      const name = `bob-${mode}`;
      const created = await ok(admin, 'auth:createUser', { username: name, isAdmin: false });
      assert.match(created.resetToken, /^[0-9a-f]{32}$/, '128-bit token');
      assert.equal(created.user.hasPassword, false);

      const anon = await connect(server, { transports });
      const noLogin = await call(anon, 'auth:login', { username: name, password: '' });
      assert.equal(noLogin.ok, false);
      const used = await ok(anon, 'auth:useResetToken', { resetToken: created.resetToken, newPassword: 'bobs-new-pass' });
      assert.equal(used.user.username, name);
      assert.ok(used.token);
      const again = await call(anon, 'auth:useResetToken', { resetToken: created.resetToken, newPassword: 'other-pass-1' });
      assert.equal(again.error.code, 'invalid', 'reset token works once');
      const s2 = await connect(server, { transports });
      await ok(s2, 'auth:login', { username: name, password: 'bobs-new-pass' });

      const list = await ok(admin, 'user:list');
      assert.ok(list.items.some((u) => u.username === name && u.hasPassword));
      const dup = await call(admin, 'auth:createUser', { username: name.toUpperCase() });
      assert.equal(dup.error.code, 'conflict');
      for (const s of [admin, anon, s2]) s.close();
    });

    it('logout revokes the token: other sockets holding it drop, new connections are anonymous', async () => {
      const { socket: first, token } = await login(server, ALICE, transports);
      const second = await connect(server, { token, transports });
      assert.equal(second.session.user.username, 'alice');
      const dropped = waitDisconnect(second);
      await ok(first, 'auth:logout');
      await dropped;
      const afterLogout = await call(first, 'user:profile');
      assert.equal(afterLogout.error.code, 'unauthenticated', 'the logging-out socket is anonymous');
      const third = await connect(server, { token, transports });
      assert.equal(third.session.user, null);
      assert.equal(third.session.reason, 'invalid_token');
      assert.equal((await call(third, 'user:profile')).error.code, 'unauthenticated');
      first.close();
      third.close();
    });

    it('logout everywhere revokes every token of the user', async () => {
      const a = await login(server, ALICE, transports);
      const b = await login(server, ALICE, transports);
      const dropped = waitDisconnect(b.socket);
      await ok(a.socket, 'auth:logout', { everywhere: true });
      await dropped;
      const c = await connect(server, { token: b.token, transports });
      assert.equal(c.session.user, null);
      a.socket.close();
      c.close();
    });

    it('rejects tampered, unsigned and expired tokens', async () => {
      const { socket, token } = await login(server, ALICE, transports);
      socket.close();
      const [h, p, sig] = token.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      const tampered = `${h}.${b64url({ ...claims, sub: 'someone-else' })}.${sig}`;
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${p}.`;
      const secret = fs.readFileSync(path.join(server.dataDir, 'jwt.secret'));
      const expiredPayload = b64url({ ...claims, iat: claims.iat - 7200, exp: claims.iat - 3600 });
      const expiredHeader = b64url({ alg: 'HS256', typ: 'JWT' });
      const expiredSig = crypto.createHmac('sha256', secret).update(`${expiredHeader}.${expiredPayload}`).digest('base64url');
      const expired = `${expiredHeader}.${expiredPayload}.${expiredSig}`;
      for (const bad of [tampered, unsigned, expired, 'garbage']) {
        const s = await connect(server, { token: bad, transports });
        assert.equal(s.session.user, null, bad);
        assert.equal((await call(s, 'user:profile')).error.code, 'unauthenticated');
        s.close();
      }
    });

    it('answers malformed payloads and unknown events with invalid, and stays up', async () => {
      const s = await connect(server, { transports });
      const missing = await call(s, 'auth:login', { username: 'alice' });
      assert.equal(missing.error.code, 'invalid');
      assert.equal(missing.error.field, 'password');
      const wrongType = await call(s, 'auth:login', { username: 42, password: [] });
      assert.equal(wrongType.error.code, 'invalid');
      const notObject = await call(s, 'auth:login', 'just a string');
      assert.equal(notObject.error.code, 'invalid');
      const unknown = await call(s, 'no:such:event', { a: 1 });
      assert.equal(unknown.error.code, 'invalid');
      assert.match(unknown.error.message, /no:such:event/);
      const { socket: admin } = await login(server, ADMIN, transports);
      const badUser = await call(admin, 'auth:createUser', { username: '../etc', isAdmin: false });
      assert.equal(badUser.error.field, 'username');
      const shortPw = await call(admin, 'auth:createUser', { username: 'shorty', password: 'x' });
      assert.equal(shortPw.error.field, 'password');
      assert.equal((await ok(s, 'server:info')).name, 'ChillFi');
      s.close();
      admin.close();
    });
  });
}

describe('auth across transports and HTTP', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('upgrades from polling to websocket', async () => {
    const s = await connect(server, { transports: ['polling', 'websocket'] });
    const upgraded = await new Promise((resolve) => {
      if (s.io.engine.transport.name === 'websocket') return resolve(true);
      s.io.engine.once('upgrade', () => resolve(true));
      setTimeout(() => resolve(false), 10000);
    });
    assert.ok(upgraded, 'engine upgraded to websocket');
    assert.equal(s.io.engine.transport.name, 'websocket');
    assert.equal((await ok(s, 'server:info')).name, 'ChillFi');
    s.close();
  });

  it('serves the embedded web UI at / with its hashed assets', async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<title>ChillFi<\/title>/);
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html);
    assert.ok(script, 'index.html loads a hashed script from /assets/');
    const asset = await fetch(`${server.url}${script[1]}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control'), /immutable/);
    assert.equal((await fetch(`${server.url}/assets/nope.js`)).status, 404);
  });

  it('serves health and HTTP login with the same envelope', async () => {
    const health = await (await fetch(`${server.url}/api/health`)).json();
    assert.equal(health.status, 'ok');
    assert.match(health.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof health.uptimeSecs, 'number');
    assert.equal(health.storage.ok, true);

    const post = (body) => fetch(`${server.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body,
    });
    const good = await post(JSON.stringify({ username: 'alice', password: ALICE.password }));
    assert.equal(good.status, 200);
    const data = await good.json();
    assert.equal(data.ok, true);
    const s = await connect(server, { token: data.data.token });
    assert.equal(s.session.user.username, 'alice', 'an HTTP token works on the socket');
    s.close();
    const bad = await post(JSON.stringify({ username: 'alice', password: 'wrong-wrong' }));
    assert.equal(bad.status, 401);
    const badBody = await bad.json();
    assert.deepEqual(Object.keys(badBody.error).sort(), ['code', 'message']);
    assert.equal(badBody.error.code, 'unauthenticated');
    const malformed = await post('{not json');
    assert.equal(malformed.status, 400);
    assert.equal((await malformed.json()).error.code, 'invalid');
    const missing = await fetch(`${server.url}/api/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'not_found');
  });

  it('throttles failed logins per user across HTTP and socket', async () => {
    const s = await connect(server);
    const { socket: admin } = await login(server, ADMIN);
    await ok(admin, 'auth:createUser', { username: 'target', password: 'target-pass-1' });
    for (let i = 0; i < 3; i++) {
      await fetch(`${server.url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'target', password: `wrong-${i}` }),
      });
    }
    for (let i = 0; i < 2; i++) await call(s, 'auth:login', { username: 'target', password: `bad-${i}` });
    const limited = await call(s, 'auth:login', { username: 'target', password: 'target-pass-1' });
    assert.equal(limited.error.code, 'rate_limited', JSON.stringify(limited));
    const http = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'target', password: 'target-pass-1' }),
    });
    assert.equal(http.status, 429);
    assert.ok(Number(http.headers.get('retry-after')) > 0);
    const other = await call(s, 'auth:login', { username: 'alice', password: ALICE.password });
    assert.equal(other.ok, true, 'other users are not locked out');
    s.close();
    admin.close();
  });

  it('admin reset and password changes revoke tokens and drop open sockets', async () => {
    const { socket: admin } = await login(server, ADMIN);
    const created = await ok(admin, 'auth:createUser', { username: 'carol', password: 'carol-pass-1' });
    const carol = await login(server, { name: 'carol', password: 'carol-pass-1' });
    const dropped = waitDisconnect(carol.socket);
    const reset = await ok(admin, 'auth:resetPassword', { userId: created.user.id });
    await dropped;
    assert.match(reset.resetToken, /^[0-9a-f]{32}$/);
    const s = await connect(server, { token: carol.token });
    assert.equal(s.session.user, null, 'old token revoked');
    assert.equal((await call(s, 'auth:login', { username: 'carol', password: 'carol-pass-1' })).ok, false, 'old password cleared');
    await ok(s, 'auth:useResetToken', { resetToken: reset.resetToken, newPassword: 'carol-pass-2' });

    const other = await login(server, { name: 'carol', password: 'carol-pass-2' });
    const otherDropped = waitDisconnect(other.socket);
    const changed = await ok(s, 'auth:changePassword', { currentPassword: 'carol-pass-2', newPassword: 'carol-pass-3' });
    await otherDropped;
    assert.ok(changed.token, 'the changing socket gets a fresh token');
    assert.equal((await ok(s, 'user:profile')).user.username, 'carol', 'and stays signed in');
    const wrongCurrent = await call(s, 'auth:changePassword', { currentPassword: 'nope-nope', newPassword: 'carol-pass-4' });
    assert.equal(wrongCurrent.error.field, 'currentPassword');

    await ok(admin, 'auth:setPassword', { userId: created.user.id, password: 'carol-pass-5' });
    await login(server, { name: 'carol', password: 'carol-pass-5' }).then((c) => c.socket.close());
    admin.close();
    s.close();
  });

  it('deleting a user drops their sockets within seconds', async () => {
    const { socket: admin } = await login(server, ADMIN);
    const created = await ok(admin, 'auth:createUser', { username: 'dave', password: 'dave-pass-1' });
    const dave = await login(server, { name: 'dave', password: 'dave-pass-1' });
    const dropped = waitDisconnect(dave.socket, 5000);
    await ok(admin, 'user:delete', { userId: created.user.id });
    await dropped;
    const selfDelete = await call(admin, 'user:delete', { userId: (await ok(admin, 'user:profile')).user.id });
    assert.equal(selfDelete.error.code, 'invalid');
    admin.close();
  });

  it('updates the profile with validation', async () => {
    const { socket } = await login(server, ALICE);
    const updated = await ok(socket, 'user:update', { displayName: '  Alice A.  ', bio: 'Listens to <b>jazz</b>' });
    assert.equal(updated.user.displayName, 'Alice A.');
    assert.equal(updated.user.bio, 'Listens to <b>jazz</b>', 'stored verbatim, as data');
    const bad = await call(socket, 'user:update', { displayName: 'a\u0000b' });
    assert.equal(bad.error.field, 'displayName');
    const tooLong = await call(socket, 'user:update', { bio: 'x'.repeat(1001) });
    assert.equal(tooLong.error.field, 'bio');
    socket.close();
  });
});

describe('sessions over time and restarts', () => {
  it('pushes auth:tokenRefresh to a client whose token is about to expire', async () => {
    // A 1-hour token (issued with no refresh window), then a restart with a 24-hour window
    // (tokens live 25 h): that token now expires inside the window. A configuration whose
    // fresh tokens are already inside the window is refused (hardening.test.mjs).
    const first = await startServer({ env: { CHILLFI_AUTH__TOKEN_TTL_HOURS: '1', CHILLFI_AUTH__REFRESH_WINDOW_HOURS: '0' } });
    const { socket: signIn, token } = await login(first, ALICE);
    signIn.close();
    await first.stop();
    const server = await new Server({ dataDir: first.dataDir, env: { CHILLFI_AUTH__TOKEN_TTL_HOURS: '25' } }).start();
    try {
      const s = await connect(server, { token });
      const [fresh] = await waitFor(s, 'auth:tokenRefresh', 8000);
      assert.notEqual(fresh.token, token);
      assert.ok(fresh.expiresAt > Math.floor(Date.now() / 1000));
      const s2 = await connect(server, { token: fresh.token });
      assert.equal(s2.session.user.username, 'alice');
      const refreshed = await ok(s2, 'auth:refresh');
      assert.ok(refreshed.token);
      s.close();
      s2.close();
    } finally {
      await server.stop();
    }
  });

  it('keeps users, the signing secret and valid tokens across a graceful restart', async () => {
    const server = await startServer();
    const { socket, token } = await login(server, ALICE);
    socket.close();
    const secretBefore = fs.readFileSync(path.join(server.dataDir, 'jwt.secret'));
    const mode = fs.statSync(path.join(server.dataDir, 'jwt.secret')).mode & 0o777;
    assert.equal(mode, 0o600);
    const { code } = await server.stop('SIGTERM');
    assert.equal(code, 0, `graceful exit:\n${server.logs}`);
    assert.doesNotMatch(server.logs, new RegExp(secretBefore.toString('hex').slice(0, 16)));

    const again = await new Server({ dataDir: server.dataDir }).start();
    try {
      assert.deepEqual(fs.readFileSync(path.join(server.dataDir, 'jwt.secret')), secretBefore);
      const s = await connect(again, { token });
      assert.equal(s.session.user?.username, 'alice', 'old token still valid');
      const fresh = await connect(again);
      await ok(fresh, 'auth:login', { username: 'admin', password: ADMIN.password });
      s.close();
      fresh.close();
    } finally {
      await again.stop();
    }
  });
});

describe('command line', () => {
  it('manages users and checks configuration', async () => {
    const server = await startServer({ users: [ADMIN] });
    await server.stop();
    const dir = server.dataDir;
    const out = cli(dir, ['user', 'add', 'erin']);
    const token = out.match(/reset token[^:]*: ([0-9a-f]{32})/)?.[1];
    assert.ok(token, out);
    const list = cli(dir, ['user', 'list']);
    assert.match(list, /admin\tadmin\tpassword set/);
    assert.match(list, /erin\tuser\tawaiting reset token/);
    const reset = cli(dir, ['user', 'reset', 'admin']);
    assert.match(reset, /reset token \(valid 72 h, once\): [0-9a-f]{32}/);
    assert.match(cli(dir, ['user', 'list']), /admin\tadmin\tawaiting reset token/);

    const check = cli(dir, ['config', 'check'], { CHILLFI_SERVER__LISTEN: '127.0.0.1:9999' });
    assert.match(check, /listen = "127.0.0.1:9999"/);
    const cfgFile = path.join(dir, 'bad.toml');
    fs.writeFileSync(cfgFile, '[server]\nlistn = "x"\n');
    assert.throws(() => cli(dir, ['--config', cfgFile, 'config', 'check']), (e) => /listn/.test(e.stderr));
  });
});
