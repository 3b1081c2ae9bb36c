// E2E: the small things a listener notices. The page title names what is playing; identical
// toasts do not stack; a finished upload row names the song it became; server validation
// messages read as sentences; every text meets 4.5:1 contrast in the dark and the light theme
// (computed from the page's real colours); signing out leaves nothing of the user's queue and
// player in the browser.
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
  lowContrast,
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

const BOB = { name: 'bob' }; // no password: "awaiting password" on the admin's user list
const CAROL = { name: 'carol', password: 'carol-pass-1', admin: false };
const SONGS = [
  { title: 'Lantern Walk', artist: 'Paper Boats', album: 'Evening', seconds: 20, freq: 330, track: 1 },
  { title: 'Slow River', artist: 'Paper Boats', album: 'Evening', seconds: 8, freq: 370, track: 2 },
  { title: 'Moth Dance', artist: 'Paper Boats', album: 'Evening', seconds: 8, freq: 415, track: 3 },
];

let browser;
let stack;
let tmp;
before(async () => {
  browser = await launchBrowser();
  stack = await startStack({ users: [ADMIN, ALICE, BOB, CAROL] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-polish-'));
  const cover = makeCover(tmp, '0x8a4fb0');
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

for (const [size, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  describe(`at ${size} size`, () => {
    test('the title names what plays; identical toasts do not stack; validation errors read as sentences', async () => {
      const { context, page } = await openPage(browser, stack, { viewport });
      await signIn(page, ADMIN);
      await page.goto(`${stack.uiUrl}/#/library/songs`);
      // nothing plays yet (a queue restored from the server shows its song, without ▶)
      assert.match(await page.title(), /^(ChillFi|[^▶].* — ChillFi)$/);
      await row(page, 'Slow River').getByRole('button', { name: /^Play / }).click();
      await page.waitForFunction(() => document.title === '▶ Slow River · Paper Boats — ChillFi');
      await page.getByTestId('play-pause').click();
      await page.waitForFunction(() => document.title === 'Slow River · Paper Boats — ChillFi');

      // "Add to queue" three times: one toast
      for (let i = 0; i < 3; i++) {
        await row(page, 'Moth Dance').click({ button: 'right' });
        await page.getByRole('menuitem', { name: 'Add to queue' }).click();
        await page.getByRole('menu').waitFor({ state: 'detached' });
      }
      await page.locator('.toast', { hasText: 'Added to queue' }).waitFor();
      assert.equal(await page.locator('.toast', { hasText: 'Added to queue' }).count(), 1);

      // the server's "year is 1000 to 9999 or null" and "cannot be empty", as sentences on the fields
      await row(page, 'Lantern Walk').click({ button: 'right' });
      await page.getByRole('menuitem', { name: 'Edit details…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('textbox', { name: 'Year', exact: true }).fill('20245');
      await dialog.getByRole('button', { name: 'Save' }).click();
      await dialog.getByText('The year must be a whole number from 1000 to 9999, or left empty.').waitFor();
      await dialog.getByRole('textbox', { name: 'Year', exact: true }).fill('2020');
      await dialog.getByRole('textbox', { name: 'Title', exact: true }).fill('');
      await dialog.getByRole('button', { name: 'Save' }).click();
      await dialog.getByText('The title cannot be empty.').waitFor();
      await shot(page, `${size}-validation-sentence`);
      await page.keyboard.press('Escape');
      assert.deepEqual(page.problems, []);
      await context.close();
    });

    test('a finished upload row shows the title and artist of the song it became', async () => {
      const { context, page } = await openPage(browser, stack, { viewport });
      await signIn(page, ALICE);
      const made = makeFlac(tmp, { title: `Upload Named ${size}`, artist: 'Tag Reader', seconds: 4, freq: size === 'phone' ? 600 : 620 });
      // a file name that says nothing: the row must learn the song from the server
      const file = path.join(tmp, `track-01-${size}.flac`);
      fs.copyFileSync(made, file);
      await page.goto(`${stack.uiUrl}/#/upload`);
      await page.getByTestId('file-input').setInputFiles([file]);
      await page.getByTestId('start-upload').click();
      const up = page.getByTestId('upload-row').and(page.locator('[data-stage=done]'));
      await waitExplained(page, stack, up, { timeout: 60000 });
      const song = up.getByTestId('upload-song');
      await song.waitFor();
      assert.equal((await song.innerText()).replace(/\s+/g, ' '), `Upload Named ${size} · Tag Reader`);
      await shot(page, `${size}-upload-named`);
      assert.deepEqual(page.problems, []);
      await context.close();
    });
  });
}

describe('contrast', () => {
  for (const themeId of ['midnight', 'daylight']) {
    test(`every text is at least 4.5:1 in the ${themeId} theme`, async () => {
      const { context, page } = await openPage(browser, stack, { viewport: DESKTOP, colorScheme: themeId === 'daylight' ? 'light' : 'dark' });
      await page.evaluate((t) => localStorage.setItem('chillfi.theme', t), themeId);
      await page.reload();
      await signIn(page, ADMIN);
      const problems = [];
      const check = async (where) => {
        for (const p of await lowContrast(page)) problems.push({ where, ...p });
      };
      await page.goto(`${stack.uiUrl}/#/library/songs`);
      await row(page, 'Moth Dance').waitFor();
      // a queue with played rows, a current row and rows to come
      await row(page, 'Slow River').getByRole('button', { name: /^Play / }).click();
      await page.getByTestId('now-title').getByText('Slow River').waitFor();
      await check('songs (one current)');
      await page.goto(`${stack.uiUrl}/#/queue`);
      await page.locator('.queue-list .song-row.played').first().waitFor();
      await page.locator('.queue-list .song-row.current').waitFor();
      await check('queue');
      await page.getByTestId('open-now-playing').click();
      await page.getByRole('dialog', { name: 'Now playing' }).waitFor();
      await check('now playing');
      await page.keyboard.press('Escape');
      await page.goto(`${stack.uiUrl}/#/admin/users`);
      await page.getByText('awaiting password').waitFor();
      await check('admin users');
      for (const [hash, ready] of [
        ['#/library/albums', '.album-card'],
        ['#/library/artists', '.artist-row'],
        ['#/playlists', 'h1'],
        ['#/upload', 'h1'],
        ['#/profile', '[data-testid=profile-name]'],
      ]) {
        await page.goto(`${stack.uiUrl}/${hash}`);
        await page.locator(ready).first().waitFor();
        await check(hash);
      }
      await page.goto(`${stack.uiUrl}/#/library/songs`);
      await row(page, 'Moth Dance').click({ button: 'right' });
      await page.getByTestId('song-menu').waitFor();
      await check('context menu');
      await page.keyboard.press('Escape');
      await page.setViewportSize(PHONE);
      await page.locator('.tabbar').waitFor();
      await check('phone library');
      await shot(page, `phone-contrast-${themeId}`);
      assert.deepEqual(problems, []);
      assert.deepEqual(page.problems, []);
      await context.close();
    });
  }
});

describe('signing out', () => {
  test("clears the user's queue and player from the browser; the next user starts clean", async () => {
    const { context, page } = await openPage(browser, stack, { viewport: PHONE });
    await signIn(page, ALICE);
    await page.goto(`${stack.uiUrl}/#/library/songs`);
    await row(page, 'Lantern Walk').getByRole('button', { name: /^Play / }).click();
    await page.waitForFunction(() => document.getElementById('chillfi-audio').currentTime > 0.3, null, { timeout: 20000 });
    await page.waitForFunction(() => JSON.parse(localStorage.getItem('chillfi.queue') ?? '{}').ids?.length > 0);
    await page.goto(`${stack.uiUrl}/#/profile`);
    await page.getByTestId('logout').click();
    await page.getByLabel('Username').waitFor();
    const left = await page.evaluate(() => ({
      queue: localStorage.getItem('chillfi.queue'),
      title: document.title,
      src: document.getElementById('chillfi-audio').getAttribute('src'),
      paused: document.getElementById('chillfi-audio').paused,
      media: navigator.mediaSession?.metadata ?? null,
    }));
    assert.deepEqual(left, { queue: null, title: 'ChillFi', src: null, paused: true, media: null });

    // carol signs in on the same browser and sees none of alice's listening
    await signIn(page, CAROL);
    await page.getByText('Nothing playing').waitFor();
    await page.goto(`${stack.uiUrl}/#/queue`);
    await page.getByText('The queue is empty').waitFor();
    assert.equal(await page.locator('.queue-list .song-row').count(), 0);
    await shot(page, 'phone-after-signout-next-user');

    // and alice, signing in again, finds her queue where the server kept it
    await page.goto(`${stack.uiUrl}/#/profile`);
    await page.getByTestId('logout').click();
    await signIn(page, ALICE);
    await page.goto(`${stack.uiUrl}/#/queue`);
    await waitExplained(page, stack, page.locator('.queue-list .song-row.current', { hasText: 'Lantern Walk' }));
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});
