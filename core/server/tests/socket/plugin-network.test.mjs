// The MusicBrainz enricher (WIT 0.2.0, wasi:http) inside the server: it waits for an
// administrator's grant, then an upload is looked up on a local fixture that answers like
// MusicBrainz and the Cover Art Archive (no internet): the song gets album, numbers, ids and a
// cover the server re-encoded. Refused grants are `invalid` with a reason.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN, ALICE, call, ffmpeg, ffprobe, flacWithCover, login, ok, startServer, uploadSongs } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../../..');
const SOURCE = path.join(repo, 'plugins', 'dist', 'musicbrainz-enricher');

const RECORDING = '0d1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const RELEASE = '1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d';
const ARTIST = '2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e';

function searchAnswer() {
  const credit = [{ name: 'The Band', artist: { id: ARTIST, name: 'The Band' } }];
  return JSON.stringify({
    count: 1,
    recordings: [{
      id: RECORDING, score: 100, title: 'Hit Song', length: 4000, 'artist-credit': credit,
      releases: [{
        id: RELEASE, title: 'Greatest Album', date: '1999-05-01', 'artist-credit': credit,
        media: [{ position: 2, 'track-count': 12, track: [{ number: '7', title: 'Hit Song' }] }],
      }],
    }],
  });
}

/** MusicBrainz + Cover Art Archive look-alike on a loopback port. */
function startFixture(cover) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, ua: req.headers['user-agent'] ?? '' });
    const port = server.address().port;
    if (req.url.startsWith('/ws/2/recording?')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(searchAnswer());
    } else if (req.url === `/release/${RELEASE}/front-500`) {
      res.writeHead(307, { location: `http://127.0.0.1:${port}/ia/front.png` }).end();
    } else if (req.url === '/ia/front.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(cover);
    } else {
      res.writeHead(404).end('not here');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

describe('a network plugin in the server (musicbrainz-enricher against a fixture)', () => {
  let media;
  let plugins;
  let server;
  let fixture;
  let admin;
  let alice;
  let coverPng;

  before(async () => {
    media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-mb-media-'));
    coverPng = fs.readFileSync(ffmpeg(path.join(media, 'front.png'), ['-f', 'lavfi', '-i', 'testsrc=s=1600x1600', '-frames:v', '1']));
    fixture = await startFixture(coverPng);
    plugins = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-mb-plugins-'));
    const dst = path.join(plugins, 'musicbrainz-enricher');
    fs.cpSync(SOURCE, dst, { recursive: true });
    // The fixture is on loopback: an IP literal the administrator grants by name.
    const manifest = fs.readFileSync(path.join(dst, 'plugin.toml'), 'utf8')
      .replace(/^allowed-hosts = .*$/m, 'allowed-hosts = ["127.0.0.1", "musicbrainz.org"]');
    fs.writeFileSync(path.join(dst, 'plugin.toml'), manifest);
    server = await startServer({ env: { CHILLFI_PLUGINS__DIR: plugins, CHILLFI_PLUGINS__HTTP_MIN_INTERVAL_MS: '0' } });
    admin = await login(server, ADMIN);
    alice = await login(server, ALICE);
  });

  after(async () => {
    admin?.socket.close();
    alice?.socket.close();
    await server?.stop();
    fixture?.server.close();
    fs.rmSync(media, { recursive: true, force: true });
    fs.rmSync(plugins, { recursive: true, force: true });
  });

  it('waits disabled for a grant; bad grants are refused with a reason', async () => {
    const { items } = await ok(admin.socket, 'plugin:list');
    const p = items.find((i) => i.name === 'musicbrainz-enricher');
    assert.equal(p.state, 'disabled');
    assert.equal(p.witVersion, '0.2.0');
    assert.deepEqual(p.capabilities, ['http']);
    assert.deepEqual(p.requestedHosts, ['127.0.0.1', 'musicbrainz.org']);
    assert.deepEqual(p.grantedHosts, []);

    const notAsked = await call(admin.socket, 'plugin:enable', { name: 'musicbrainz-enricher', hosts: ['evil.example'] });
    assert.equal(notAsked.error.code, 'invalid');
    assert.equal(notAsked.error.field, 'hosts');
    assert.match(notAsked.error.message, /not among the hosts/);
    const none = await call(admin.socket, 'plugin:enable', { name: 'musicbrainz-enricher', hosts: [] });
    assert.match(none.error.message, /at least one host/);
    const byAlice = await call(alice.socket, 'plugin:enable', { name: 'musicbrainz-enricher' });
    assert.equal(byAlice.error.code, 'forbidden');
  });

  it('an upload is looked up: album, numbers, MusicBrainz ids and a re-encoded cover', async () => {
    const base = `http://127.0.0.1:${fixture.port}`;
    await ok(admin.socket, 'plugin:config', { name: 'musicbrainz-enricher', values: { 'musicbrainz-url': base, 'coverart-url': base } });
    const { plugin } = await ok(admin.socket, 'plugin:enable', { name: 'musicbrainz-enricher', hosts: ['127.0.0.1'] });
    assert.equal(plugin.state, 'enabled');
    assert.deepEqual(plugin.grantedHosts, ['127.0.0.1']);

    const file = ffmpeg(path.join(media, 'hit.flac'), [
      '-f', 'lavfi', '-i', 'sine=f=330:d=4', '-metadata', 'title=Hit Song', '-metadata', 'artist=The Band', '-c:a', 'flac',
    ]);
    const [song] = await uploadSongs(alice.socket, [{ file }]);
    assert.equal(song.title, 'Hit Song');
    assert.equal(song.album, 'Greatest Album');
    assert.equal(song.albumArtist, 'The Band');
    assert.equal(song.year, 1999);
    assert.equal(song.track, 7);
    assert.equal(song.disc, 2);
    assert.equal(song.trackTotal, 12);
    assert.deepEqual(song.musicBrainz, { recordingId: RECORDING, releaseId: RELEASE, artistId: ARTIST });
    const search = fixture.seen.find((s) => s.url.startsWith('/ws/2/recording?'));
    assert.match(decodeURIComponent(search.url), /recording:"Hit Song" AND artist:"The Band"/);
    assert.match(search.ua, /^chillfi-musicbrainz-enricher\/0\.2\.0 ChillFi\/\S+ \(musicbrainz-enricher\/0\.2\.0\)$/);

    // The cover came through the archive's redirect and was decoded and encoded again.
    assert.match(song.coverUrl, /^\/art\/[0-9a-f]{64}\.jpg$/);
    const res = await fetch(`${server.url}${song.coverUrl}`);
    assert.equal(res.status, 200);
    const stored = Buffer.from(await res.arrayBuffer());
    assert.notDeepEqual(stored, coverPng);
    const storedFile = path.join(media, 'stored.jpg');
    fs.writeFileSync(storedFile, stored);
    const video = ffprobe(storedFile).streams[0];
    assert.equal(video.codec_name, 'mjpeg');
    assert.deepEqual([video.width, video.height], [1200, 1200], 'scaled to the 1200 px cap');

    const { song: again } = await ok(alice.socket, 'song:get', { songId: song.id });
    assert.equal(again.musicBrainz.recordingId, RECORDING);

    // A file with its own picture keeps it: the plugin is told and asks the archive for nothing.
    const covers = fixture.seen.filter((s) => s.url.startsWith('/release/')).length;
    const own = flacWithCover(media, 'own.flac', { seconds: 3, title: 'Hit Song', artist: 'The Band', album: 'Greatest Album' });
    const [withOwn] = await uploadSongs(alice.socket, [{ file: own }]);
    assert.equal(withOwn.musicBrainz.recordingId, RECORDING);
    assert.match(withOwn.coverUrl, /\.png$/, 'the embedded PNG, not the archive\'s picture');
    assert.equal(fixture.seen.filter((s) => s.url.startsWith('/release/')).length, covers);
  });

  it('with plugins.prefer_plugin_cover the plugin\'s picture replaces the file\'s own', async () => {
    const env = { CHILLFI_PLUGINS__DIR: plugins, CHILLFI_PLUGINS__HTTP_MIN_INTERVAL_MS: '0', CHILLFI_PLUGINS__PREFER_PLUGIN_COVER: 'true' };
    const other = await startServer({ env });
    const [a, al] = [await login(other, ADMIN), await login(other, ALICE)];
    try {
      const base = `http://127.0.0.1:${fixture.port}`;
      await ok(a.socket, 'plugin:config', { name: 'musicbrainz-enricher', values: { 'musicbrainz-url': base, 'coverart-url': base, 'fetch-cover': 'true' } });
      await ok(a.socket, 'plugin:enable', { name: 'musicbrainz-enricher' });
      const own = flacWithCover(media, 'prefer.flac', { seconds: 3, title: 'Hit Song', artist: 'The Band', album: 'Greatest Album' });
      const [song] = await uploadSongs(al.socket, [{ file: own }]);
      assert.match(song.coverUrl, /\.jpg$/, 'the re-encoded archive picture, not the embedded PNG');
      const stored = path.join(media, 'preferred.jpg');
      fs.writeFileSync(stored, Buffer.from(await (await fetch(`${other.url}${song.coverUrl}`)).arrayBuffer()));
      assert.deepEqual([ffprobe(stored).streams[0].width, ffprobe(stored).streams[0].height], [1200, 1200]);
    } finally {
      a.socket.close();
      al.socket.close();
      await other.stop();
    }
  });
});
