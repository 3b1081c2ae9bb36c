// WASM component plugins wired into the server: enrichers in the ingest pipeline, transcode
// profiles behind `song:play` (variants transcoded on the fly, cached, deduplicated, cancelled),
// the admin `plugin:*` events, hostile plugins that must not stop ingest, the folder watcher,
// and `chillfi plugin list|check`. The plugins are the real ones built by plugins/build.sh
// (CI runs it before these tests): plugins/dist/ and plugins/target/test-plugins/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ADMIN, ALICE, BIN, call, cli, connect, ffprobe, flacWithCover, login, ok, sineFile, sleep,
  startS3, startServer, uploadSongs, waitForMatch, waitUntil,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
const DIST = path.join(repo, 'plugins', 'dist');
const TEST_PLUGINS = path.join(repo, 'plugins', 'target', 'test-plugins');

function pluginSource(name) {
  for (const dir of [DIST, TEST_PLUGINS]) {
    const p = path.join(dir, name);
    if (fs.existsSync(path.join(p, `${name}.wasm`))) return p;
  }
  throw new Error(`plugin ${name} is not built: run \`bash plugins/build.sh\` first`);
}

/** A temp plugins folder holding copies of the named built plugins. */
function pluginsDir(names) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-plugins-'));
  for (const name of names) fs.cpSync(pluginSource(name), path.join(dir, name), { recursive: true });
  return dir;
}

const absolute = (server, url) => (url.startsWith('/') ? `${server.url}${url}` : url);

async function download(server, url, file) {
  const res = await fetch(absolute(server, url));
  assert.equal(res.status, 200, `GET ${url}`);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return res;
}

const audio = (info) => info.streams.find((s) => s.codec_type === 'audio');
const byName = (items, name) => items.find((p) => p.name === name);

describe('plugins in the server (filename-tagger, mobile-profile, expiring-links)', () => {
  let server;
  let media;
  let plugins;
  let admin;
  let alice;
  let noise; // a song uploaded by alice: 12 s of pink noise, stored as MP3 320k

  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-plug-media-'));
    plugins = pluginsDir(['filename-tagger', 'mobile-profile', 'expiring-links']);
    server = await startServer({
      env: {
        CHILLFI_PLUGINS__DIR: plugins,
        CHILLFI_INGEST__INBOX_SETTLE_SECS: '1',
        CHILLFI_PLAYBACK__TRANSCODE_WORKERS: '1',
        CHILLFI_LOG__LEVEL: 'warn,chillfi::service::variants=info',
        CHILLFI_METRICS__ENABLED: 'true',
      },
    });
    admin = await login(server, ADMIN);
    alice = await login(server, ALICE);
    const file = flacWithCover(media, 'noise.flac', { seconds: 12, title: 'Noise', artist: 'Pink', album: 'Colours' });
    [noise] = await uploadSongs(alice.socket, [{ file }]);
  });
  after(async () => {
    for (const s of [admin, alice]) s?.socket.close();
    await server?.stop();
    for (const d of [media, plugins]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('fills artist/album/year/track/title of an untagged inbox file from its path', async () => {
    const rel = path.join('Some Artist', 'Some Album (2019)', '07 - Some Title.wav');
    const tmp = sineFile(media, 'untagged.wav', { seconds: 2, freq: 520 });
    assert.equal(ffprobe(tmp).format.tags?.title, undefined, 'the file has no title tag');
    const added = waitForMatch(alice.socket, 'song:added', (p) => p.song.originalName.endsWith('07 - Some Title.wav'), 60000);
    const dest = path.join(server.dataDir, 'inbox', rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(tmp, dest);
    const { song } = await added;
    assert.equal(song.title, 'Some Title');
    assert.equal(song.artist, 'Some Artist');
    assert.equal(song.album, 'Some Album');
    assert.equal(song.year, 2019);
    assert.equal(song.track, 7);
  });

  it('fills the missing tags of an upload from its file name; what the uploader typed wins', async () => {
    const file = sineFile(media, 'Band Name - Track Name.wav', { seconds: 1, freq: 610 });
    const [song] = await uploadSongs(alice.socket, [{ file, metadata: { album: 'Typed Album' } }]);
    assert.equal(song.artist, 'Band Name');
    assert.equal(song.title, 'Track Name');
    assert.equal(song.album, 'Typed Album', 'what the uploader typed wins over plugins');
  });

  it('song:play: the stored MP3 without a client, Opus ~96 kb/s for a cellular client', async () => {
    const plain = await ok(alice.socket, 'song:play', { songId: noise.id });
    assert.deepEqual(plain.format, { codec: 'mp3', bitrateKbps: 320, mime: 'audio/mpeg' });
    const mp3 = path.join(media, 'plain.mp3');
    const res = await download(server, plain.url, mp3);
    assert.equal(res.headers.get('content-type'), 'audio/mpeg');
    assert.equal(fs.statSync(mp3).size, noise.sizeBytes, 'the stored file as it is');
    assert.equal(audio(ffprobe(mp3)).codec_name, 'mp3');

    const cell = await ok(alice.socket, 'song:play', { songId: noise.id, client: { networkClass: 'cellular' } });
    assert.deepEqual(cell.format, { codec: 'opus', bitrateKbps: 96, mime: 'audio/ogg', plugin: 'mobile-profile' });
    assert.match(cell.url, /[?&]v=opus-96k&/);
    const opus = path.join(media, 'cell.opus');
    const got = await download(server, cell.url, opus);
    assert.equal(got.headers.get('content-type'), 'audio/ogg');
    const info = ffprobe(opus);
    assert.equal(audio(info).codec_name, 'opus');
    const kbps = Number(info.format.bit_rate) / 1000;
    assert.ok(Math.abs(kbps - 96) / 96 < 0.15, `Opus at ${kbps} kb/s`);
    assert.ok(Math.abs(Number(info.format.duration) - 12) < 0.2, `duration ${info.format.duration}`);

    // Ranges work on variants too (seeking).
    const part = await fetch(absolute(server, cell.url), { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(Buffer.from(await part.arrayBuffer()).length, 100);
    // The signature covers the variant: another variant name with the same signature is refused.
    const forged = absolute(server, cell.url.replace('v=opus-96k', 'v=opus-64k'));
    assert.equal((await fetch(forged)).status, 403);
    const stored = absolute(server, cell.url.replace(/v=opus-96k&/, ''));
    assert.equal((await fetch(stored)).status, 403, 'a variant URL does not open the stored file');

    // A capped client gets MP3 128 capped to its limit; a mobile device Opus again (cached).
    const capped = await ok(alice.socket, 'song:play', { songId: noise.id, client: { maxBitrateKbps: 64 } });
    assert.deepEqual(capped.format, { codec: 'mp3', bitrateKbps: 64, mime: 'audio/mpeg', plugin: 'mobile-profile' });
    const low = path.join(media, 'low.mp3');
    await download(server, capped.url, low);
    const lowInfo = ffprobe(low);
    assert.equal(audio(lowInfo).codec_name, 'mp3');
    assert.ok(Math.abs(Number(audio(lowInfo).bit_rate) / 1000 - 64) < 4, `MP3 at ${audio(lowInfo).bit_rate}`);
    const again = await ok(alice.socket, 'song:play', { songId: noise.id, client: { deviceClass: 'mobile', userAgent: 'Phone/1.0' } });
    assert.equal(again.format.codec, 'opus');

    const bad = await call(alice.socket, 'song:play', { songId: noise.id, client: { networkClass: 'satellite' } });
    assert.equal(bad.error.code, 'invalid');
    assert.equal(bad.error.field, 'client.networkClass');
    const unknown = await call(alice.socket, 'song:play', { songId: noise.id, client: { speed: 'fast' } });
    assert.equal(unknown.error.code, 'invalid');
  });

  it('transcodes a variant once for concurrent requests and caches it', async () => {
    const file = flacWithCover(media, 'dedup.flac', { seconds: 10, title: 'Dedup', artist: 'Pink', album: 'Colours' });
    const [song] = await uploadSongs(alice.socket, [{ file }]);
    const other = await login(server, ADMIN);
    try {
      const req = { songId: song.id, client: { networkClass: 'cellular' } };
      const answers = await Promise.all([
        ok(alice.socket, 'song:play', req), ok(alice.socket, 'song:play', req), ok(other.socket, 'song:play', req),
      ]);
      for (const a of answers) assert.equal(a.format.codec, 'opus');
      const stored = server.logs.split('\n').filter((l) => l.includes('variant stored') && l.includes(`${song.hash}-opus-96k`));
      assert.equal(stored.length, 1, `one transcode for three requests:\n${stored.join('\n')}`);
      const files = fs.readdirSync(path.join(server.dataDir, 'blobs', 'variants')).filter((n) => n.startsWith(song.hash));
      assert.deepEqual(files, [`${song.hash}-opus-96k.opus`]);
      await ok(alice.socket, 'song:play', req);
      const after = server.logs.split('\n').filter((l) => l.includes('variant stored') && l.includes(`${song.hash}-opus-96k`));
      assert.equal(after.length, 1, 'served from the cache');
    } finally {
      other.socket.close();
    }
  });

  it('cancels a transcode whose client disconnects before it is ready', async () => {
    // One transcode worker: a long job keeps it busy while the second client leaves.
    const long = flacWithCover(media, 'long.flac', { seconds: 90, title: 'Long', artist: 'Pink', album: 'Colours' });
    const gone = flacWithCover(media, 'gone.flac', { seconds: 90, title: 'Gone', artist: 'Pink', album: 'Colours' });
    const [a, b] = await uploadSongs(alice.socket, [{ file: long }, { file: gone }]);
    const leaver = await login(server, ALICE);
    const busy = ok(alice.socket, 'song:play', { songId: a.id, client: { networkClass: 'cellular' } });
    await sleep(50);
    leaver.socket.emit('song:play', { songId: b.id, client: { networkClass: 'cellular' } }, () => {});
    await sleep(30);
    leaver.socket.close();
    await busy;
    await waitUntil(() => server.logs.includes(`${b.hash}-opus-96k.opus`) && /variant cancelled/.test(server.logs), 30000, 'the cancelled job');
    await sleep(500);
    const variants = path.join(server.dataDir, 'blobs', 'variants');
    assert.ok(!fs.existsSync(path.join(variants, `${b.hash}-opus-96k.opus`)), 'no variant for the client that left');
    assert.ok(!server.logs.split('\n').some((l) => l.includes('variant stored') && l.includes(b.hash)));
    assert.deepEqual(fs.readdirSync(path.join(server.dataDir, 'staging')).filter((n) => n.startsWith('variant-')), [], 'no temp files left');
    // Someone who stays gets it.
    const later = await ok(alice.socket, 'song:play', { songId: b.id, client: { networkClass: 'cellular' } });
    assert.equal(later.format.codec, 'opus');
    assert.ok(fs.existsSync(path.join(variants, `${b.hash}-opus-96k.opus`)));
  });

  it('deleting a song deletes its variants', async () => {
    const file = sineFile(media, 'Short - Lived.wav', { seconds: 2, freq: 700 });
    const [song] = await uploadSongs(alice.socket, [{ file }]);
    await ok(alice.socket, 'song:play', { songId: song.id, client: { networkClass: 'cellular' } });
    await ok(alice.socket, 'song:play', { songId: song.id, client: { maxBitrateKbps: 96 } });
    const variants = path.join(server.dataDir, 'blobs', 'variants');
    const mine = () => fs.readdirSync(variants).filter((n) => n.startsWith(song.hash));
    assert.equal(mine().length, 2);
    await ok(alice.socket, 'song:delete', { songId: song.id });
    assert.deepEqual(mine(), []);
    assert.ok(fs.readdirSync(variants).some((n) => n.startsWith(noise.hash)), 'other songs keep theirs');
  });

  it('share links through expiring-links: its limits and label, its refusals, expiry after the play limit', async () => {
    await ok(admin.socket, 'plugin:config', { name: 'expiring-links', values: { 'max-plays': 2 } });
    const now = Math.floor(Date.now() / 1000);
    const link = await ok(alice.socket, 'share:create', { kind: 'song', id: noise.id });
    assert.equal(link.maxPlays, 2, 'the default play limit comes from the plugin');
    assert.ok(Math.abs(link.expiresAt - (now + 72 * 3600)) < 120, `expiresAt ${link.expiresAt}`);
    assert.match(link.slug, /^[a-z]+-[a-z]+-\d{1,2}$/);
    assert.ok(!link.url.includes(link.slug), 'the label is not the URL: links stay unguessable tokens');
    const page = `${server.url}/s/${link.token}`;
    const stream = `${page}/stream/${noise.id}`;
    assert.equal((await fetch(page)).status, 200);
    for (let i = 0; i < 2; i++) {
      const r = await fetch(stream);
      assert.equal(r.status, 200, `play ${i + 1}`);
      await r.arrayBuffer();
    }
    assert.equal((await fetch(stream)).status, 404, 'the third play is refused');
    assert.equal((await fetch(page)).status, 404, 'the used-up link is gone');

    const mine = await ok(alice.socket, 'share:create', { kind: 'song', id: noise.id, maxPlays: 5, expiresAt: now + 3600 });
    assert.equal(mine.maxPlays, 5, 'what the user asks for within the bounds is kept');
    assert.equal(mine.expiresAt, now + 3600);
    const refused = await call(alice.socket, 'share:create', { kind: 'song', id: noise.id, expiresAt: now + 800 * 3600 });
    assert.equal(refused.error.code, 'forbidden');
    assert.match(refused.error.message, /720 hours/);
    await ok(admin.socket, 'plugin:disable', { name: 'expiring-links' });
    const plain = await ok(alice.socket, 'share:create', { kind: 'song', id: noise.id });
    assert.equal(plain.maxPlays, null, 'without a handler: the server defaults');
    assert.equal(plain.slug, undefined);
    await ok(admin.socket, 'plugin:enable', { name: 'expiring-links' });
  });

  it('/metrics counts plugin calls by plugin and shows the transcode pool', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (series) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ').pop() ?? 0);
    assert.ok(value('chillfi_plugin_calls_total{plugin="filename-tagger",outcome="ok"}') >= 1, text);
    assert.ok(value('chillfi_plugin_calls_total{plugin="mobile-profile",outcome="ok"}') >= 1);
    assert.ok(value('chillfi_plugin_call_duration_seconds_count{plugin="filename-tagger"}') >= 1);
    assert.match(text, /^chillfi_transcode_busy \d/m);
    assert.match(text, /^chillfi_transcode_queued \d/m);
  });

  it('plugin:list/enable/disable/config/reload for administrators only', async () => {
    const { items } = await ok(admin.socket, 'plugin:list');
    assert.deepEqual(items.map((p) => p.name).sort(), ['expiring-links', 'filename-tagger', 'mobile-profile']);
    const mobile = byName(items, 'mobile-profile');
    assert.equal(mobile.kind, 'transcode-profile');
    assert.equal(mobile.version, '0.1.0');
    assert.equal(mobile.enabled, true);
    assert.equal(mobile.state, 'enabled');
    assert.equal(mobile.faults, 0);
    assert.equal(mobile.config['opus-kbps'], '96');
    assert.ok(mobile.description.length > 0);
    assert.equal(byName(items, 'filename-tagger').kind, 'enricher');
    assert.equal(byName(items, 'expiring-links').kind, 'share-handler');

    for (const [event, payload] of [
      ['plugin:list', {}], ['plugin:enable', { name: 'mobile-profile' }], ['plugin:disable', { name: 'mobile-profile' }],
      ['plugin:config', { name: 'mobile-profile', values: { 'opus-kbps': '64' } }], ['plugin:reload', {}],
    ]) {
      assert.equal((await call(alice.socket, event, payload)).error.code, 'forbidden', event);
    }
    const anon = await connect(server);
    try {
      assert.equal((await call(anon, 'plugin:list', {})).error.code, 'unauthenticated');
    } finally {
      anon.close();
    }

    const off = await ok(admin.socket, 'plugin:disable', { name: 'mobile-profile' });
    assert.equal(off.plugin.enabled, false);
    assert.equal(off.plugin.state, 'disabled');
    assert.match(off.plugin.disabledReason, /administrator/);
    const plain = await ok(alice.socket, 'song:play', { songId: noise.id, client: { networkClass: 'cellular' } });
    assert.equal(plain.format.codec, 'mp3', 'a disabled profile is not asked');
    const on = await ok(admin.socket, 'plugin:enable', { name: 'mobile-profile' });
    assert.equal(on.plugin.state, 'enabled');

    const set = await ok(admin.socket, 'plugin:config', { name: 'mobile-profile', values: { 'opus-kbps': 64 } });
    assert.equal(set.plugin.config['opus-kbps'], '64');
    const p64 = await ok(alice.socket, 'song:play', { songId: noise.id, client: { networkClass: 'cellular' } });
    assert.deepEqual(p64.format, { codec: 'opus', bitrateKbps: 64, mime: 'audio/ogg', plugin: 'mobile-profile' });
    const tooLow = await call(admin.socket, 'plugin:config', { name: 'mobile-profile', values: { 'opus-kbps': '5' } });
    assert.equal(tooLow.error.code, 'invalid');
    assert.equal(tooLow.error.field, 'values.opus-kbps');
    const unknownKey = await call(admin.socket, 'plugin:config', { name: 'mobile-profile', values: { 'no-such-key': '1' } });
    assert.equal(unknownKey.error.code, 'invalid');
    assert.equal((await call(admin.socket, 'plugin:config', { name: 'mobile-profile', values: { 'opus-kbps': [1] } })).error.code, 'invalid');
    assert.equal((await call(admin.socket, 'plugin:enable', { name: 'nope' })).error.code, 'not_found');
    assert.equal((await call(admin.socket, 'plugin:disable', {})).error.code, 'invalid');
    assert.equal(byName((await ok(admin.socket, 'plugin:list')).items, 'mobile-profile').config['opus-kbps'], '64', 'the failed calls changed nothing');
    await ok(admin.socket, 'plugin:config', { name: 'mobile-profile', values: { 'opus-kbps': '96' } });

    const reloaded = await ok(admin.socket, 'plugin:reload');
    assert.equal(reloaded.items.length, 3);
    assert.equal(byName(reloaded.items, 'mobile-profile').config['opus-kbps'], '96', 'config survives a reload');
  });
});

describe('variants on the S3 backend', () => {
  let s3;
  let server;
  let media;
  let plugins;
  let alice;

  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-plug-media-'));
    plugins = pluginsDir(['mobile-profile']);
    s3 = await startS3();
    server = await startServer({ env: { ...s3.env, CHILLFI_PLUGINS__DIR: plugins } });
    alice = await login(server, ALICE);
  });
  after(async () => {
    alice?.socket.close();
    await server?.stop();
    s3?.stop();
    for (const d of [media, plugins]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('serves an Opus variant through a presigned URL and deletes it with the song', async () => {
    const file = flacWithCover(media, 's3.flac', { seconds: 8, title: 'On S3', artist: 'Pink', album: 'Colours' });
    const [song] = await uploadSongs(alice.socket, [{ file }]);
    const play = await ok(alice.socket, 'song:play', { songId: song.id, client: { networkClass: 'cellular' } });
    assert.equal(play.format.codec, 'opus');
    assert.ok(play.url.startsWith(s3.endpoint), play.url);
    assert.match(play.url, new RegExp(`variants/${song.hash}-opus-96k\\.opus`));
    const opus = path.join(media, 's3.opus');
    await download(server, play.url, opus);
    const info = ffprobe(opus);
    assert.equal(audio(info).codec_name, 'opus');
    assert.ok(Math.abs(Number(info.format.bit_rate) / 1000 - 96) / 96 < 0.15, `Opus at ${info.format.bit_rate}`);
    await ok(alice.socket, 'song:delete', { songId: song.id });
    assert.equal((await fetch(play.url)).status, 404, 'the variant is gone from the bucket');
  });
});

describe('hostile plugins, the folder watcher and the CLI', () => {
  let server;
  let media;
  let plugins;
  let packaged;
  let admin;
  let alice;

  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-plug-media-'));
    plugins = pluginsDir(['filename-tagger', 'hostile-share']);
    // A read-only folder of plugins shipped with the server, as the package's is.
    packaged = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-packaged-'));
    const shipped = path.join(packaged, 'shipped-genre');
    fs.mkdirSync(shipped);
    fs.copyFileSync(path.join(pluginSource('my-enricher'), 'my-enricher.wasm'), path.join(shipped, 'shipped-genre.wasm'));
    fs.writeFileSync(path.join(shipped, 'plugin.toml'), fs.readFileSync(path.join(pluginSource('my-enricher'), 'plugin.toml'), 'utf8')
      .replace('name = "my-enricher"', 'name = "shipped-genre"'));
    for (const f of [packaged, shipped, ...fs.readdirSync(shipped).map((n) => path.join(shipped, n))]) fs.chmodSync(f, fs.statSync(f).isDirectory() ? 0o555 : 0o444);
    server = await startServer({
      env: { CHILLFI_PLUGINS__DIR: plugins, CHILLFI_PLUGINS__PACKAGED_DIR: packaged, CHILLFI_PLUGINS__ENRICHER_DEADLINE_MS: '300' },
    });
    admin = await login(server, ADMIN);
    alice = await login(server, ALICE);
  });
  after(async () => {
    for (const s of [admin, alice]) s?.socket.close();
    await server?.stop();
    if (packaged) fs.chmodSync(path.join(packaged, 'shipped-genre'), 0o755);
    if (packaged) fs.chmodSync(packaged, 0o755);
    for (const d of [media, plugins, packaged]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('picks up a plugin copied into the folder while running', async () => {
    const staged = path.join(plugins, '.incoming');
    fs.cpSync(pluginSource('hostile-enricher'), staged, { recursive: true });
    fs.renameSync(staged, path.join(plugins, 'hostile-enricher'));
    await waitUntil(async () => byName((await ok(admin.socket, 'plugin:list')).items, 'hostile-enricher')?.state === 'enabled', 20000, 'the watcher to load hostile-enricher');
  });

  it('an enricher that loops or traps never stops ingest and is switched off after 3 faults', async () => {
    await ok(admin.socket, 'plugin:config', { name: 'hostile-enricher', values: { mode: 'loop' } });
    const files = ['Loop One - First.wav', 'Loop Two - Second.wav', 'Trap Three - Third.wav', 'After Four - Fourth.wav']
      .map((name, i) => sineFile(media, name, { seconds: 1, freq: 300 + 100 * i }));
    const started = Date.now();
    const looped = await uploadSongs(alice.socket, [{ file: files[0] }, { file: files[1] }]);
    assert.deepEqual(looped.map((s) => [s.artist, s.title]), [['Loop One', 'First'], ['Loop Two', 'Second']], 'the other enricher still ran');
    assert.ok(Date.now() - started < 20000, 'loops were stopped at their deadline');
    let hostile = byName((await ok(admin.socket, 'plugin:list')).items, 'hostile-enricher');
    assert.equal(hostile.faults, 2);
    assert.equal(hostile.state, 'enabled');
    assert.ok(hostile.lastFault, 'the last fault is reported');

    await ok(admin.socket, 'plugin:config', { name: 'hostile-enricher', values: { mode: 'trap' } });
    const [trapped] = await uploadSongs(alice.socket, [{ file: files[2] }]);
    assert.equal(trapped.title, 'Third');
    hostile = byName((await ok(admin.socket, 'plugin:list')).items, 'hostile-enricher');
    assert.equal(hostile.state, 'faulted');
    assert.equal(hostile.enabled, false);
    assert.equal(hostile.faults, 3);
    assert.ok(hostile.lastFault);
    assert.match(hostile.disabledReason, /faults/);

    const t0 = Date.now();
    const [after] = await uploadSongs(alice.socket, [{ file: files[3] }]);
    assert.equal(after.artist, 'After Four');
    assert.equal(byName((await ok(admin.socket, 'plugin:list')).items, 'hostile-enricher').faults, 3, 'a faulted plugin is not called');
    assert.ok(Date.now() - t0 < 15000);
    assert.equal((await ok(alice.socket, 'song:list', {})).total, 4, 'every song was added');

    await ok(admin.socket, 'plugin:config', { name: 'hostile-enricher', values: { mode: 'ok' } });
    const back = await ok(admin.socket, 'plugin:enable', { name: 'hostile-enricher' });
    assert.equal(back.plugin.state, 'enabled');
    assert.equal(back.plugin.faults, 0);
    assert.equal(back.plugin.lastFault, undefined);
    await ok(admin.socket, 'plugin:disable', { name: 'hostile-enricher' });
  });

  it('`chillfi plugin list` shows the folder with states; `plugin check` reports good and broken files', async () => {
    const env = { CHILLFI_PLUGINS__DIR: plugins };
    const list = cli(server.dataDir, ['plugin', 'list'], env);
    assert.match(list, /filename-tagger\t0\.1\.0\tenricher\tenabled/);
    assert.match(list, /hostile-enricher\t0\.1\.0\tenricher\tdisabled/);

    const good = spawnSync(BIN, ['plugin', 'check', pluginSource('filename-tagger')], { encoding: 'utf8' });
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /world: +chillfi:plugin\/enricher@0\.1\.0/);
    assert.match(good.stdout, /wit: +0\.1\.0/);
    assert.match(good.stdout, /kind: +enricher/);
    assert.match(good.stdout, /plugin: +filename-tagger 0\.1\.0/);
    const wasm = spawnSync(BIN, ['plugin', 'check', path.join(pluginSource('mobile-profile'), 'mobile-profile.wasm')], { encoding: 'utf8' });
    assert.equal(wasm.status, 0, wasm.stderr);
    assert.match(wasm.stdout, /world: +chillfi:plugin\/transcode-profile@0\.1\.0/);

    const garbage = path.join(media, 'garbage.wasm');
    fs.writeFileSync(garbage, 'this is not webassembly at all');
    const core = path.join(media, 'core.wasm');
    fs.writeFileSync(core, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const mismatched = path.join(media, 'mobile-profile');
    fs.cpSync(pluginSource('mobile-profile'), mismatched, { recursive: true });
    const toml = path.join(mismatched, 'plugin.toml');
    fs.writeFileSync(toml, fs.readFileSync(toml, 'utf8').replace('kind = "transcode-profile"', 'kind = "enricher"'));
    for (const broken of [garbage, core, mismatched, path.join(media, 'missing.wasm')]) {
      const r = spawnSync(BIN, ['plugin', 'check', broken], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `${broken}: ${r.stdout}`);
      assert.match(r.stderr, /cannot be loaded/, r.stderr);
      assert.ok(r.stderr.includes(path.basename(broken)), r.stderr);
    }
    const r = spawnSync(BIN, ['plugin', 'check', mismatched], { encoding: 'utf8' });
    assert.match(r.stderr, /kind/);
  });

  it('`chillfi plugin install` (a folder or a .tar.gz) and `plugin remove` work while the server runs', async () => {
    const env = { CHILLFI_PLUGINS__DIR: plugins };
    const listed = async () => byName((await ok(admin.socket, 'plugin:list')).items, 'my-enricher');
    assert.equal(await listed(), undefined);

    const first = cli(server.dataDir, ['plugin', 'install', pluginSource('my-enricher')], env);
    assert.match(first, /installed my-enricher 0\.1\.0 \(enricher, chillfi:plugin\/enricher@0\.2\.0\)/);
    await waitUntil(async () => (await listed())?.state === 'enabled', 20000, 'the server to load the installed plugin');
    assert.ok(fs.existsSync(path.join(plugins, 'my-enricher', 'my-enricher.wasm')));

    const archive = path.join(media, 'my-enricher.tar.gz');
    const packed = spawnSync('tar', ['czf', archive, '-C', path.dirname(pluginSource('my-enricher')), 'my-enricher']);
    assert.equal(packed.status, 0, String(packed.stderr));
    assert.match(cli(server.dataDir, ['plugin', 'install', archive], env), /replaced my-enricher 0\.1\.0/);
    const zipped = path.join(media, 'my-enricher.zip');
    const zippedBy = spawnSync('python3', ['-c', 'import shutil,sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2], "my-enricher")',
      zipped.replace(/\.zip$/, ''), path.dirname(pluginSource('my-enricher'))]);
    assert.equal(zippedBy.status, 0, String(zippedBy.stderr));
    assert.match(cli(server.dataDir, ['plugin', 'install', zipped], env), /replaced my-enricher 0\.1\.0/);

    // Not a plugin: refused with a reason, the installed one untouched.
    const garbage = path.join(media, 'not-a-plugin.tar.gz');
    fs.writeFileSync(garbage, 'not gzip');
    for (const bad of [garbage, path.join(media, 'nowhere')]) {
      const r = spawnSync(BIN, ['--data-dir', server.dataDir, 'plugin', 'install', bad], { env: { ...process.env, ...env }, encoding: 'utf8' });
      assert.notEqual(r.status, 0, r.stdout);
      assert.ok(r.stderr.includes(path.basename(bad)), r.stderr);
    }
    assert.deepEqual(fs.readdirSync(plugins).filter((n) => n.startsWith('.')), [], 'no staging folder left');

    assert.match(cli(server.dataDir, ['plugin', 'remove', 'my-enricher'], env), /removed my-enricher/);
    await waitUntil(async () => (await listed()) === undefined, 20000, 'the server to unload the removed plugin');
    assert.ok(!fs.existsSync(path.join(plugins, 'my-enricher')));
    const again = spawnSync(BIN, ['--data-dir', server.dataDir, 'plugin', 'remove', 'my-enricher'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /no plugin "my-enricher" is installed/);

    // The admin screen's Remove: the same, answered with the list without it.
    cli(server.dataDir, ['plugin', 'install', pluginSource('my-enricher')], env);
    await waitUntil(async () => (await listed())?.state === 'enabled', 20000, 'the server to load it again');
    const refused = await call(alice.socket, 'plugin:remove', { name: 'my-enricher' });
    assert.equal(refused.error.code, 'forbidden');
    const after = await ok(admin.socket, 'plugin:remove', { name: 'my-enricher' });
    assert.equal(byName(after.items, 'my-enricher'), undefined);
    assert.ok(byName(after.items, 'filename-tagger'));
    assert.ok(!fs.existsSync(path.join(plugins, 'my-enricher')));
    assert.equal((await call(admin.socket, 'plugin:remove', { name: 'my-enricher' })).error.code, 'not_found');

    // Uploaded from the admin screen: chunks in order, then checked and installed.
    const bytes = fs.readFileSync(archive);
    assert.equal((await call(alice.socket, 'plugin:uploadInit', { name: 'x.tar.gz', size: 10 })).error.code, 'forbidden');
    const wrongName = await call(admin.socket, 'plugin:uploadInit', { name: 'x.rar', size: 10 });
    assert.equal(wrongName.error.code, 'invalid');
    assert.equal(wrongName.error.field, 'name');
    assert.equal((await call(admin.socket, 'plugin:uploadInit', { name: 'x.tar.gz', size: 65 * 1024 * 1024 })).error.field, 'size');
    const { uploadId, chunkSize } = await ok(admin.socket, 'plugin:uploadInit', { name: 'my-enricher.tar.gz', size: bytes.length });
    const chunks = Math.ceil(bytes.length / chunkSize);
    const piece = (i) => bytes.subarray(i * chunkSize, (i + 1) * chunkSize);
    if (chunks > 1) assert.equal((await call(admin.socket, 'plugin:uploadChunk', { uploadId, index: 1, data: piece(1) })).error.field, 'index');
    assert.equal((await call(admin.socket, 'plugin:uploadChunk', { uploadId, index: 0, data: Buffer.alloc(3) })).error.field, 'data');
    assert.equal((await call(admin.socket, 'plugin:uploadFinish', { uploadId })).error.code, 'conflict', 'incomplete');
    for (let i = 0; i < chunks; i++) await ok(admin.socket, 'plugin:uploadChunk', { uploadId, index: i, data: piece(i) });
    const done = await ok(admin.socket, 'plugin:uploadFinish', { uploadId });
    assert.equal(done.replaced, false);
    assert.equal(done.plugin.name, 'my-enricher');
    assert.equal(done.plugin.state, 'enabled');
    assert.ok(byName((await ok(admin.socket, 'plugin:list')).items, 'my-enricher'));
    assert.equal((await call(admin.socket, 'plugin:uploadFinish', { uploadId })).error.code, 'not_found', 'used up');
    const staged = path.join(server.dataDir, 'staging', 'plugin-uploads');
    assert.deepEqual(fs.existsSync(staged) ? fs.readdirSync(staged) : [], [], 'nothing staged is left');
    await ok(admin.socket, 'plugin:remove', { name: 'my-enricher' });
  });

  it('a plugin that ships with the server is listed disabled, is enabled in place and cannot be removed', async () => {
    let shipped = byName((await ok(admin.socket, 'plugin:list')).items, 'shipped-genre');
    assert.equal(shipped.packaged, true);
    assert.equal(shipped.state, 'disabled');
    assert.match(shipped.disabledReason, /ships with ChillFi/);
    assert.equal(byName((await ok(admin.socket, 'plugin:list')).items, 'filename-tagger').packaged, false);
    shipped = (await ok(admin.socket, 'plugin:enable', { name: 'shipped-genre' })).plugin;
    assert.equal(shipped.state, 'enabled');
    const list = cli(server.dataDir, ['plugin', 'list'], { CHILLFI_PLUGINS__DIR: plugins });
    assert.match(list, /shipped-genre\t0\.1\.0\tenricher\tenabled\t\(ships with ChillFi\)/);
    const r = spawnSync(BIN, ['--data-dir', server.dataDir, 'plugin', 'remove', 'shipped-genre'], {
      env: { ...process.env, CHILLFI_PLUGINS__DIR: plugins, CHILLFI_PLUGINS__PACKAGED_DIR: packaged }, encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ships with ChillFi .* cannot be removed; disable it instead/);
    assert.ok(fs.existsSync(path.join(packaged, 'shipped-genre', 'shipped-genre.wasm')));
    const removed = await call(admin.socket, 'plugin:remove', { name: 'shipped-genre' });
    assert.equal(removed.error.code, 'conflict');
    assert.match(removed.error.message, /ships with ChillFi/);
    await ok(admin.socket, 'plugin:disable', { name: 'shipped-genre' });
  });

  it('a share handler can refuse links and deny access; a denied link answers like an expired one', async () => {
    const file = sineFile(media, 'Shared Artist - Shared Song.wav', { seconds: 1, freq: 880 });
    const [song] = await uploadSongs(alice.socket, [{ file }]);
    const link = await ok(alice.socket, 'share:create', { kind: 'song', id: song.id });
    assert.equal(link.maxPlays, 3);
    assert.match(link.slug, /^ok-\d+$/);
    const page = `${server.url}/s/${link.token}`;
    assert.equal((await fetch(page)).status, 200);

    await ok(admin.socket, 'plugin:config', { name: 'hostile-share', values: { mode: 'refuse' } });
    const denied = await fetch(page);
    assert.equal(denied.status, 404);
    assert.match(await denied.text(), /not available/);
    assert.equal((await fetch(`${page}/stream/${song.id}`)).status, 404);
    const refused = await call(alice.socket, 'share:create', { kind: 'song', id: song.id });
    assert.equal(refused.error.code, 'forbidden');
    assert.equal(refused.error.message, 'not today');

    await ok(admin.socket, 'plugin:config', { name: 'hostile-share', values: { mode: 'ok' } });
    assert.equal((await fetch(page)).status, 200, 'allowed again');
    const played = await fetch(`${page}/stream/${song.id}`);
    assert.equal(played.status, 200);
    await played.arrayBuffer();
  });
});
