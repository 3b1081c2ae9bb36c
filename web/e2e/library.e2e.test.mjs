// E2E scenarios for the library, playback, live updates and sharing. Each one is skipped, with
// the missing server event as the reason, until chillfi answers that event; then it runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN, ALICE, PHONE, launchBrowser, makeFlac, missingEvents, openPage, shot, signIn, startStack } from './harness.mjs';

const missing = await missingEvents([
  'song:uploadInit',
  'song:uploadChunk',
  'song:uploadStatus',
  'song:list',
  'song:play',
  'song:update',
  'library:changes',
  'playlist:create',
  'playlist:addSongs',
  'share:create',
]);
/** false when the server has every event, else the reason naming what it lacks. */
const needs = (...events) => {
  const m = events.filter((e) => missing.includes(e));
  return m.length ? `the server does not implement ${m.join(', ')} yet` : false;
};

let browser;
let stack;
let tmp;
before(async () => {
  if (missing.includes('song:uploadInit')) return; // nothing to run yet
  browser = await launchBrowser();
  stack = await startStack({ users: [ADMIN, ALICE] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-media-'));
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function upload(page, files) {
  await page.goto(`${stack.uiUrl}/#/upload`);
  await page.getByTestId('file-input').setInputFiles(files);
  await page.getByTestId('start-upload').click();
  const rows = page.getByTestId('upload-row');
  for (let i = 0; i < files.length; i++) {
    await rows.nth(i).and(page.locator('[data-stage=done]')).waitFor({ timeout: 60000 });
  }
}

describe('library', () => {
  test(
    'upload a generated FLAC: per-file progress reaches done, the song appears in the library',
    { skip: needs('song:uploadInit', 'song:uploadChunk') },
    async () => {
      const { context, page } = await openPage(browser, stack);
      await signIn(page, ADMIN);
      const flac = makeFlac(tmp, { title: 'Sine Serenade', artist: 'The Oscillators', seconds: 20 });
      await page.goto(`${stack.uiUrl}/#/upload`);
      await page.getByTestId('file-input').setInputFiles([flac]);
      await page.getByTestId('start-upload').click();
      const row = page.getByTestId('upload-row').first();
      // passes through at least one server stage on the way
      await row.and(page.locator('[data-stage=done]')).waitFor({ timeout: 60000 });
      assert.match(await row.innerText(), /Added/);
      await shot(page, 'desktop-upload-done');
      if (!needs('song:list')) {
        await page.goto(`${stack.uiUrl}/#/library/songs`);
        await page.locator('.song-row', { hasText: 'Sine Serenade' }).waitFor();
        await shot(page, 'desktop-library-songs');
      }
      await context.close();
    },
  );

  test('play: currentTime advances; seek jumps', { skip: needs('song:uploadInit', 'song:list', 'song:play') }, async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ADMIN);
    await upload(page, [makeFlac(tmp, { title: 'Long Tone', artist: 'The Oscillators', seconds: 40, freq: 330 })]);
    await page.goto(`${stack.uiUrl}/#/library/songs`);
    await page.locator('.song-row', { hasText: 'Long Tone' }).getByRole('button', { name: /^Play / }).click();
    await page.getByTestId('now-title').getByText('Long Tone').waitFor();
    const t = () => page.evaluate(() => document.getElementById('chillfi-audio').currentTime);
    await page.waitForFunction(() => document.getElementById('chillfi-audio').currentTime > 1, null, { timeout: 20000 });
    const before = await t();
    await page.waitForTimeout(1000);
    assert.ok((await t()) > before, 'currentTime advances');
    await shot(page, 'desktop-playing');
    // seek with the slider (HTTP Range on the audio URL)
    await page.getByTestId('seek').evaluate((el) => {
      el.value = '30';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForFunction(() => document.getElementById('chillfi-audio').currentTime >= 29.5, null, { timeout: 10000 });
    // keyboard: Space pauses
    await page.locator('body').click({ position: { x: 600, y: 300 } });
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.getElementById('chillfi-audio').paused);
    await context.close();
  });

  test(
    'edit the title from the context menu; a second browser sees it without reload',
    { skip: needs('song:uploadInit', 'song:list', 'song:update') },
    async () => {
      const a = await openPage(browser, stack);
      await signIn(a.page, ADMIN);
      await upload(a.page, [makeFlac(tmp, { title: 'Before Edit', artist: 'Editors', seconds: 6, freq: 550 })]);
      const b = await openPage(browser, stack, { viewport: PHONE });
      await signIn(b.page, ALICE);
      await b.page.locator('.song-row', { hasText: 'Before Edit' }).waitFor();

      await a.page.goto(`${stack.uiUrl}/#/library/songs`);
      const row = a.page.locator('.song-row', { hasText: 'Before Edit' });
      await row.click({ button: 'right' });
      await a.page.getByRole('menuitem', { name: 'Edit details…' }).click();
      await a.page.getByRole('textbox', { name: 'Title', exact: true }).fill('');
      await a.page.getByRole('button', { name: 'Save' }).click();
      await a.page.locator('.field.has-error').first().waitFor(); // the server's per-field error
      await a.page.getByRole('textbox', { name: 'Title', exact: true }).fill('After <Edit> & more');
      await shot(a.page, 'desktop-edit-song');
      await a.page.getByRole('button', { name: 'Save' }).click();
      await a.page.locator('.song-row', { hasText: 'After <Edit> & more' }).waitFor();
      // the other browser, no reload
      await b.page.locator('.song-row', { hasText: 'After <Edit> & more' }).waitFor({ timeout: 10000 });
      await shot(b.page, 'phone-library-songs');
      await a.context.close();
      await b.context.close();
    },
  );

  test(
    'playlist + share link played in a logged-out browser',
    { skip: needs('song:uploadInit', 'playlist:create', 'playlist:addSongs', 'share:create', 'song:play') },
    async () => {
      const { context, page } = await openPage(browser, stack);
      await signIn(page, ADMIN);
      await upload(page, [
        makeFlac(tmp, { title: 'Share One', artist: 'Linkers', seconds: 8, freq: 600 }),
        makeFlac(tmp, { title: 'Share Two', artist: 'Linkers', seconds: 8, freq: 700 }),
      ]);
      await page.goto(`${stack.uiUrl}/#/library/songs`);
      await page.locator('.song-row', { hasText: 'Share One' }).click({ button: 'right' });
      await page.getByRole('menuitem', { name: 'Add to playlist…' }).click();
      await page.getByLabel('New playlist').fill('Road Trip');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.locator('.song-row', { hasText: 'Share Two' }).click({ button: 'right' });
      await page.getByRole('menuitem', { name: 'Add to playlist…' }).click();
      await page.getByRole('button', { name: /Road Trip/ }).click();
      await page.getByRole('link', { name: 'Road Trip' }).first().click();
      await page.locator('.song-row').nth(1).waitFor();
      await shot(page, 'desktop-playlist');
      await page.getByRole('button', { name: 'Share link' }).click();
      await page.getByLabel('Play limit').fill('3');
      await page.getByRole('button', { name: 'Create link' }).click();
      const url = await page.getByLabel('Share link').first().inputValue();
      assert.match(url, /\/s\/[^/]+$/);
      await shot(page, 'desktop-share');

      const anon = await openPage(browser, stack);
      await anon.page.goto(url.replace(/^https?:\/\/[^/]+/, stack.apiUrl));
      const audio = anon.page.locator('audio').first();
      await audio.waitFor({ state: 'attached' });
      await audio.evaluate((el) => el.play());
      await anon.page.waitForFunction(() => document.querySelector('audio').currentTime > 0.5, null, { timeout: 20000 });
      await anon.context.close();
      await context.close();
    },
  );
});
