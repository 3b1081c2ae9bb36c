// A mock of the protocol this UI assumes for events the server is still building (library,
// playback, upload, playlists, sharing, plugins, stats), plus the auth events it needs.
// Used for screenshots of screens with data and for UI checks that the real server cannot
// back yet; it is also an executable description of the assumed payloads (see web/README.md).
// The real-server tests live in auth.e2e.test.mjs and library.e2e.test.mjs.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { Server } from 'socket.io';
import { CSP } from './static-proxy.mjs';

const now = () => Math.floor(Date.now() / 1000);

/** A mono 16-bit WAV sine, made once per song, served with Range support. */
function wav(seconds, freq) {
  const rate = 8000;
  const n = seconds * rate;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * freq * i) / rate) * 3000), 44 + i * 2);
  return buf;
}

const FIXTURE = [
  ['Kind of Blue', 'Miles Davis', 1959, 'Jazz', ['So What', 'Freddie Freeloader', 'Blue in Green', 'All Blues', 'Flamenco Sketches']],
  ['Moon Safari', 'Air', 1998, 'Electronic', ['La femme d’argent', 'Sexy Boy', 'All I Need', 'Kelly Watch the Stars', 'Talisman']],
  ['Blue', 'Joni Mitchell', 1971, 'Folk', ['All I Want', 'My Old Man', 'Little Green', 'Carey', 'Blue', 'California']],
  ['Music for Airports', 'Brian Eno', 1978, 'Ambient', ['1/1', '2/1', '1/2', '2/2']],
  ['Cafe Del Mar <Vol. 1>', 'Various & Friends', 1994, 'Chill-out', ['Sunset Dub', 'Ocean Drift']],
];

export async function startMock({ distDir }) {
  const users = new Map();
  const tokens = new Map();
  const addUser = (username, password, isAdmin) => {
    const u = { id: `u-${username}`, username, displayName: username[0].toUpperCase() + username.slice(1), bio: '', isAdmin, hasPassword: true, createdAt: now() - 86400 * 30 };
    users.set(u.id, { ...u, password });
    return u;
  };
  addUser('admin', 'admin-pass-1', true);
  addUser('alice', 'alice-pass-1', false);
  const view = (u) => ({ id: u.id, username: u.username, displayName: u.displayName, bio: u.bio, isAdmin: u.isAdmin, hasPassword: true, createdAt: u.createdAt });

  let seq = 100;
  const songs = new Map();
  const albums = new Map();
  let k = 0;
  for (const [album, artist, year, genre, titles] of FIXTURE) {
    const albumId = `al${albums.size + 1}`;
    albums.set(albumId, { id: albumId, title: album, artist, year, coverUrl: null, songCount: titles.length, durationMs: 0 });
    titles.forEach((title, i) => {
      const id = `s${++k}`;
      const durationMs = (150 + ((k * 37) % 200)) * 1000;
      albums.get(albumId).durationMs += durationMs;
      songs.set(id, { id, title, artist, album, albumArtist: artist, albumId, track: i + 1, disc: 1, year, genre, durationMs, bitrate: 320, coverUrl: null, uploaderId: 'u-admin', createdAt: now() - k * 3600, updatedAt: now() - k * 3600 });
    });
  }
  const audio = new Map();
  const playlists = new Map();
  playlists.set('p1', { id: 'p1', name: 'Late Night', ownerId: 'u-admin', ownerName: 'Admin', isPublic: false, songIds: ['s3', 's7', 's12', 's18', 's1'], sharedWith: [], createdAt: now(), updatedAt: now() });
  playlists.set('p2', { id: 'p2', name: 'Sunday Morning', ownerId: 'u-admin', ownerName: 'Admin', isPublic: true, songIds: ['s11', 's13', 's16'], sharedWith: [{ id: 'u-alice', username: 'alice', displayName: 'Alice' }], createdAt: now(), updatedAt: now() });
  const plView = (p) => ({ ...p, songCount: p.songIds.length, durationMs: p.songIds.reduce((a, id) => a + (songs.get(id)?.durationMs ?? 0), 0) });

  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ status: 'ok', version: '0.1.0-mock', uptimeSecs: 3725, storage: { backend: 'local', ok: true } }));
    }
    const m = url.pathname.match(/^\/mock\/audio\/(\w+)\.wav$/);
    if (m && songs.has(m[1])) {
      const s = songs.get(m[1]);
      if (!audio.has(s.id)) audio.set(s.id, wav(Math.round(s.durationMs / 1000), 220 + (Number(s.id.slice(1)) % 12) * 30));
      const data = audio.get(s.id);
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      if (range) {
        const a = Number(range[1]);
        const b = range[2] ? Number(range[2]) : data.length - 1;
        res.writeHead(206, { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'content-range': `bytes ${a}-${b}/${data.length}`, 'content-length': b - a + 1 });
        return res.end(data.subarray(a, b + 1));
      }
      res.writeHead(200, { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'content-length': data.length });
      return res.end(data);
    }
    let rel = url.pathname === '/' ? '/index.html' : decodeURIComponent(url.pathname);
    const file = path.join(distDir, path.normalize(rel));
    if (!file.startsWith(distDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404);
      return res.end();
    }
    const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' }[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-security-policy': CSP });
    fs.createReadStream(file).pipe(res);
  });

  const io = new Server(httpServer, { maxHttpBufferSize: 8e6 });
  const ok = (data) => ({ ok: true, data });
  const err = (code, message, field) => ({ ok: false, error: field ? { code, message, field } : { code, message } });

  io.on('connection', (socket) => {
    let me = null;
    const t = socket.handshake.auth?.token;
    if (t && tokens.has(t)) me = users.get(tokens.get(t));
    socket.emit('auth:session', { user: me ? view(me) : null, reason: t && !me ? 'invalid_token' : null });
    const grant = (u) => {
      const token = `tok-${u.id}-${Math.random().toString(36).slice(2)}`;
      tokens.set(token, u.id);
      me = u;
      return { token, expiresAt: now() + 7 * 86400, user: view(u) };
    };
    const page = (items, q) => {
      const start = Number(q.cursor ?? 0);
      const limit = q.limit ?? 60;
      return { items: items.slice(start, start + limit), nextCursor: start + limit < items.length ? String(start + limit) : null, cursor: seq };
    };
    const handlers = {
      'server:info': () => ok({ name: 'ChillFi', version: '0.1.0-mock', hasUsers: true, user: me ? view(me) : null }),
      'auth:login': (p) => {
        const u = [...users.values()].find((x) => x.username === p.username && x.password === p.password);
        return u ? ok(grant(u)) : err('unauthenticated', 'wrong username or password');
      },
      'auth:logout': () => ((me = null), ok({})),
      'user:update': (p) => {
        if (p.displayName !== undefined && !p.displayName.trim()) return err('invalid', 'a display name has 1 to 64 characters', 'displayName');
        Object.assign(me, p);
        return ok({ user: view(me) });
      },
      'user:list': () => ok({ items: [...users.values()].map(view) }),
      'user:getStats': () =>
        ok({
          totalPlays: 482,
          totalListeningMs: 1000 * 60 * 60 * 27.4,
          uploads: songs.size,
          topSongs: ['s3', 's7', 's12'].map((id, i) => ({ song: songs.get(id), plays: 40 - i * 9 })),
          topArtists: [{ artist: 'Miles Davis', plays: 120 }, { artist: 'Air', plays: 96 }, { artist: 'Joni Mitchell', plays: 71 }],
          recent: [],
        }),
      'song:list': (q) => {
        let items = [...songs.values()];
        if (q.query) items = items.filter((s) => `${s.title} ${s.artist} ${s.album}`.toLowerCase().includes(q.query.toLowerCase()));
        if (q.artistId) items = items.filter((s) => s.artist === q.artistId);
        const key = { title: 'title', artist: 'artist', album: 'album' }[q.sort];
        items.sort(key ? (a, b) => a[key].localeCompare(b[key]) : (a, b) => b.createdAt - a.createdAt);
        return ok(page(items, q));
      },
      'song:get': (p) => (songs.has(p.songId) ? ok({ song: songs.get(p.songId) }) : err('not_found', 'no such song')),
      'song:update': (p) => {
        const s = songs.get(p.songId);
        if (!s) return err('not_found', 'no such song');
        if (p.patch.title !== undefined && !p.patch.title.trim()) return err('invalid', 'a title has 1 to 256 characters', 'title');
        Object.assign(s, p.patch, { updatedAt: now() + ++seq });
        io.emit('song:updated', { song: s, seq });
        return ok({ song: s });
      },
      'song:delete': (p) => {
        songs.delete(p.songId);
        io.emit('song:deleted', { songId: p.songId, seq: ++seq });
        return ok({ songId: p.songId });
      },
      'library:changes': () => ok({ cursor: seq, upserted: [], deleted: [] }),
      'album:list': (q) => ok(page([...albums.values()], q)),
      'album:get': (p) => ok({ album: albums.get(p.albumId), songs: [...songs.values()].filter((s) => s.albumId === p.albumId) }),
      'artist:list': (q) => {
        const by = new Map();
        for (const s of songs.values()) {
          const a = by.get(s.artist) ?? { id: s.artist, name: s.artist, albumCount: 0, songCount: 0, albums: new Set() };
          a.songCount++;
          a.albums.add(s.album);
          a.albumCount = a.albums.size;
          by.set(s.artist, a);
        }
        return ok(page([...by.values()].map(({ albums: _a, ...x }) => x), q));
      },
      'song:play': (p) => (songs.has(p.songId) ? ok({ url: `/mock/audio/${p.songId}.wav`, expiresAt: now() + 3600, song: songs.get(p.songId) }) : err('not_found', 'no such song')),
      'playlist:list': () => ok({ items: [...playlists.values()].map(plView) }),
      'playlist:get': (p) => {
        const pl = playlists.get(p.playlistId);
        return pl ? ok({ playlist: plView(pl), songs: pl.songIds.map((id) => songs.get(id)).filter(Boolean) }) : err('not_found', 'no such playlist');
      },
      'playlist:reorder': (p) => {
        const pl = playlists.get(p.playlistId);
        pl.songIds = p.songIds;
        io.emit('playlist:updated', { playlist: plView(pl) });
        return ok({ playlist: plView(pl) });
      },
      'share:list': () => ok({ items: [] }),
      'share:create': (p) => ok({ token: 'calm-river-42', url: '/s/calm-river-42', kind: p.kind, id: p.id, expiresAt: p.expiresAt ?? null, maxPlays: p.maxPlays ?? null, plays: 0, createdAt: now() }),
      'plugin:list': () =>
        ok({
          items: [
            { name: 'filename-tagger', version: '0.1.0', kind: 'enricher', description: 'Fills missing tags from paths like Artist/Album/07 - Title.flac', enabled: true, faults: 0 },
            { name: 'mobile-profile', version: '0.1.0', kind: 'transcode-profile', description: 'Opus 96 kb/s for mobile clients', enabled: true, faults: 0 },
            { name: 'expiring-links', version: '0.1.0', kind: 'share-handler', description: 'Readable slugs, default expiry and play limit', enabled: false, faults: 3, lastFault: { at: now() - 600, message: 'deadline exceeded (200 ms)' }, disabledReason: 'too many faults' },
          ],
        }),
    };
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (!ack) return;
      const h = handlers[event];
      if (!h) return ack(err('invalid', `unknown event '${event}'`));
      const anon = ['server:info', 'auth:login', 'auth:useResetToken'];
      if (!me && !anon.includes(event)) return ack(err('unauthenticated', 'sign in first'));
      ack(h(args[0] ?? {}));
    });
  });

  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const { port } = httpServer.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => io.close(() => r())),
  };
}
