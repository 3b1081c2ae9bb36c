// E2E: favourites and ratings (a heart on rows, the album and the now-playing view; ratings in
// the menu and the now-playing view; the Favourites view; live in a second tab and from a phone
// app), and Profile → Apps (a Subsonic key shown once, the server address as text and as a QR
// code that decodes to it, last use, revoke), at desktop and phone size.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { ALICE, DESKTOP, PHONE, apiSocket, launchBrowser, lowContrast, makeFlac, openPage, shot, signIn, startStack, uploadViaSocket, waitExplained } from './harness.mjs';

const jsQR = createRequire(import.meta.url)('jsqr');

const SONGS = [
  { title: 'Harbour Lights', artist: 'Tin Sailors', album: 'Night Ferry', seconds: 30, freq: 330, track: 1 },
  { title: 'Foghorn Waltz', artist: 'Tin Sailors', album: 'Night Ferry', seconds: 8, freq: 370, track: 2 },
  { title: 'Gull Song', artist: 'Tin Sailors', album: 'Night Ferry', seconds: 8, freq: 415, track: 3 },
];

let browser;
let stack;
let tmp;
let songs;
before(async () => {
  browser = await launchBrowser();
  stack = await startStack({ users: [ALICE] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-marks-'));
  const results = await uploadViaSocket(stack, ALICE, SONGS.map((s) => makeFlac(tmp, s)));
  songs = results.map((r) => r.song);
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const row = (page, title) => page.locator('.song-row', { hasText: title }).first();
const heart = (page, title) => row(page, title).getByRole('button', { name: `Favourite ${title}` });

async function rest(method, params) {
  const q = new URLSearchParams({ f: 'json', c: 'e2e', v: '1.16.1', ...params });
  const r = await fetch(`${stack.apiUrl}/rest/${method}?${q}`);
  return (await r.json())['subsonic-response'];
}

async function signedIn(opts) {
  const r = await openPage(browser, stack, opts);
  await signIn(r.page, ALICE);
  return r;
}

describe('favourites and ratings', () => {
  test('desktop: a heart on the row, live in a second tab; rating from the menu; Favourites view; album heart', async () => {
    const { context, page } = await signedIn();
    const other = await signedIn();
    await page.goto(`${stack.uiUrl}/#/library/songs`);
    await other.page.goto(`${stack.uiUrl}/#/library/favourites`);
    await other.page.getByText('No favourites yet').waitFor();

    await waitExplained(page, stack, heart(page, 'Foghorn Waltz'));
    assert.equal(await heart(page, 'Foghorn Waltz').getAttribute('aria-pressed'), 'false');
    await heart(page, 'Foghorn Waltz').click();
    await page.waitForFunction(() => document.querySelector('[aria-label="Favourite Foghorn Waltz"]')?.getAttribute('aria-pressed') === 'true');
    // The other tab's Favourites view gets it without a reload.
    await other.page.getByRole('list', { name: 'Favourite songs' }).getByText('Foghorn Waltz').waitFor();

    // Rating from the context menu: three stars; the menu shows it at once.
    await row(page, 'Gull Song').click({ button: 'right' });
    const menu = page.getByRole('menu');
    await menu.getByRole('radio', { name: '3 stars' }).click();
    await page.waitForFunction(() => document.querySelector('[role=menu] [role=radio][aria-label="3 stars"]')?.getAttribute('aria-checked') === 'true');
    await menu.getByRole('menuitem', { name: 'Add to favourites' }).click();
    await other.page.getByRole('list', { name: 'Favourite songs' }).getByText('Gull Song').waitFor();
    // The latest star first.
    assert.deepEqual(await other.page.locator('.song-list .song-title').allInnerTexts(), ['Gull Song', 'Foghorn Waltz']);
    await shot(other.page, 'desktop-favourites');

    // The now-playing view shows the heart and the rating of the song playing.
    await row(page, 'Gull Song').dblclick();
    await page.getByTestId('open-now-playing').click();
    const np = page.getByTestId('now-playing').locator('.np-marks');
    assert.equal(await np.getByRole('button', { name: 'Favourite Gull Song' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await np.getByRole('radio', { name: '3 stars' }).getAttribute('aria-checked'), 'true');
    await np.getByRole('radio', { name: '5 stars' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=now-playing] .np-marks [aria-label="5 stars"]')?.getAttribute('aria-checked') === 'true');
    await shot(page, 'desktop-now-playing-marks');
    await page.keyboard.press('Escape');

    // Un-hearting in the Favourites view takes the song out of it, here and in the other tab.
    await page.goto(`${stack.uiUrl}/#/library/favourites`);
    await heart(page, 'Foghorn Waltz').click();
    await page.getByRole('list', { name: 'Favourite songs' }).getByText('Foghorn Waltz').waitFor({ state: 'detached' });
    await other.page.getByRole('list', { name: 'Favourite songs' }).getByText('Foghorn Waltz').waitFor({ state: 'detached' });

    // The album page has a heart of its own.
    await page.goto(`${stack.uiUrl}/#/album/${encodeURIComponent(songs[0].albumId)}`);
    const albumHeart = page.getByRole('button', { name: 'Favourite album Night Ferry' });
    await albumHeart.click();
    await page.waitForFunction(() => document.querySelector('[aria-label="Favourite album Night Ferry"]')?.getAttribute('aria-pressed') === 'true');
    await page.reload();
    await page.waitForFunction(() => document.querySelector('[aria-label="Favourite album Night Ferry"]')?.getAttribute('aria-pressed') === 'true');
    await shot(page, 'desktop-album-favourite');

    assert.deepEqual(await lowContrast(page), []);
    assert.deepEqual(page.problems, []);
    assert.deepEqual(other.page.problems, []);
    await other.context.close();
    await context.close();
  });

  test('phone: favourite from the menu; the Favourites view; a star from a phone app shows live', async () => {
    const { context, page } = await signedIn({ viewport: PHONE, hasTouch: true, colorScheme: 'light' });
    await page.goto(`${stack.uiUrl}/#/library/songs`);
    await row(page, 'Harbour Lights').getByRole('button', { name: 'More actions for Harbour Lights' }).click();
    await page.getByRole('menuitem', { name: 'Add to favourites' }).click();
    await page.goto(`${stack.uiUrl}/#/library/favourites`);
    const list = page.getByRole('list', { name: 'Favourite songs' });
    await list.getByText('Harbour Lights').waitFor();
    // A phone app (Subsonic) stars another song: the open view follows.
    const key = await createKeyOverSocket();
    const r = await rest('star', { apiKey: key, id: songs[1].id });
    assert.equal(r.status, 'ok');
    await list.getByText('Foghorn Waltz').waitFor();
    await shot(page, 'phone-favourites');
    assert.deepEqual(await lowContrast(page), []);
    assert.deepEqual(page.problems, []);
    await context.close();
  });
});

/** An API key made over the socket API (the Apps screen is tested on its own below). */
async function createKeyOverSocket() {
  const s = await apiSocket(stack, ALICE);
  try {
    return (await s.call('subsonic:createKey', { label: 'phone-test', kind: 'apiKey' })).secret;
  } finally {
    s.close();
  }
}

/**
 * Decodes the page's QR code with jsQR: the squares the SVG draws (its `M x y h1v1h-1z` path in
 * a `viewBox` of the code's size) are painted into a bitmap, 6 px a module, and read back.
 */
async function decodeQr(page) {
  const { size, d } = await page.evaluate(() => {
    const svg = document.querySelector('svg.qr');
    return { size: svg.viewBox.baseVal.width, d: svg.querySelector('path').getAttribute('d') };
  });
  const scale = 6;
  const w = size * scale;
  const rgba = new Uint8ClampedArray(w * w * 4).fill(255);
  for (const [, x, y] of d.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
    for (let dy = 0; dy < scale; dy++)
      for (let dx = 0; dx < scale; dx++) {
        const o = ((Number(y) * scale + dy) * w + Number(x) * scale + dx) * 4;
        rgba[o] = rgba[o + 1] = rgba[o + 2] = 0;
      }
  }
  return jsQR(rgba, w, w)?.data ?? null;
}

describe('Profile → Apps', () => {
  for (const [name, opts] of [
    ['desktop', { viewport: DESKTOP }],
    ['phone', { viewport: PHONE, hasTouch: true, colorScheme: 'light' }],
  ]) {
    test(`${name}: an API key shown once works in an app, shows its last use, and stops working when revoked`, async () => {
      const { context, page } = await signedIn(opts);
      await page.goto(`${stack.uiUrl}/#/profile`);
      const apps = page.locator('#apps');
      await apps.getByRole('heading', { name: 'Apps' }).scrollIntoViewIfNeeded();
      const address = await apps.getByTestId('apps-address').inputValue();
      assert.equal(address, new URL(stack.uiUrl).origin);
      assert.equal(await decodeQr(page), address, 'the QR code is the server address');

      const label = `Symfonium ${name}`;
      await apps.getByLabel('App name').fill(label);
      await apps.getByRole('button', { name: 'Create' }).click();
      const secret = await apps.getByTestId('apps-secret-value').inputValue();
      assert.match(secret, /^[0-9a-f]{64}$/);
      await apps.scrollIntoViewIfNeeded();
      await shot(page, `${name}-apps`);
      assert.equal((await rest('ping', { apiKey: secret })).status, 'ok');
      await apps.getByRole('button', { name: 'Done' }).click();
      await apps.getByTestId('apps-secret').waitFor({ state: 'detached' });

      // Shown once: after a reload the list names it, with its use, and no secret anywhere.
      await page.reload();
      const item = page.getByRole('list', { name: 'App credentials' }).locator('li', { hasText: label });
      await item.getByText(/last used/).waitFor();
      assert.equal(await page.getByText(secret).count(), 0);
      assert.ok(!(await page.content()).includes(secret), 'the secret is not in the page any more');

      // An app password for clients that only know u+p.
      await apps.getByLabel('App name').fill(`DSub ${name}`);
      await apps.getByLabel('Kind').selectOption('appPassword');
      await apps.getByRole('button', { name: 'Create' }).click();
      const pw = await apps.getByTestId('apps-secret-value').inputValue();
      assert.equal((await rest('ping', { u: ALICE.name, p: pw })).status, 'ok');

      await item.getByRole('button', { name: `Revoke ${label}` }).click();
      await item.waitFor({ state: 'detached' });
      const refused = await rest('ping', { apiKey: secret });
      assert.equal(refused.status, 'failed');
      assert.equal(refused.error.code, 44);
      assert.deepEqual(await lowContrast(page), []);
      assert.deepEqual(page.problems, []);
      await context.close();
    });
  }
});
