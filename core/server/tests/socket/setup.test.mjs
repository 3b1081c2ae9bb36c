// First run: a server without accounts makes a one-time setup code (in a 0600 file, never in
// the log) that creates the first administrator from the browser (docs/protocol.md auth:setup).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALICE, Server, addUsers, call, connect, ok } from './harness.mjs';

const OWNER = { name: 'owner', password: 'owner-pass-1' };

async function fresh(env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-setup-'));
  return new Server({ dataDir, env }).start();
}

describe('first run', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('creates the first administrator with the code from the file, once', async () => {
    const server = await fresh();
    servers.push(server);
    const file = path.join(server.dataDir, 'setup-code');
    const code = fs.readFileSync(file, 'utf8').trim();
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'only the service user can read the code');
    assert.ok(code.replace(/-/g, '').length * 4 >= 128, `at least 128 bits: ${code.length} characters`);
    assert.match(server.logs, new RegExp(`paste the setup code from ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(!server.logs.includes(code) && !server.logs.includes(code.replace(/-/g, '')), 'the code is never logged');

    const s = await connect(server);
    const info = await ok(s, 'server:info');
    assert.equal(info.needsSetup, true);
    assert.equal(info.hasUsers, false);

    const wrong = await call(s, 'auth:setup', { code: 'ffff-' + code.slice(5), username: OWNER.name, password: OWNER.password });
    assert.equal(wrong.error.code, 'invalid');
    assert.equal(wrong.error.field, 'code');
    const weak = await call(s, 'auth:setup', { code, username: OWNER.name, password: 'x' });
    assert.equal(weak.error.field, 'password', 'a refused password leaves the code valid');

    // Typed in capitals without dashes, as people do.
    const done = await ok(s, 'auth:setup', { code: code.replace(/-/g, '').toUpperCase(), username: OWNER.name, password: OWNER.password });
    assert.equal(done.user.username, 'owner');
    assert.equal(done.user.isAdmin, true);
    assert.ok(done.token, 'answers like auth:login');
    const me = await ok(s, 'user:profile');
    assert.equal(me.user.username, 'owner', 'the socket is signed in');
    assert.ok(!fs.existsSync(file), 'the used code is deleted');

    const other = await connect(server);
    assert.equal((await ok(other, 'server:info')).needsSetup, false);
    const again = await call(other, 'auth:setup', { code, username: 'mallory', password: 'mallory-pass-1' });
    assert.equal(again.error.code, 'forbidden', 'setup is closed for good');
    await ok(other, 'auth:login', { username: OWNER.name, password: OWNER.password });
    s.close();
    other.close();
  });

  it('throttles guessing like login', async () => {
    const server = await fresh({ CHILLFI_AUTH__LOGIN_ATTEMPTS_PER_USER: '3', CHILLFI_AUTH__LOGIN_ATTEMPTS_PER_IP: '3' });
    servers.push(server);
    const code = fs.readFileSync(path.join(server.dataDir, 'setup-code'), 'utf8').trim();
    const s = await connect(server);
    for (let i = 0; i < 3; i++) {
      const r = await call(s, 'auth:setup', { code: `guess-${i}`, username: OWNER.name, password: OWNER.password });
      assert.equal(r.error.code, 'invalid');
    }
    const limited = await call(s, 'auth:setup', { code, username: OWNER.name, password: OWNER.password });
    assert.equal(limited.error.code, 'rate_limited', 'even the right code waits once guessing was throttled');
    s.close();
  });

  it('a server that has accounts offers no setup and removes a leftover code', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-setup-'));
    const first = await new Server({ dataDir }).start();
    assert.ok(fs.existsSync(path.join(dataDir, 'setup-code')));
    await first.stop();
    addUsers(dataDir, [ALICE]);
    const server = await new Server({ dataDir }).start();
    servers.push(server);
    assert.ok(!fs.existsSync(path.join(dataDir, 'setup-code')));
    assert.doesNotMatch(server.logs, /setup code/);
    const s = await connect(server);
    assert.equal((await ok(s, 'server:info')).needsSetup, false);
    const r = await call(s, 'auth:setup', { code: 'anything', username: OWNER.name, password: OWNER.password });
    assert.equal(r.error.code, 'forbidden');
    s.close();
  });
});
