// Live administration: every CLI command works while the server runs, through its control
// socket (docs/operations.md), and says in one sentence when it cannot reach the data.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  ALICE, BIN, Server, call, cli, connect, login, ok, runCli, sineFile, startServer, waitFor, waitUntil,
} from './harness.mjs';

const run = promisify(execFile);
/** Runs the CLI without throwing: {code, stdout, stderr}. */

async function ping(server, params) {
  const q = new URLSearchParams({ f: 'json', c: 'node-test', v: '1.16.1', ...params });
  const body = await (await fetch(`${server.url}/rest/ping?${q}`)).json();
  return body['subsonic-response'].status;
}

describe('the CLI while the server runs', () => {
  let server;
  let media;
  before(async () => {
    server = await startServer();
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-control-'));
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(media, { recursive: true, force: true });
  });

  it('the control socket is for the server user and its group only', () => {
    const stat = fs.statSync(path.join(server.dataDir, 'control.sock'));
    assert.ok(stat.isSocket());
    assert.equal(stat.mode & 0o777, 0o660);
  });

  it('user add, list and reset work, and take effect at once', async () => {
    const pw = path.join(media, 'pw');
    fs.writeFileSync(pw, 'bob-pass-123\n', { mode: 0o600 });
    const added = await runCli(server.dataDir, ['user', 'add', 'bob', '--password-file', pw]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /created user 'bob'/);
    const { socket: bob } = await login(server, { name: 'bob', password: 'bob-pass-123' });

    const list = await runCli(server.dataDir, ['user', 'list']);
    assert.match(list.stdout, /\tbob\tuser\tpassword set/);

    const revoked = waitFor(bob, 'auth:revoked', 10000);
    const reset = await runCli(server.dataDir, ['user', 'reset', 'bob']);
    assert.equal(reset.code, 0, reset.stderr);
    await revoked;
    const token = reset.stdout.match(/reset token[^:]*: ([0-9a-f]{32})/)[1];
    const s = await connect(server);
    const grant = await ok(s, 'auth:useResetToken', { resetToken: token, newPassword: 'bob-pass-456' });
    assert.equal(grant.user.username, 'bob');
    s.close();
    bob.close();

    const taken = await runCli(server.dataDir, ['user', 'add', 'Bob']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /taken/);
  });

  it('user key, keys and revoke-key manage Subsonic credentials live', async () => {
    const made = await runCli(server.dataDir, ['user', 'key', 'alice', '--label', 'Car']);
    assert.equal(made.code, 0, made.stderr);
    const secret = made.stdout.trim().split('\n').pop();
    assert.equal(await ping(server, { apiKey: secret }), 'ok');
    const keys = await runCli(server.dataDir, ['user', 'keys', 'alice']);
    const line = keys.stdout.split('\n').find((l) => l.includes('\tCar\t'));
    assert.ok(line, keys.stdout);
    assert.ok(!keys.stdout.includes(secret), 'the list never shows a secret');
    const gone = await runCli(server.dataDir, ['user', 'revoke-key', 'alice', line.split('\t')[0]]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(await ping(server, { apiKey: secret }), 'failed');
  });

  it('import reports each file and a summary; the songs reach connected clients', async () => {
    const dir = path.join(media, 'collection');
    fs.mkdirSync(path.join(dir, 'disc 1'), { recursive: true });
    sineFile(path.join(dir, 'disc 1'), 'one.wav', { seconds: 1, freq: 330 });
    sineFile(dir, 'two.wav', { seconds: 1, freq: 440 });
    fs.writeFileSync(path.join(dir, 'broken.mp3'), 'not audio at all');
    const { socket: alice } = await login(server, ALICE);
    const added = [];
    alice.on('song:added', (e) => added.push(e.song));
    const r = await runCli(server.dataDir, ['import', dir]);
    assert.equal(r.code, 1, 'a failed file fails the command');
    assert.match(r.stdout, /\[1\/3\]/);
    assert.match(r.stdout, /\[3\/3\]/);
    assert.match(r.stdout, /2 added, 0 already in the library, 1 failed/);
    assert.match(r.stdout, /broken\.mp3: /);
    assert.match(r.stderr, /1 file\(s\) could not be imported/);
    const list = await ok(alice, 'song:list', { limit: 50 });
    assert.equal(list.items.filter((s) => ['one', 'two'].includes(s.title)).length, 2, JSON.stringify(list.items.map((s) => s.title)));
    assert.equal(added.length, 2, 'live clients heard of both songs');
    assert.ok(fs.existsSync(path.join(dir, 'two.wav')), 'the originals stay');

    const again = await runCli(server.dataDir, ['import', dir, '--owner', 'nobody']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no user named 'nobody'/);
    alice.close();
  });

  it('Ctrl-C stops the import: the rest is cancelled, what was imported stays whole, the summary is printed', async () => {
    const dir = path.join(media, 'big');
    fs.mkdirSync(dir);
    for (let i = 0; i < 16; i++) sineFile(dir, `n${String(i).padStart(2, '0')}.wav`, { seconds: 20, freq: 200 + 30 * i });
    const { socket: alice } = await login(server, ALICE);
    const before = (await ok(alice, 'song:list', { limit: 1 })).total;
    const child = spawn(BIN, ['--data-dir', server.dataDir, 'import', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await waitUntil(() => /\[ ?1\/16\]/.test(out), 60000, 'the first imported file');
    child.kill('SIGINT');
    const code = await exited;
    assert.match(out, /import stopped: \d+ file\(s\) not finished were cancelled/, out);
    assert.match(out, /\d+ added, 0 already in the library, 0 failed/, 'the summary after Ctrl-C');
    assert.equal(code, 0, 'a stopped import is not a failure');
    assert.match(server.logs, /import stopped/);
    const list = await ok(alice, 'song:list', { limit: 100 });
    const imported = list.total - before;
    assert.ok(imported >= 1 && imported < 16, `some but not all files imported: ${imported}`);
    for (const song of list.items.filter((s) => /^n\d\d$/.test(s.title))) {
      const play = await ok(alice, 'song:play', { songId: song.id });
      const url = play.url.startsWith('http') ? play.url : `${server.url}${play.url}`;
      assert.equal((await fetch(url)).status, 200, `${song.title} is whole`);
    }
    alice.close();
  });

  it('on a terminal the import draws one progress line, then the summary', async () => {
    const dir = path.join(media, 'tty');
    fs.mkdirSync(dir);
    for (let i = 0; i < 3; i++) sineFile(dir, `tty${i}.wav`, { seconds: 1, freq: 600 + 40 * i });
    fs.writeFileSync(path.join(dir, 'bad.flac'), 'nope');
    const { stdout } = await run('script', ['-qfec', `'${BIN}' --data-dir '${server.dataDir}' import '${dir}'`, '/dev/null'], { encoding: 'utf8' })
      .catch((e) => e);
    assert.match(stdout, /\r\x1b\[2K\[#+ *\] \d\/4  failures: \d/, 'a bar redrawn in place');
    assert.match(stdout, /bad\.flac: failed/);
    assert.match(stdout, /3 added, 0 already in the library, 1 failed/);
  });

  it('plugin list answers from the running server', async () => {
    const r = await runCli(server.dataDir, ['plugin', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /plugins folder: /);
  });

  it('says in one sentence when the database is held and no server answers', async () => {
    const sock = path.join(server.dataDir, 'control.sock');
    fs.renameSync(sock, `${sock}.away`);
    try {
      const r = await runCli(server.dataDir, ['user', 'list']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^chillfi: the database in .* is in use by another process, and no server answers on .*control\.sock/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      fs.renameSync(`${sock}.away`, sock);
    }
  });
});

describe('the CLI and first run', () => {
  it('a user made by the CLI while setup waits closes the setup', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-control-setup-'));
    const server = await new Server({ dataDir }).start();
    try {
      const s = await connect(server);
      assert.equal((await ok(s, 'server:info')).needsSetup, true);
      const r = await runCli(dataDir, ['user', 'add', 'owner', '--admin']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /reset token/);
      assert.equal((await ok(s, 'server:info')).needsSetup, false);
      const code = fs.readFileSync(path.join(dataDir, 'setup-code'), 'utf8').trim();
      const refused = await call(s, 'auth:setup', { code, username: 'late', password: 'late-pass-123' });
      assert.equal(refused.error.code, 'forbidden');
      s.close();
    } finally {
      await server.stop();
    }
    assert.ok(!fs.existsSync(path.join(dataDir, 'control.sock')), 'a stopped server leaves no socket behind');
    assert.match(cli(dataDir, ['user', 'list']), /\towner\tadmin/, 'without a server the CLI opens the database itself');
  });
});
