// E2E harness: the real chillfi binary (like core/server/tests/socket/harness.mjs), the built UI,
// and Debian's Chromium driven by playwright-core.
//
// Where the UI comes from (one switch):
//   E2E_UI=proxy  (default) web/dist served by e2e/static-proxy.mjs with the server's CSP,
//                 proxying everything else (/socket.io, /api, /stream, /art, /s/) to chillfi
//   E2E_UI=server the UI embedded in chillfi itself (once core/server embeds web/dist)
// Env names never start with CHILLFI_ (the server reads those as configuration).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStaticProxy } from './static-proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB = path.resolve(here, '..');
export const REPO = path.resolve(WEB, '..');
export const UI_SOURCE = process.env.E2E_UI ?? 'proxy';
export const BIN =
  process.env.TEST_CHILLFI_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target'), 'debug', 'chillfi');
export const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'test-artifacts', 'screenshots');

export const ADMIN = { name: 'admin', password: 'admin-pass-1', admin: true };
export const ALICE = { name: 'alice', password: 'alice-pass-1', admin: false };

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function cli(dataDir, args) {
  return execFileSync(BIN, ['--data-dir', dataDir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Creates users with the CLI before the server starts; returns reset tokens of those without a password. */
export function addUsers(dataDir, users) {
  const tokens = {};
  for (const u of users) {
    const args = ['user', 'add', u.name];
    if (u.admin) args.push('--admin');
    if (u.password) {
      const f = path.join(dataDir, `.pw-${u.name}`);
      fs.writeFileSync(f, u.password + '\n', { mode: 0o600 });
      args.push('--password-file', f);
    }
    const m = cli(dataDir, args).match(/reset token[^:]*: ([0-9a-f]{32})/);
    if (m) tokens[u.name] = m[1];
  }
  return tokens;
}

/** A fresh data dir, users, chillfi on a free port, and the UI URL to open. */
export async function startStack({ users = [ADMIN, ALICE], env = {} } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`chillfi binary not found at ${BIN} (cargo build -p chillfi, or set TEST_CHILLFI_BIN)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-'));
  const resetTokens = addUsers(dataDir, users);
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  let logs = '';
  let proc;
  let exited;
  const launch = async () => {
    proc = spawn(BIN, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, CHILLFI_LOG__LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => (logs += d));
    proc.stderr.on('data', (d) => (logs += d));
    exited = new Promise((r) => proc.on('exit', (code) => {
      // Kept for the secrets check of the whole run (core/server/tests/socket/secrets-in-logs.mjs).
      const dir = path.join(REPO, 'test-artifacts', 'server-logs');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `e2e-${path.basename(dataDir)}-${port}-${Date.now()}.log`), logs);
      r(code);
    }));
    const deadline = Date.now() + 30000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`chillfi exited early:\n${logs}`);
      try {
        if ((await fetch(`${apiUrl}/api/health`)).ok) return;
      } catch {}
      if (Date.now() > deadline) throw new Error(`chillfi did not become ready:\n${logs}`);
      await sleep(50);
    }
  };
  const kill = async () => {
    if (proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited;
  };
  await launch();
  let proxy = null;
  let uiUrl = apiUrl;
  if (UI_SOURCE === 'proxy') {
    const dist = path.join(WEB, 'dist');
    if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error('web/dist is missing: run npm run build');
    proxy = await startStaticProxy({ distDir: dist, target: apiUrl });
    uiUrl = proxy.url;
  }
  return {
    apiUrl,
    uiUrl,
    dataDir,
    resetTokens,
    logs: () => logs,
    /** Stops chillfi (same port and data kept) so tests can watch the client reconnect. */
    kill,
    relaunch: launch,
    async stop() {
      await proxy?.close();
      await kill();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/**
 * A new context + page at `viewport` (`hasTouch`: a touch screen). Collects console errors and CSP violations so tests can
 * assert none happened.
 */
export async function openPage(browser, stack, { viewport = DESKTOP, hash = '', hasTouch = false, colorScheme = 'dark' } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme, reducedMotion: 'reduce', hasTouch });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  recordSocketTraffic(page);
  await page.goto(`${stack.uiUrl}/${hash}`);
  return { context, page };
}

/** Keeps the page's last Socket.IO frames and requests, to explain a wait that timed out. */
function recordSocketTraffic(page) {
  page.traffic = [];
  const note = (line) => {
    page.traffic.push(`${new Date().toISOString().slice(11, 23)} ${line.slice(0, 300)}`);
    if (page.traffic.length > 200) page.traffic.shift();
  };
  page.on('framenavigated', (f) => f === page.mainFrame() && note(`navigated ${f.url()}`));
  page.on('console', (m) => note(`console.${m.type()} ${m.text()}`));
  page.on('request', (r) => r.url().includes('/socket.io/') && note(`http ${r.method()} ${r.url()}`));
  page.on('requestfailed', (r) => note(`http failed ${r.url()} ${r.failure()?.errorText}`));
  page.on('websocket', (ws) => {
    note(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => note(`ws > ${f.payload}`));
    ws.on('framereceived', (f) => note(`ws < ${f.payload}`));
    ws.on('socketerror', (e) => note(`ws error ${e}`));
    ws.on('close', () => note('ws closed'));
  });
}

/**
 * Waits for `locator`; on a timeout the error says what the page showed, its recent socket
 * traffic and the server's log tail, so a rare failure explains itself.
 */
export async function waitExplained(page, stack, locator, options) {
  try {
    await locator.waitFor(options);
  } catch (e) {
    const shown = await page.locator('body').innerText().catch(() => '?');
    throw new Error(
      `${e.message}\npage at ${page.url()} shows:\n${shown.slice(0, 1500)}\n` +
        `socket traffic:\n${(page.traffic ?? []).join('\n')}\nserver log tail:\n${stack.logs().slice(-3000)}`,
    );
  }
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

export async function signIn(page, user) {
  await page.getByLabel('Username').fill(user.name);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('me-name').first().waitFor({ state: 'attached' });
}

/**
 * Which of `events` the server does not know yet (it answers "unknown event" to those, and
 * `unauthenticated` to known ones from an anonymous socket). Used to skip scenarios, with the
 * missing event as the reason, until the server lands them.
 */
export async function missingEvents(events) {
  const { io } = await import('socket.io-client');
  const stack = await startStack({ users: [] });
  try {
    const socket = io(stack.apiUrl, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise((res, rej) => {
      socket.once('connect', res);
      socket.once('connect_error', rej);
    });
    const missing = [];
    for (const e of events) {
      const r = await socket.timeout(5000).emitWithAck(e, {});
      if (!r?.ok && /unknown event/i.test(r?.error?.message ?? '')) missing.push(e);
    }
    socket.close();
    return missing;
  } finally {
    await stack.stop();
  }
}

/** A square PNG of one colour (cover art), made with the ffmpeg CLI. */
export function makeCover(dir, color) {
  const file = path.join(dir, `cover-${color.replace(/[^a-z0-9]+/gi, '')}.png`);
  if (!fs.existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${color}:s=320x320`, '-frames:v', '1', file]);
  }
  return file;
}

/**
 * A short tagged FLAC made with the ffmpeg CLI: a sine of `freq` Hz, optionally with an embedded
 * front cover (`cover`: a PNG path).
 */
export function makeFlac(dir, { title, artist, album = 'E2E Sessions', seconds = 12, freq = 440, track, year, genre, cover }) {
  const file = path.join(dir, `${title.replace(/[^a-z0-9]+/gi, '-')}.flac`);
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${freq}:duration=${seconds}`];
  if (cover) args.push('-i', cover, '-map', '0:a', '-map', '1:v', '-c:v', 'copy', '-disposition:v', 'attached_pic');
  args.push('-ac', '2', '-ar', '44100');
  const tags = { title, artist, album, track, date: year, genre };
  for (const [k, v] of Object.entries(tags)) if (v != null) args.push('-metadata', `${k}=${v}`);
  args.push(file);
  execFileSync('ffmpeg', args);
  return file;
}

/** A signed-in socket.io-client socket (the official client, like the browser uses). */
export async function apiSocket(stack, user) {
  const { io } = await import('socket.io-client');
  const socket = io(stack.apiUrl, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise((res, rej) => {
    socket.once('connect', res);
    socket.once('connect_error', rej);
  });
  const call = async (event, payload = {}, timeout = 20000) => {
    const r = await socket.timeout(timeout).emitWithAck(event, payload);
    if (!r?.ok) throw new Error(`${event}: ${r?.error?.code} ${r?.error?.message} ${r?.error?.field ?? ''}`);
    return r.data;
  };
  await call('auth:login', { username: user.name, password: user.password });
  return { socket, call, close: () => socket.close() };
}

/**
 * Uploads files through the socket API (docs/protocol.md "Uploads"): init, 1 MiB chunks acked
 * one by one, then waits for every song:uploadResult. Returns the results in file order.
 */
export async function uploadViaSocket(stack, user, files) {
  const s = await apiSocket(stack, user);
  try {
    const results = new Map();
    let wake = () => {};
    s.socket.on('song:uploadResult', (r) => {
      results.set(r.fileId, r);
      wake();
    });
    const bufs = files.map((f) => fs.readFileSync(f));
    const st = await s.call('song:uploadInit', { files: files.map((f, i) => ({ name: path.basename(f), size: bufs[i].length })) });
    for (const [i, f] of st.files.entries()) {
      for (let k = 0; k < f.chunks; k++) {
        const data = bufs[i].subarray(k * st.chunkSize, (k + 1) * st.chunkSize);
        await s.call('song:uploadChunk', { uploadId: st.uploadId, fileId: f.fileId, index: k, data });
      }
    }
    const deadline = Date.now() + 120000;
    while (st.files.some((f) => !results.has(f.fileId))) {
      if (Date.now() > deadline) throw new Error(`upload results missing:\n${stack.logs()}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 1000);
      });
    }
    const out = st.files.map((f) => results.get(f.fileId));
    const bad = out.filter((r) => r.status !== 'added' && r.status !== 'duplicate');
    if (bad.length) throw new Error(`uploads failed: ${JSON.stringify(bad)}`);
    return out;
  } finally {
    s.close();
  }
}

/**
 * Text on the page whose contrast with what is behind it is under `min` (WCAG 2 ratio), as
 * `{text, ratio, fg, bg, where}`. The colour behind is the composite of the ancestors'
 * background colours; `opacity` on the way up blends the text into it. Hidden and disabled
 * text (WCAG exempts inactive controls) and text over images are not checked.
 */
export async function lowContrast(page, min = 4.5) {
  await page.mouse.move(0, 0);
  // Measured on the settled page: a view that has just opened may still be in its first frame
  // of a fade-in (opacity 0), whatever the reduced-motion duration. Endless animations
  // (spinners) never finish and are left out.
  await page.evaluate(async () => {
    const finite = document.getAnimations().filter((a) => Number.isFinite(a.effect?.getComputedTiming().endTime));
    await Promise.all(finite.map((a) => a.finished.catch(() => {})));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
  return page.evaluate((min) => {
    const parse = (c) => {
      const srgb = c.match(/^color\(srgb ([^)]+)\)/);
      if (srgb) {
        const p = srgb[1].split(/[ /]+/).filter(Boolean).map(Number);
        return { r: p[0] * 255, g: p[1] * 255, b: p[2] * 255, a: p.length > 3 ? p[3] : 1 };
      }
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
    };
    const over = (top, under) => {
      const a = top.a + under.a * (1 - top.a);
      if (a === 0) return { r: 0, g: 0, b: 0, a: 0 };
      const ch = (k) => (top[k] * top.a + under[k] * under.a * (1 - top.a)) / a;
      return { r: ch('r'), g: ch('g'), b: ch('b'), a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (x, y) => {
      const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p);
      return (a + 0.05) / (b + 0.05);
    };
    const hex = ({ r, g, b }) => '#' + [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
    const out = [];
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent.trim() || seen.has(el)) continue;
      seen.add(el);
      if (el.closest('script, style, option, [aria-hidden="true"], :disabled, [aria-disabled="true"], .sr-only')) continue;
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      if (r.width < 2 || r.height < 2 || cs.visibility !== 'visible' || r.bottom < 0 || r.top > innerHeight) continue;
      // what is behind: background colours from the element up, composited bottom-up
      const layers = [];
      let opacity = 1;
      let overImage = false;
      for (let a = el; a; a = a.parentElement) {
        const s = getComputedStyle(a);
        opacity *= Number(s.opacity);
        if (s.backgroundImage !== 'none') overImage = true;
        const bg = parse(s.backgroundColor);
        if (bg && bg.a > 0) layers.push(bg);
        if (bg && bg.a === 1) break;
      }
      if (overImage) continue;
      let bg = { r: 255, g: 255, b: 255, a: 1 };
      for (const l of layers.reverse()) bg = over(l, bg);
      const fg0 = parse(cs.color);
      if (!fg0) continue;
      const fg = over({ ...fg0, a: fg0.a * opacity }, bg);
      const q = ratio(fg, bg);
      if (q < min) out.push({ text: n.textContent.trim().slice(0, 40), ratio: Math.round(q * 100) / 100, fg: hex(fg), bg: hex(bg), where: el.className || el.tagName });
    }
    return out;
  }, min);
}
