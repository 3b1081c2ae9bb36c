// E2E: batch actions on several songs. Desktop: click, Shift+click and Ctrl+click select rows;
// the bar adds them to the queue, plays them next, adds them to a playlist, edits shared details
// in one go (song:updateMany: all or nothing, the error on its field) and deletes them after a
// confirmation; only an owner or an administrator may edit or delete. Column headers sort. Phone:
// a select mode where a tap toggles a row.
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
  makeFlac,
  openPage,
  shot,
  signIn,
  startStack,
  uploadViaSocket,
  waitExplained,
} from './harness.mjs';

// Title order and length order differ, so each header's sort is visible.
const SONGS = [
  { title: 'Alpha Drift', seconds: 9 },
  { title: 'Bravo Lanes', seconds: 4 },
  { title: 'Charlie Sun', seconds: 7 },
  { title: 'Delta Rain', seconds: 3 },
  { title: 'Echo Field', seconds: 6 },
  { title: 'Foxtrot Hum', seconds: 5 },
];
const TITLES = SONGS.map((s) => s.title);

let browser;
let stack;
let tmp;
before(async () => {
  browser = await launchBrowser();
  stack = await startStack({ users: [ADMIN, ALICE] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-batch-'));
  let freq = 300;
  await uploadViaSocket(
    stack,
    ADMIN,
    SONGS.map((s) => makeFlac(tmp, { ...s, artist: 'Batch Band', album: 'Many at Once', freq: (freq += 35) })),
  );
  await uploadViaSocket(stack, ALICE, [makeFlac(tmp, { title: 'Alice Own', artist: 'Alice', album: 'Mine', seconds: 4, freq: 700 })]);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const list = (page) => page.getByRole('list', { name: 'Songs' });
const row = (page, title) => list(page).locator('.song-row', { hasText: title });
const titles = (page) => list(page).locator('.song-title').allInnerTexts();
/** Clicks the row's text (not one of its buttons), with modifier keys. */
const clickRow = (page, title, modifiers = []) => row(page, title).locator('.song-main').click({ modifiers });
const bar = (page) => page.getByRole('toolbar', { name: 'Selected songs' });
const byTitle = async (s) => {
  const { items } = await s.call('song:list', { limit: 100 });
  return Object.fromEntries(items.map((x) => [x.title, x]));
};

async function sortedByTitle(page) {
  await page.goto(`${stack.uiUrl}/#/library/songs`);
  await row(page, 'Foxtrot Hum').waitFor();
  const head = page.getByRole('group', { name: 'Sort songs' });
  await head.getByRole('button', { name: /^Sort by title/ }).click();
  await page.waitForFunction(() => document.querySelector('.song-list .song-title')?.textContent === 'Alice Own');
}

describe('batch actions on a desktop', () => {
  test('column headers sort: title A to Z and back, then by length', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await signIn(page, ADMIN);
    await sortedByTitle(page);
    const all = ['Alice Own', ...TITLES];
    assert.deepEqual(await titles(page), all);
    const head = page.getByRole('group', { name: 'Sort songs' });
    assert.equal(await head.getByRole('button', { name: 'Sort by title, ascending' }).getAttribute('aria-pressed'), 'true');
    await head.getByRole('button', { name: /^Sort by title/ }).click();
    await head.getByRole('button', { name: 'Sort by title, descending' }).waitFor();
    await page.waitForFunction(() => document.querySelector('.song-list .song-title')?.textContent === 'Foxtrot Hum');
    assert.deepEqual(await titles(page), [...all].reverse());
    await head.getByRole('button', { name: /^Sort by time/ }).click();
    await page.waitForFunction(() => document.querySelector('.song-list .song-title')?.textContent === 'Delta Rain');
    // shortest first (3 s … 9 s)
    const shown = await titles(page);
    assert.equal(shown[0], 'Delta Rain');
    assert.equal(shown.at(-1), 'Alpha Drift');
    assert.equal(shown.length, SONGS.length + 1);
    // the select box follows the header
    assert.equal(await page.getByLabel('Sort by', { exact: true }).inputValue(), 'durationMs');
    await shot(page, 'desktop-library-sort-headers');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('click, Shift+click and Ctrl+click select; queue, play next, playlist, the menu acts on all', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await signIn(page, ADMIN);
    await sortedByTitle(page);
    await clickRow(page, 'Bravo Lanes');
    await bar(page).getByText('1 selected').waitFor();
    await clickRow(page, 'Delta Rain', ['Shift']);
    await bar(page).getByText('3 selected').waitFor();
    await clickRow(page, 'Foxtrot Hum', ['Control']);
    await clickRow(page, 'Charlie Sun', ['Control']);
    await bar(page).getByText('3 selected').waitFor();
    const selected = () => list(page).locator('.song-row.selected .song-title').allInnerTexts();
    assert.deepEqual(await selected(), ['Bravo Lanes', 'Delta Rain', 'Foxtrot Hum']);
    // the checkboxes say the same to assistive technology
    assert.equal(await row(page, 'Delta Rain').getByRole('checkbox').isChecked(), true);
    assert.equal(await row(page, 'Charlie Sun').getByRole('checkbox').isChecked(), false);
    await shot(page, 'desktop-batch-selected');

    // the context menu of a selected row acts on the selection
    await row(page, 'Delta Rain').click({ button: 'right' });
    const menu = page.getByRole('menu', { name: 'Actions for 3 songs' });
    await menu.waitFor();
    await menu.getByRole('menuitem', { name: 'Add to queue' }).click();
    await page.locator('.toast', { hasText: 'Added to queue' }).waitFor();
    await bar(page).getByRole('button', { name: 'Play next' }).click();
    await page.locator('.toast', { hasText: '3 songs play next' }).waitFor();

    // add to a new playlist
    await bar(page).getByRole('button', { name: 'Add to playlist…' }).click();
    await page.getByLabel('New playlist').fill('Batch Mix');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('dialog').waitFor({ state: 'hidden' });

    // the server has what the bar did: the queue (the three added, the first one playing, with
    // the "play next" three right after it) and the playlist
    const s = await apiSocket(stack, ADMIN);
    const ids = await byTitle(s);
    const three = ['Bravo Lanes', 'Delta Rain', 'Foxtrot Hum'].map((t) => ids[t].id);
    const deadline = Date.now() + 10000;
    let q;
    for (;;) {
      q = await s.call('player:queue');
      if (q.songIds.length === 6 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(q.songIds, [three[0], ...three, ...three.slice(1)]);
    const { items } = await s.call('playlist:list');
    const mix = items.find((p) => p.name === 'Batch Mix');
    assert.deepEqual(mix.songIds, three);
    s.close();

    // Escape clears the selection
    await page.keyboard.press('Escape');
    await bar(page).waitFor({ state: 'detached' });
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('edit shared details of several songs: a field error as a sentence, then all change together', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await signIn(page, ADMIN);
    const other = await openPage(browser, stack, { viewport: PHONE });
    await signIn(other.page, ALICE);
    await sortedByTitle(page);
    await clickRow(page, 'Alpha Drift');
    await clickRow(page, 'Charlie Sun', ['Shift']);
    await bar(page).getByText('3 selected').waitFor();
    await bar(page).getByRole('button', { name: 'Edit…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Edit 3 songs' }).waitFor();
    // shared values start filled, only the shared fields are offered
    assert.equal(await dialog.getByRole('textbox', { name: 'Artist', exact: true }).inputValue(), 'Batch Band');
    assert.equal(await dialog.getByRole('textbox', { name: 'Title', exact: true }).count(), 0);
    await dialog.getByRole('textbox', { name: 'Genre', exact: true }).fill('Ambient');
    await dialog.getByRole('textbox', { name: 'Year', exact: true }).fill('20245');
    await dialog.getByRole('button', { name: 'Save 3 songs' }).click();
    const yearField = dialog.locator('.field.has-error').filter({ has: page.getByRole('textbox', { name: 'Year', exact: true }) });
    await waitExplained(page, stack, yearField.getByText('The year must be a whole number from 1000 to 9999, or left empty.'));
    await shot(page, 'desktop-batch-edit');
    // all or nothing: no song got the genre
    const s = await apiSocket(stack, ADMIN);
    let ids = await byTitle(s);
    assert.deepEqual(['Alpha Drift', 'Bravo Lanes', 'Charlie Sun'].map((t) => ids[t].genre), ['', '', '']);
    await dialog.getByRole('textbox', { name: 'Year', exact: true }).fill('2021');
    await dialog.getByRole('button', { name: 'Save 3 songs' }).click();
    await page.locator('.toast', { hasText: 'Saved 3 songs' }).waitFor();
    ids = await byTitle(s);
    for (const t of ['Alpha Drift', 'Bravo Lanes', 'Charlie Sun']) assert.deepEqual([ids[t].genre, ids[t].year, ids[t].title], ['Ambient', 2021, t]);
    assert.equal(ids['Delta Rain'].genre, '');
    s.close();

    // alice may not edit or delete the admin's songs, only play them
    await other.page.goto(`${stack.uiUrl}/#/library/songs`);
    await other.page.getByRole('button', { name: 'Select songs' }).click();
    await other.page.locator('.song-row', { hasText: 'Alpha Drift' }).locator('.song-main').click();
    await other.page.locator('.song-row', { hasText: 'Alice Own' }).locator('.song-main').click();
    const obar = bar(other.page);
    await obar.getByText('2 selected').waitFor();
    assert.equal(await obar.getByRole('button', { name: 'Edit…' }).isDisabled(), true);
    assert.equal(await obar.getByRole('button', { name: 'Delete…' }).isDisabled(), true);
    assert.equal(await obar.getByRole('button', { name: 'Add to queue' }).isDisabled(), false);
    assert.deepEqual(page.problems, []);
    assert.deepEqual(other.page.problems, []);
    await other.context.close();
    await context.close();
  });

  test('delete several songs after a confirmation naming them', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await signIn(page, ADMIN);
    await sortedByTitle(page);
    await clickRow(page, 'Echo Field');
    await clickRow(page, 'Foxtrot Hum', ['Control']);
    await bar(page).getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Delete 2 songs?' }).waitFor();
    await dialog.getByText('Echo Field').waitFor();
    await dialog.getByText('Foxtrot Hum').waitFor();
    // Cancel keeps them
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await row(page, 'Echo Field').waitFor();
    await bar(page).getByRole('button', { name: 'Delete…' }).click();
    await dialog.getByRole('button', { name: 'Delete 2 songs' }).click();
    await row(page, 'Echo Field').waitFor({ state: 'detached' });
    await row(page, 'Foxtrot Hum').waitFor({ state: 'detached' });
    const s = await apiSocket(stack, ADMIN);
    const ids = await byTitle(s);
    assert.equal(ids['Echo Field'], undefined);
    assert.equal(ids['Foxtrot Hum'], undefined);
    assert.ok(ids['Delta Rain']);
    s.close();
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});

describe('batch actions on a phone', () => {
  test('select mode: a tap toggles a row; the bar adds to the queue; Done leaves the mode', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: PHONE, hasTouch: true });
    await signIn(page, ALICE);
    await page.goto(`${stack.uiUrl}/#/library/songs`);
    await row(page, 'Alice Own').waitFor();
    // no column headers on a phone
    assert.equal(await page.getByRole('group', { name: 'Sort songs' }).isVisible(), false);
    await page.getByRole('button', { name: 'Select songs' }).click();
    await bar(page).getByText('Tap songs to select them').waitFor();
    await row(page, 'Alice Own').locator('.song-main').tap();
    await row(page, 'Delta Rain').locator('.song-main').tap();
    await row(page, 'Bravo Lanes').locator('.song-main').tap();
    await row(page, 'Delta Rain').locator('.song-main').tap();
    await bar(page).getByText('2 selected').waitFor();
    assert.deepEqual(await list(page).locator('.song-row.selected .song-title').allInnerTexts().then((t) => t.sort()), ['Alice Own', 'Bravo Lanes']);
    // everything on the bar fits the screen
    const boxes = await bar(page).locator('button').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    for (const r of boxes) assert.ok(r <= 360, `button ends at ${r}px`);
    await shot(page, 'phone-batch-select');
    await bar(page).getByRole('button', { name: 'Add to queue' }).click();
    await page.locator('.toast', { hasText: 'Added 2 songs to the queue' }).waitFor();
    await bar(page).getByRole('button', { name: 'Done' }).click();
    await bar(page).waitFor({ state: 'detached' });
    // out of select mode a tap does not select
    await page.getByTestId('now-title').waitFor();
    await row(page, 'Delta Rain').locator('.song-main').tap();
    await waitExplained(page, stack, page.getByRole('button', { name: 'Select songs', pressed: false }));
    assert.equal(await bar(page).count(), 0);
    assert.equal(await list(page).locator('.song-row.selected').count(), 0);
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});
