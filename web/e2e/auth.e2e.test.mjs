// E2E against the real chillfi: what the server implements today (auth, users, profile).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN, ALICE, DESKTOP, PHONE, launchBrowser, openPage, shot, signIn, startStack, waitExplained } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('first run', () => {
  let stack;
  before(async () => {
    stack = await startStack({ users: [] });
  });
  after(async () => stack?.stop());

  test('with no account, the first visit creates the administrator with the setup code', async () => {
    const code = fs.readFileSync(path.join(stack.dataDir, 'setup-code'), 'utf8').trim();
    const phone = await openPage(browser, stack, { viewport: PHONE });
    await phone.page.getByRole('heading', { name: 'Create the administrator' }).waitFor();
    await shot(phone.page, 'phone-first-run');
    await phone.context.close();

    const { context, page } = await openPage(browser, stack, { viewport: DESKTOP });
    await page.getByRole('heading', { name: 'Create the administrator' }).waitFor();
    await shot(page, 'desktop-first-run');
    await page.getByLabel('Setup code').fill('0000-not-the-code');
    await page.getByLabel('Username').fill('owner');
    await page.getByLabel('Password', { exact: true }).fill('owner-pass-1');
    await page.getByRole('button', { name: 'Create the administrator' }).click();
    await page.getByText(/not the setup code/).waitFor();
    await page.getByLabel('Setup code').fill(code);
    await page.getByRole('button', { name: 'Create the administrator' }).click();
    await page.waitForURL(/#\/library\/songs/);
    await page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    assert.equal(await page.getByTestId('me-name').first().innerText(), 'owner');
    assert.deepEqual(page.problems.filter((p) => !/setup code/.test(p)), []);
    await context.close();

    // The next visitor gets the sign-in screen; the owner signs in with what they chose.
    const next = await openPage(browser, stack, { viewport: DESKTOP });
    await next.page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await next.page.getByTestId('first-run').count(), 0);
    await signIn(next.page, { name: 'owner', password: 'owner-pass-1' });
    await next.context.close();
  });
});

describe('signed-in flows', () => {
  let stack;
  before(async () => {
    stack = await startStack({ users: [ADMIN, ALICE] });
  });
  after(async () => stack?.stop());

  test('wrong password shows an error, then the right one signs in', async () => {
    const { context, page } = await openPage(browser, stack);
    await page.getByLabel('Username').fill(ADMIN.name);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const err = page.getByRole('alert').filter({ hasText: /password|credentials|invalid|wrong/i });
    await err.first().waitFor();
    assert.equal(await page.getByTestId('first-run').count(), 0);
    await shot(page, 'desktop-login-error');
    await signIn(page, ADMIN);
    await page.waitForURL(/#\/library\/songs/);
    await page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    assert.equal(await page.getByTestId('conn').first().getAttribute('data-state'), 'online');
    await shot(page, 'desktop-library');
    // the session survives a reload (token in localStorage, sent in the handshake)
    await page.reload();
    await page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('admin creates a user without password; the user sets one from the token and signs in', async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ADMIN);
    await page.goto(`${stack.uiUrl}/#/admin/users`);
    await page.getByRole('button', { name: 'New user' }).click();
    await page.getByLabel('Username').fill('bob');
    await page.getByRole('button', { name: 'Create user' }).click();
    const tokenEl = page.getByTestId('reset-token');
    await tokenEl.waitFor();
    const token = (await tokenEl.innerText()).trim();
    assert.match(token, /^[0-9a-f]{32}$/);
    await shot(page, 'desktop-admin-reset-token');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByTestId('user-row').filter({ hasText: 'bob' }).getByText('awaiting password').waitFor();
    await shot(page, 'desktop-admin-users');
    await page.goto(`${stack.uiUrl}/#/admin/status`);
    await page.getByTestId('status').getByText('Healthy').waitFor();
    await shot(page, 'desktop-admin-status');

    // bob, in a separate browser context, with the link the admin handed over
    const bob = await openPage(browser, stack, { viewport: PHONE, hash: `#/reset?token=${token}` });
    await bob.page.getByLabel('Reset token').waitFor();
    assert.equal(await bob.page.getByLabel('Reset token').inputValue(), token);
    await shot(bob.page, 'phone-reset');
    await bob.page.getByLabel('New password', { exact: true }).fill('bob-pass-123');
    await bob.page.getByLabel('Repeat the new password').fill('bob-pass-123');
    await bob.page.getByRole('button', { name: /Set password/ }).click();
    await bob.page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    await shot(bob.page, 'phone-library');
    // and can sign in with it later
    await bob.page.evaluate(() => localStorage.clear());
    await bob.page.reload();
    await signIn(bob.page, { name: 'bob', password: 'bob-pass-123' });
    await bob.page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    // the token worked once only
    const again = await openPage(browser, stack, { hash: `#/reset?token=${token}` });
    await again.page.getByLabel('New password', { exact: true }).fill('another-pass-1');
    await again.page.getByLabel('Repeat the new password').fill('another-pass-1');
    await again.page.getByRole('button', { name: /Set password/ }).click();
    await again.page.getByRole('alert').first().waitFor();
    assert.deepEqual(bob.page.problems, []);
    await again.context.close();
    await bob.context.close();
    await context.close();
  });

  test('profile edit, theme persists, hostile display name is text, logout', async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ALICE);
    await page.goto(`${stack.uiUrl}/#/profile`);
    await page.getByLabel('Display name').fill('Alice Liddell');
    await page.getByLabel('Bio').fill('Listens to <b>jazz</b> & rain.');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByTestId('profile-name').getByText('Alice Liddell').waitFor();
    await page.reload();
    await waitExplained(page, stack, page.getByTestId('profile-name').getByText('Alice Liddell'));
    assert.equal(await page.getByLabel('Bio').inputValue(), 'Listens to <b>jazz</b> & rain.');
    assert.equal(await page.locator('.profile-bio b').count(), 0);

    // a validation error from the server lands on its field
    await page.getByLabel('Display name').fill('   ');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.locator('.field.has-error').first().waitFor();

    // theme: switch to Daylight, reload, still Daylight
    await page.getByText('Daylight (light)').click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'daylight');
    await page.reload();
    await waitExplained(page, stack, page.getByTestId('profile-name'));
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'daylight');
    await shot(page, 'desktop-profile-daylight');
    await page.getByText('Dusk (warm dark)').click();
    await shot(page, 'desktop-profile-dusk');
    await page.getByText('Midnight (dark)').click();

    // XSS: the name is shown as text and runs nothing
    const evil = '<img src=x onerror=window.__xss=1>';
    await page.getByLabel('Display name').fill(evil);
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByTestId('profile-name').getByText(evil, { exact: true }).waitFor();
    await page.reload();
    await waitExplained(page, stack, page.getByTestId('profile-name').getByText(evil, { exact: true }));
    assert.equal(await page.getByTestId('me-name').innerText(), evil);
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    await shot(page, 'desktop-profile');

    // logout returns to the login screen and forgets the token
    await page.getByTestId('logout').click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('chillfi.token')), null);
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('phone layout: profile and queue screens; upload screen lists picked files', async () => {
    const { context, page } = await openPage(browser, stack, { viewport: PHONE });
    await signIn(page, ADMIN);
    await page.getByRole('heading', { name: 'Library', exact: true }).waitFor();
    await page.goto(`${stack.uiUrl}/#/profile`);
    await page.getByTestId('profile-name').waitFor();
    await shot(page, 'phone-profile');
    await page.goto(`${stack.uiUrl}/#/queue`);
    await page.getByRole('heading', { name: 'Queue', exact: true }).waitFor();
    await shot(page, 'phone-queue');
    await page.goto(`${stack.uiUrl}/#/upload`);
    await page.getByTestId('file-input').setInputFiles([
      { name: 'Blue in Green.flac', mimeType: 'audio/flac', buffer: Buffer.alloc(3_500_000, 1) },
      { name: 'So What.mp3', mimeType: 'audio/mpeg', buffer: Buffer.alloc(900_000, 2) },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('x') },
    ]);
    assert.equal(await page.getByTestId('upload-row').count(), 2);
    await page.getByText('1 files were not audio').waitFor();
    await shot(page, 'phone-upload');
    await page.setViewportSize(DESKTOP);
    await shot(page, 'desktop-upload');
    await page.goto(`${stack.uiUrl}/#/admin/users`);
    await page.getByTestId('user-row').first().waitFor();
    await page.setViewportSize(PHONE);
    await shot(page, 'phone-admin-users');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  test('the connection indicator shows a lost server and the app reconnects signed in', async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ADMIN);
    const conn = page.locator('.sidebar [data-testid=conn]');
    await conn.and(page.locator('[data-state=online]')).waitFor();
    await stack.kill();
    await conn.and(page.locator('[data-state=reconnecting]')).waitFor({ timeout: 30000 });
    await shot(page, 'desktop-reconnecting');
    await stack.relaunch();
    await conn.and(page.locator('[data-state=online]')).waitFor({ timeout: 30000 });
    // still signed in: the handshake carried the stored token
    await page.goto(`${stack.uiUrl}/#/profile`);
    await page.getByTestId('profile-name').waitFor();
    await context.close();
  });
});
