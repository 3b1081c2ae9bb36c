// GET /metrics (docs/operations.md "Metrics"): off by default, guarded by a bearer token, and its
// counters move with what users do; no token or id ever becomes a label.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALICE, login, ok, sineFile, startServer, uploadSongs } from './harness.mjs';

/** The value of one series (name with its labels exactly as exposed), or 0 when absent. */
function value(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('metrics', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('is off unless configured', async () => {
    const server = await startServer();
    servers.push(server);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
  });

  it('asks for its token, then counts requests, socket events, ingest jobs and the library', async () => {
    const tokenFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-metrics-')), 'token');
    fs.writeFileSync(tokenFile, 'scrape-me-123\n', { mode: 0o600 });
    const server = await startServer({ env: { CHILLFI_METRICS__ENABLED: 'true', CHILLFI_METRICS__TOKEN_FILE: tokenFile } });
    servers.push(server);
    const scrape = async (token = 'scrape-me-123') => fetch(`${server.url}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    assert.equal((await scrape(null)).status, 401);
    assert.equal((await scrape('wrong')).status, 401);
    const first = await scrape();
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type'), /^text\/plain/);
    const before = await first.text();
    assert.match(before, /chillfi_build_info\{version="[^"]+"\} 1/);

    const { socket: alice } = await login(server, ALICE);
    await ok(alice, 'song:list', {});
    const media = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-metrics-media-'));
    const [song] = await uploadSongs(alice, [{ file: sineFile(media, 'm.wav', { seconds: 1 }), metadata: { title: 'Counted' } }]);
    const share = await ok(alice, 'share:create', { kind: 'song', id: song.id });
    assert.equal((await fetch(`${server.url}/s/${share.token}`)).status, 200);
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);

    const after = await (await scrape()).text();
    const health = 'chillfi_http_requests_total{route="/api/health",status="200"}';
    assert.equal(value(after, health), value(before, health) + 1);
    assert.equal(value(after, 'chillfi_http_requests_total{route="/s/:token",status="200"}'), 1);
    assert.ok(value(after, 'chillfi_socketio_requests_total{event="song:list",code="ok"}') >= 1);
    assert.ok(value(after, 'chillfi_socketio_requests_total{event="auth:login",code="ok"}') >= 1);
    assert.equal(value(after, 'chillfi_ingest_jobs_total{outcome="added"}'), 1);
    assert.equal(value(after, 'chillfi_library_songs'), 1);
    assert.ok(value(after, 'chillfi_sockets_open') >= 1);
    assert.match(after, /chillfi_http_request_duration_seconds_count\{route="\/s\/:token"\} 1/);
    assert.match(after, /chillfi_http_request_duration_seconds_bucket\{route="\/s\/:token",le="\+Inf"\} 1/, 'a histogram with buckets');
    assert.ok(!after.includes(share.token), 'no share token becomes a label');
    alice.close();
    fs.rmSync(media, { recursive: true, force: true });
  });
});
