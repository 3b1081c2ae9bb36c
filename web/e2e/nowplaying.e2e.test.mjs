// E2E: the phone's full-screen now-playing view (opened from the mini player, closed by a swipe
// down or its button), the administrator's phone tab bar, and the phone toolbar/hero layout.
// Also at desktop size, where clicking the song in the player bar opens the same view.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  ALICE,
  DESKTOP,
  PHONE,
  apiSocket,
  launchBrowser,
  makeCover,
  makeFlac,
  openPage,
  shot,
  signIn,
  startStack,
  uploadViaSocket,
  waitExplained,
} from './harness.mjs';

const SONGS = [
  { title: 'Harbour Lights', artist: 'Night Ferry', album: 'Crossings', seconds: 30, freq: 392, track: 1 },
  { title: 'Deck Chairs', artist: 'Night Ferry', album: 'Crossings', seconds: 8, freq: 440, track: 2 },
  { title: 'Foghorn Waltz', artist: 'Night Ferry', album: 'Crossings', seconds: 8, freq: 494, track: 3 },
];

let browser;
let stack;
let tmp;
before(async () => {
  browser = await launchBrowser();
  stack = await startStack({ users: [ADMIN, ALICE] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-np-'));
  const cover = makeCover(tmp, '0x3a7d5c');
  await uploadViaSocket(
    stack,
    ADMIN,
    SONGS.map((s) => makeFlac(tmp, { ...s, cover })),
  );
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const row = (page, title) => page.locator('.song-list .song-row', { hasText: title });
const audio = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 20000 });

/** Text width of `text` in `el`'s font (what a placeholder or a select needs to show in full). */
const textWidth = (loc, which) =>
  loc.evaluate((el, which) => {
    const cs = getComputedStyle(el);
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const text = which === 'placeholder' ? el.placeholder : el.options[el.selectedIndex].text;
    // a select draws its arrow inside the content box: leave it 24 px
    const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - (which === 'placeholder' ? 0 : 24);
    return { text, need: ctx.measureText(text).width, room };
  }, which);

for (const [size, viewport] of [
  ['phone', PHONE],
  ['desktop', DESKTOP],
]) {
  describe(`now playing at ${size} size`, () => {
    test('the mini player opens the full view: cover, tags, seek with times, transport, queue; closes by swipe and button', async () => {
      const { context, page } = await openPage(browser, stack, { viewport });
      await signIn(page, ALICE);
      await page.goto(`${stack.uiUrl}/#/library/songs`);
      await row(page, 'Harbour Lights').getByRole('button', { name: /^Play / }).click();
      await audio(page, () => document.getElementById('chillfi-audio').currentTime > 0.5);

      await page.getByTestId('open-now-playing').click();
      const np = page.getByRole('dialog', { name: 'Now playing' });
      await np.waitFor();
      assert.equal(await np.getByTestId('np-title').innerText(), 'Harbour Lights');
      await np.getByRole('link', { name: 'Night Ferry' }).waitFor();
      await np.getByRole('link', { name: 'Crossings' }).waitFor();
      // the cover fills the view's width on the phone and is the album art
      const img = np.locator('.np-art img');
      await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
      const art = await np.locator('.np-art').boundingBox();
      assert.ok(art.width >= (size === 'phone' ? 280 : 300), `cover ${art.width}px wide`);
      // seek bar with both times: the duration of the song and a position that advances
      assert.equal(await np.getByTestId('np-seek-duration').innerText(), '0:30');
      await waitExplained(page, stack, np.getByTestId('np-seek-position').getByText(/^0:0[2-9]$/));
      for (const name of ['Shuffle', 'Previous', 'Pause', 'Next', /^Repeat/]) await np.getByRole('button', { name, exact: typeof name === 'string' }).waitFor();
      // the queue is part of the view, the current song highlighted
      const q = np.getByRole('list', { name: 'Queue' });
      await q.locator('.song-row.current', { hasText: 'Harbour Lights' }).waitFor();
      assert.equal(await q.locator('.song-row').count(), 3);
      await np.getByText('Up next · 2').waitFor();
      // everything fits: no horizontal scrolling
      assert.equal(await np.evaluate((el) => el.scrollWidth <= el.clientWidth), true);
      await shot(page, `${size}-now-playing`);

      // the controls work from here: pause, play, next, seek, repeat
      await np.getByRole('button', { name: 'Pause', exact: true }).click();
      await audio(page, () => document.getElementById('chillfi-audio').paused);
      await np.getByRole('button', { name: 'Play', exact: true }).click();
      await audio(page, () => !document.getElementById('chillfi-audio').paused);
      await np.getByTestId('np-seek').evaluate((el) => {
        el.value = '20';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      });
      await audio(page, () => document.getElementById('chillfi-audio').currentTime >= 19.5);
      await np.getByRole('button', { name: 'Next', exact: true }).click();
      await waitExplained(page, stack, np.getByTestId('np-title').getByText('Deck Chairs', { exact: true }));
      await q.locator('.song-row.current', { hasText: 'Deck Chairs' }).waitFor();
      await np.getByRole('button', { name: 'Repeat: off' }).click();
      await np.getByRole('button', { name: 'Repeat: all' }).waitFor();
      await np.getByRole('button', { name: 'Shuffle', exact: true }).click();
      assert.equal(await np.getByRole('button', { name: 'Shuffle', exact: true }).getAttribute('aria-pressed'), 'true');
      await np.getByRole('button', { name: 'Shuffle', exact: true }).click();
      // a row of the queue plays that song
      await q.locator('.song-row', { hasText: 'Foghorn Waltz' }).getByRole('button', { name: /^Play / }).click();
      await waitExplained(page, stack, np.getByTestId('np-title').getByText('Foghorn Waltz', { exact: true }));

      // Escape and the close button close it; focus returns to the mini player
      await page.keyboard.press('Escape');
      await np.waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'open-now-playing');
      await page.getByTestId('open-now-playing').click();
      await np.getByRole('button', { name: 'Close the player' }).click();
      await np.waitFor({ state: 'detached' });

      // a swipe down on the cover closes it; a short one does not
      await page.getByTestId('open-now-playing').click();
      const box = await np.locator('.np-art').boundingBox();
      const x = box.x + box.width / 2;
      const y = box.y + 40;
      await page.mouse.move(x, y);
      await page.mouse.down();
      await page.mouse.move(x, y + 40, { steps: 4 });
      await page.mouse.up();
      assert.equal(await np.count(), 1, 'a short drag keeps the view open');
      await page.mouse.move(x, y);
      await page.mouse.down();
      await page.mouse.move(x, y + 200, { steps: 8 });
      await page.mouse.up();
      await np.waitFor({ state: 'detached' });
      assert.deepEqual(page.problems, []);
      await context.close();
    });
  });
}

describe('phone layout', () => {
  test("an administrator's tab bar reaches the Queue; the toolbar shows sort and a search placeholder that fits", async () => {
    const { context, page } = await openPage(browser, stack, { viewport: PHONE, hasTouch: true });
    await signIn(page, ADMIN);
    const tabs = page.getByRole('navigation', { name: 'Main (compact)' });
    for (const name of ['Library', 'Playlists', 'Upload', 'Queue', 'Profile', 'Admin']) await tabs.getByRole('link', { name }).waitFor();
    // each tab label fits its tab
    const clipped = await tabs.locator('.tab-link span').evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
    assert.deepEqual(clipped, []);
    await tabs.getByRole('link', { name: 'Queue' }).click();
    await page.getByRole('heading', { name: 'Queue', exact: true }).waitFor();

    await tabs.getByRole('link', { name: 'Library' }).click();
    await row(page, 'Harbour Lights').waitFor();
    const search = page.getByLabel('Search songs, artists, albums');
    const ph = await textWidth(search, 'placeholder');
    assert.doesNotMatch(ph.text, /\//, 'no keyboard hint on a touch screen');
    assert.ok(ph.need <= ph.room, `placeholder needs ${ph.need}px, has ${ph.room}px`);
    const sort = page.getByLabel('Sort by', { exact: true });
    for (const label of ['Recently added', 'Most played']) {
      await sort.selectOption({ label });
      const w = await textWidth(sort, 'value');
      assert.equal(w.text, label);
      assert.ok(w.need <= w.room, `sort "${label}" needs ${w.need}px, has ${w.room}px`);
    }
    await shot(page, 'phone-library-toolbar');

    // the playlist's actions sit in even rows, each label on one line, nothing past the edge
    const s = await apiSocket(stack, ADMIN);
    const { items: songs } = await s.call('song:list', { filters: {}, limit: 10 });
    const { playlist } = await s.call('playlist:create', { name: 'Ferry Songs', songIds: songs.map((x) => x.id) });
    s.close();
    await page.goto(`${stack.uiUrl}/#/playlist/${playlist.id}`);
    await page.getByRole('heading', { name: 'Ferry Songs' }).waitFor();
    const boxes = await page.locator('.hero-actions > *').evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, height: r.height, wraps: e.scrollWidth > e.clientWidth + 1 };
      }),
    );
    assert.equal(boxes.length, 6);
    for (const b of boxes) {
      assert.ok(b.left >= 0 && b.right <= PHONE.width, `inside the screen: ${JSON.stringify(b)}`);
      assert.ok(b.height <= 40 && !b.wraps, `one line: ${JSON.stringify(b)}`);
    }
    // two per row, all rows equally wide
    const rows = new Set(boxes.map((b) => Math.round(b.top)));
    assert.equal(rows.size, 3);
    await shot(page, 'phone-playlist-actions');
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});
