// E2E: the public share page /s/<token> in a logged-out browser. It looks like ChillFi (light or
// dark as the visitor's system prefers), shows the cover, title, owner, the tracks with their
// durations and one player (play all, previous/next, the current track highlighted). The CSP
// stays strict (script and stylesheet are files), markup in tags is text, the page touches
// nothing of the app's session, and without JavaScript every track has its own native player.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  DESKTOP,
  PHONE,
  apiSocket,
  launchBrowser,
  lowContrast,
  makeCover,
  makeFlac,
  openPage,
  shot,
  signIn,
  startStack,
  uploadViaSocket,
  waitExplained,
} from './harness.mjs';

const ALBUM = 'Harbour <Nights> & Days';
const SONGS = [
  { title: 'First Light', seconds: 6, freq: 350 },
  { title: '<b>Bold</b> "Tide"', seconds: 7, freq: 400 },
  { title: 'Last Ferry', seconds: 65, freq: 450 },
];

let browser;
let stack;
let tmp;
let share;
let shareUrl;
before(async () => {
  browser = await launchBrowser();
  stack = await startStack({ users: [ADMIN] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-share-'));
  const cover = makeCover(tmp, '0x2e6f8e');
  const results = await uploadViaSocket(
    stack,
    ADMIN,
    SONGS.map((s, i) => makeFlac(tmp, { ...s, artist: 'The Quay', album: ALBUM, track: i + 1, cover })),
  );
  const s = await apiSocket(stack, ADMIN);
  await s.call('user:update', { displayName: 'Captain <Admin>' });
  share = await s.call('share:create', { kind: 'album', id: results[0].song.albumId });
  s.close();
  shareUrl = `${stack.uiUrl}/s/${share.token}`;
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const current = (page) => page.locator('.tracks .track.current .track-title');
const audioOf = (page) => page.locator('.player audio');

for (const [size, viewport, scheme] of [
  ['desktop', DESKTOP, 'dark'],
  ['phone', PHONE, 'light'],
]) {
  describe(`share page at ${size} size (${scheme})`, () => {
    test('styled like ChillFi: cover, title, owner, tracks with durations; one player with play all, next, previous', async () => {
      const { context, page } = await openPage(browser, stack, { viewport, colorScheme: scheme });
      await page.goto(shareUrl);
      await page.getByRole('heading', { level: 1, name: ALBUM }).waitFor();
      // the visitor's preference picks the colours
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, scheme === 'dark' ? 'rgb(17, 19, 24)' : 'rgb(246, 247, 251)');
      assert.match(await page.locator('.share-kind').innerText(), /Album · shared by /i);
      const cover = page.getByRole('img', { name: `Cover of ${ALBUM}` });
      await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await cover.elementHandle());
      const rows = page.locator('.tracks .track');
      assert.equal(await rows.count(), 3);
      assert.deepEqual(await page.locator('.track-title').allInnerTexts(), SONGS.map((s) => s.title));
      assert.deepEqual(await page.locator('.track-dur').allInnerTexts(), ['0:06', '0:07', '1:05']);
      assert.equal(await page.locator('.share-stats').innerText(), '3 songs · 1:18');
      assert.equal(await page.locator('.tracks b').count(), 0, 'markup in a tag is text');
      // a favicon, and the page's own files (no inline script or style)
      const icon = await page.locator('link[rel=icon]').getAttribute('href');
      const res = await page.request.get(`${stack.uiUrl}${icon}`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /svg/);
      // one player: the per-track players are gone
      assert.equal(await page.locator('.tracks audio').count(), 0);
      const player = page.getByRole('region', { name: 'Player' });
      await player.waitFor();
      await shot(page, `${size}-share-page`);

      await page.getByRole('button', { name: 'Play all' }).click();
      await waitExplained(page, stack, current(page).getByText('First Light', { exact: true }));
      assert.equal(await rows.nth(0).getAttribute('aria-current'), 'true');
      await page.waitForFunction(() => document.querySelector('.player audio')?.currentTime > 0.3, null, { timeout: 20000 });
      await player.getByRole('button', { name: 'Pause' }).waitFor();
      assert.equal(await player.locator('.now-title').innerText(), 'First Light');
      await player.getByRole('button', { name: 'Next' }).click();
      await waitExplained(page, stack, current(page).getByText(SONGS[1].title, { exact: true }));
      await page.waitForFunction(() => document.querySelector('.player audio')?.currentTime > 0.3, null, { timeout: 20000 });
      // the second song ends and the third follows by itself
      await page.locator('.player audio').evaluate((a) => (a.currentTime = a.duration - 0.3));
      await waitExplained(page, stack, current(page).getByText('Last Ferry', { exact: true }), { timeout: 20000 });
      assert.equal(await player.locator('.dur').innerText(), '1:05');
      assert.equal(await player.getByRole('button', { name: 'Next' }).isDisabled(), true);
      // seek, then a row click plays that track; previous from the start goes back one
      await player.getByRole('slider', { name: 'Seek' }).evaluate((el) => {
        el.value = '40';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await page.waitForFunction(() => document.querySelector('.player audio').currentTime >= 39.5, null, { timeout: 10000 });
      await waitExplained(page, stack, player.locator('.pos').getByText(/^0:4\d$/));
      await rows.nth(0).locator('.track-title').click();
      await waitExplained(page, stack, current(page).getByText('First Light', { exact: true }));
      await player.getByRole('button', { name: 'Next' }).click();
      await waitExplained(page, stack, current(page).getByText(SONGS[1].title, { exact: true }));
      await page.locator('.player audio').evaluate((a) => (a.currentTime = 0));
      await player.getByRole('button', { name: 'Previous' }).click();
      await waitExplained(page, stack, current(page).getByText('First Light', { exact: true }));
      await shot(page, `${size}-share-page-playing`);
      // every text readable; no CSP report, no console error
      assert.deepEqual(await lowContrast(page), []);
      assert.deepEqual(page.problems, []);
      await context.close();
    });
  });
}

describe('share page safety', () => {
  test("nothing of the app's session: a signed-in visitor's page opens no socket and reads no token", async () => {
    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await signIn(page, ADMIN);
    const before = page.traffic.length;
    await page.goto(shareUrl);
    await page.getByRole('button', { name: 'Play all' }).waitFor();
    const resp = await page.request.get(shareUrl);
    const csp = resp.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    const html = await resp.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc="\/share\/page\.js")/, 'the one script is the page file');
    assert.doesNotMatch(html, /<script[^>]*>[^<]/, 'no inline script');
    assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style');
    assert.ok(html.includes('shared by <span class="share-owner">Captain &lt;Admin&gt;</span>'), 'the owner, escaped');
    const js = await (await page.request.get(`${stack.uiUrl}/share/page.js`)).text();
    assert.doesNotMatch(js, /localStorage|sessionStorage|document\.cookie|socket/i);
    const shown = page.traffic.slice(before);
    const at = shown.findIndex((l) => l.includes(`navigated ${shareUrl}`));
    assert.ok(at >= 0, 'the share page was opened');
    const sockets = shown.slice(at).filter((l) => /ws open|\/socket\.io\//.test(l));
    assert.deepEqual(sockets, [], 'the share page itself opens no socket');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('without JavaScript every track has its own native player, and it plays', async () => {
    const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false, colorScheme: 'dark', reducedMotion: 'reduce' });
    const page = await context.newPage();
    await page.goto(shareUrl);
    await page.getByRole('heading', { level: 1, name: ALBUM }).waitFor();
    const players = page.locator('.tracks .track audio[controls]');
    assert.equal(await players.count(), 3);
    assert.equal(await page.locator('.player').isVisible(), false, 'the script-driven player stays hidden');
    assert.equal(await page.getByRole('button', { name: 'Play all' }).isVisible(), false);
    await shot(page, 'phone-share-page-no-js');
    // the native controls play the song: the server counts a play of the link
    const s = await apiSocket(stack, ADMIN);
    const plays = async () => (await s.call('share:list')).items.find((x) => x.shareId === share.shareId)?.plays ?? 0;
    const was = await plays();
    const box = await players.first().boundingBox();
    await page.mouse.click(box.x + 18, box.y + box.height / 2);
    const deadline = Date.now() + 20000;
    while ((await plays()) <= was) {
      if (Date.now() > deadline) throw new Error(`no play counted:\n${stack.logs().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    s.close();
    await context.close();
  });
});
