// UI checks and screenshots of screens with data, against e2e/mock-server.mjs (the protocol this
// UI assumes for events the real server is still building). Real-server tests: auth.e2e / library.e2e.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, WEB, launchBrowser, shot } from './harness.mjs';
import { startMock } from './mock-server.mjs';

let browser;
let mock;
before(async () => {
  browser = await launchBrowser();
  mock = await startMock({ distDir: path.join(WEB, 'dist') });
});
after(async () => {
  await browser?.close();
  await mock?.close();
});

async function open(viewport = DESKTOP, user = { name: 'admin', password: 'admin-pass-1' }) {
  const context = await browser.newContext({ viewport, colorScheme: 'dark', reducedMotion: 'reduce' });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && page.problems.push(m.text()));
  await page.goto(`${mock.url}/`);
  await page.getByLabel('Username').fill(user.name);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.song-row').first().waitFor();
  return { context, page };
}

describe('screens with data (mock protocol)', () => {
  test('library, albums, album, artists; search as you type', async () => {
    const { context, page } = await open();
    assert.ok((await page.locator('.song-row').count()) >= 20);
    // tags with markup are text
    await page.locator('.song-row', { hasText: 'Cafe Del Mar <Vol. 1>' }).first().waitFor();
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'search');
    await page.keyboard.type('blue');
    await page.waitForFunction(() => document.querySelectorAll('.song-row').length <= 3);
    await shot(page, 'desktop-library-search');
    await page.getByLabel('Search songs, artists, albums').fill('');
    await page.locator('.song-row').nth(10).waitFor();
    await shot(page, 'desktop-library-songs');
    await page.getByRole('link', { name: 'Albums' }).click();
    await page.locator('.album-card').first().waitFor();
    await shot(page, 'desktop-albums');
    await page.locator('.album-card', { hasText: 'Kind of Blue' }).click();
    await page.getByRole('heading', { name: 'Kind of Blue' }).waitFor();
    await shot(page, 'desktop-album');
    await page.goto(`${mock.url}/#/library/artists`);
    await page.locator('.artist-row').first().waitFor();
    await shot(page, 'desktop-artists');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('play, seek, queue with keyboard reorder, context menu', async () => {
    const { context, page } = await open();
    await page.locator('.song-row', { hasText: 'So What' }).getByRole('button', { name: /^Play / }).click();
    await page.getByTestId('now-title').getByText('So What').waitFor();
    await page.waitForFunction(() => document.getElementById('chillfi-audio').currentTime > 0.5, null, { timeout: 20000 });
    await page.getByTestId('seek').evaluate((el) => {
      el.value = '60';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForFunction(() => document.getElementById('chillfi-audio').currentTime >= 59);
    await shot(page, 'desktop-playing');
    await page.locator('.song-row', { hasText: 'Blue in Green' }).click({ button: 'right' });
    await page.getByTestId('song-menu').waitFor();
    await shot(page, 'desktop-context-menu');
    await page.getByRole('menuitem', { name: 'Play next' }).click();
    await page.goto(`${mock.url}/#/queue`);
    await page.locator('.queue-list .song-row').nth(2).waitFor();
    const titles = () => page.locator('.queue-list .song-title').allInnerTexts();
    const before = await titles();
    await page.locator('.queue-list .drag-handle').nth(1).focus();
    await page.keyboard.press('ArrowDown');
    const afterMove = await titles();
    assert.equal(afterMove[2], before[1]);
    await shot(page, 'desktop-queue');
    // space toggles playback when nothing is focused
    await page.locator('h1').click();
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.getElementById('chillfi-audio').paused);
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('edit tags: field error from the server, then a second browser sees the edit live', async () => {
    const a = await open();
    const b = await open(PHONE, { name: 'alice', password: 'alice-pass-1' });
    await a.page.locator('.song-row', { hasText: 'Talisman' }).click({ button: 'right' });
    await a.page.getByRole('menuitem', { name: 'Edit details…' }).click();
    await a.page.getByRole('textbox', { name: 'Title', exact: true }).fill('');
    await a.page.getByRole('button', { name: 'Save' }).click();
    await a.page.locator('.field.has-error').getByText('a title has 1 to 256 characters').waitFor();
    await shot(a.page, 'desktop-edit-song');
    await a.page.getByRole('textbox', { name: 'Title', exact: true }).fill('Talisman <Live> & Loud');
    await a.page.getByRole('button', { name: 'Save' }).click();
    await b.page.locator('.song-row', { hasText: 'Talisman <Live> & Loud' }).waitFor();
    await shot(b.page, 'phone-library-songs');
    await a.context.close();
    await b.context.close();
  });

  test('playlists, playlist, share dialog, plugins, profile stats, phone screens', async () => {
    const { context, page } = await open();
    await page.goto(`${mock.url}/#/playlists`);
    await page.locator('.album-card').first().waitFor();
    await shot(page, 'desktop-playlists');
    await page.goto(`${mock.url}/#/playlist/p1`);
    await page.getByRole('heading', { name: 'Late Night' }).waitFor();
    await page.locator('.song-row').nth(4).waitFor();
    await shot(page, 'desktop-playlist');
    await page.getByRole('button', { name: 'Share link' }).click();
    await page.getByLabel('Play limit').fill('5');
    await page.getByRole('button', { name: 'Create link' }).click();
    await page.getByLabel('Share link').first().waitFor();
    assert.match(await page.getByLabel('Share link').first().inputValue(), /\/s\/calm-river-42$/);
    await shot(page, 'desktop-share');
    await page.keyboard.press('Escape');
    await page.goto(`${mock.url}/#/admin/plugins`);
    await page.getByText('deadline exceeded').waitFor();
    await shot(page, 'desktop-admin-plugins');
    await page.goto(`${mock.url}/#/profile`);
    await page.getByText('Top songs').waitFor();
    await shot(page, 'desktop-profile-stats');
    await page.setViewportSize(PHONE);
    await page.goto(`${mock.url}/#/playlist/p1`);
    await page.locator('.song-row').nth(4).waitFor();
    await shot(page, 'phone-playlist');
    await page.goto(`${mock.url}/#/library/albums`);
    await page.locator('.album-card').first().waitFor();
    await shot(page, 'phone-albums');
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});
