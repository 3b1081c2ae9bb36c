// What the owner reads in the journal or a log file: no colour codes where no terminal is,
// journald priorities under systemd, refused requests with their event and code, no secrets.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ADMIN, ALICE, BIN, Server, addUsers, call, connect, freePort, login, ok, sineFile, uploadSongs, waitUntil,
} from './harness.mjs';

const ESC = '\u001b[';

async function serverWith(env) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-logs-'));
  addUsers(dataDir, [ADMIN, ALICE]);
  return new Server({ dataDir, env }).start();
}

describe('logs', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('written to a file or pipe: no colour codes; refused requests named by event and code; no secrets', async () => {
    const server = await serverWith({});
    servers.push(server);
    const anon = await connect(server);
    assert.equal((await call(anon, 'song:list', {})).error.code, 'unauthenticated');
    const { socket: alice, token } = await login(server, ALICE);
    assert.equal((await call(alice, 'user:list', {})).error.code, 'forbidden');
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-logs-media-'));
    const [song] = await uploadSongs(alice, [{ file: sineFile(media, 'a.wav', { seconds: 2 }), metadata: { title: 'Logged' } }]);
    const share = await ok(alice, 'share:create', { kind: 'song', id: song.id });
    assert.equal((await fetch(`${server.url}/s/${share.token}`)).status, 200);
    await fetch(`${server.url}/rest/ping.view?u=alice&p=${ALICE.password}&v=1.16.1&c=t&f=json`);
    await waitUntil(() => server.logs.includes('/rest/ping.view'), 10000, 'the Subsonic request in the log');
    anon.close();
    alice.close();
    await server.stop();

    assert.ok(server.logs.length > 0);
    assert.ok(!server.logs.includes(ESC), 'no ANSI escape codes in a log that is not a terminal');
    assert.match(server.logs, /socket request refused.*event="?song:list"?.*code="?unauthenticated/);
    assert.match(server.logs, /socket request refused.*event="?user:list"?.*code="?forbidden/);
    for (const secret of [share.token, ALICE.password, token]) {
      assert.ok(!server.logs.includes(secret), `a secret reached the log: ${secret.slice(0, 6)}…`);
    }
    assert.match(server.logs, /\/s\/\*\*\*/, 'the share request is logged, its token redacted');
    fs.rmSync(media, { recursive: true, force: true });
  });

  it('under systemd (JOURNAL_STREAM set): every line starts with its syslog priority', async () => {
    const server = await serverWith({ JOURNAL_STREAM: '8:1234', CHILLFI_LOG__LEVEL: 'info' });
    servers.push(server);
    const anon = await connect(server);
    await call(anon, 'song:list', {});
    anon.close();
    await server.stop();
    const lines = server.logs.split('\n').filter(Boolean);
    assert.ok(lines.length >= 2, server.logs);
    for (const line of lines) assert.match(line, /^<[3-7]>/, `no priority prefix: ${line}`);
    assert.ok(lines.some((l) => /^<6>.*socket request refused/.test(l)), 'info lines are <6>');
    assert.ok(!server.logs.includes(ESC));
  });

  // A real terminal through script(1): colours there, none with NO_COLOR.
  for (const [name, env, coloured] of [['a terminal', {}, true], ['a terminal with NO_COLOR', { NO_COLOR: '1' }, false]]) {
    it(`on ${name}: ${coloured ? 'colours' : 'no colours'}`, async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-logs-tty-'));
      const port = await freePort();
      const cmd = `'${BIN}' --data-dir '${dataDir}' serve --listen 127.0.0.1:${port}`;
      const proc = spawn('script', ['-qfec', cmd, '/dev/null'], {
        env: { ...process.env, CHILLFI_LOG__LEVEL: 'info', NO_COLOR: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      const exited = new Promise((resolve) => proc.on('exit', resolve));
      try {
        await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/api/health`).catch(() => null))?.ok, 20000, 'the server on a terminal');
      } finally {
        proc.kill('SIGTERM');
        // script passes the signal on to nobody: end the server by its port's owner, too.
        spawn('pkill', ['-f', `--listen 127.0.0.1:${port}`]);
        await exited;
      }
      assert.ok(out.length > 0, 'the server wrote to the terminal');
      assert.equal(out.includes(ESC), coloured, out.slice(0, 500));
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
  }
});
