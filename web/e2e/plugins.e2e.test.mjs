// Admin → Plugins in a real browser: an installed plugin and one that ships with the server
// (the read-only packaged folder), switching the shipped one on, removing the installed one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN, REPO, apiSocket, launchBrowser, lowContrast, openPage, shot, signIn, startStack } from './harness.mjs';

const DIST = path.join(REPO, 'plugins', 'dist');

function copyPlugin(name, into) {
  const from = path.join(DIST, name);
  if (!fs.existsSync(path.join(from, `${name}.wasm`))) throw new Error(`${name} is not built: run bash plugins/build.sh`);
  fs.cpSync(from, path.join(into, name), { recursive: true });
}

describe('admin plugins screen', () => {
  let browser;
  let stack;
  let plugins;
  let packaged;
  before(async () => {
    plugins = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-plugins-'));
    packaged = fs.mkdtempSync(path.join(os.tmpdir(), 'chillfi-e2e-packaged-'));
    copyPlugin('filename-tagger', plugins);
    copyPlugin('mobile-profile', packaged);
    copyPlugin('musicbrainz-enricher', packaged);
    stack = await startStack({ env: { CHILLFI_PLUGINS__DIR: plugins, CHILLFI_PLUGINS__PACKAGED_DIR: packaged } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
    for (const d of [plugins, packaged]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a built-in plugin is switched on in place; an installed one is removed after a confirmation; one is installed from a .tar.gz', async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ADMIN);
    await page.goto(`${stack.uiUrl}/#/admin/plugins`);
    const list = page.getByRole('list', { name: 'Plugins' });
    const shipped = list.getByRole('listitem').filter({ hasText: 'mobile-profile' });
    const installed = list.getByRole('listitem').filter({ hasText: 'filename-tagger' });
    await shipped.getByText('built in').waitFor();
    await shipped.getByText(/ships with ChillFi/).waitFor();
    assert.equal(await shipped.getByRole('button', { name: /Remove/ }).count(), 0, 'a built-in plugin has no Remove');
    assert.equal(await installed.getByText('built in').count(), 0);

    await shipped.getByRole('checkbox').check();
    await shipped.getByText('Enabled').waitFor();
    assert.deepEqual(await lowContrast(page), []);
    await shot(page, 'desktop-admin-plugins');

    // Settings: the capabilities asked for and plugin.toml's values, checked by the server.
    await shipped.getByRole('button', { name: 'Settings' }).click();
    const form = page.getByRole('form', { name: 'Settings of mobile-profile' });
    await form.getByText('Capabilities: none').waitFor();
    await form.getByLabel('opus-kbps').fill('9999');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText(/opus-kbps|9999/).last().waitFor();
    assert.match(await form.locator('.has-error').innerText(), /opus-kbps/);
    await shot(page, 'desktop-admin-plugin-settings');
    await form.getByLabel('opus-kbps').fill('64');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.waitFor({ state: 'detached' });
    const api0 = await apiSocket(stack, ADMIN);
    const listed = (await api0.call('plugin:list')).items.find((p) => p.name === 'mobile-profile');
    api0.close();
    assert.equal(listed.config['opus-kbps'], '64');

    // Dismissing the confirmation keeps it; accepting removes it from the list and the folder.
    page.once('dialog', (d) => d.dismiss());
    await installed.getByRole('button', { name: 'Remove filename-tagger' }).click();
    assert.equal(await installed.count(), 1);
    assert.ok(fs.existsSync(path.join(plugins, 'filename-tagger')));
    page.once('dialog', (d) => d.accept());
    await installed.getByRole('button', { name: 'Remove filename-tagger' }).click();
    await installed.waitFor({ state: 'detached' });
    assert.ok(!fs.existsSync(path.join(plugins, 'filename-tagger')));

    // Installing from the screen: a .tar.gz of a plugin folder, uploaded and checked.
    const archive = path.join(plugins, '..', `${path.basename(plugins)}-my-enricher.tar.gz`);
    const tar = spawnSync('tar', ['czf', archive, '-C', path.join(REPO, 'plugins', 'target', 'test-plugins'), 'my-enricher']);
    assert.equal(tar.status, 0, String(tar.stderr));
    await page.locator('.plugin-install input[type=file]').setInputFiles(archive);
    await page.getByRole('status').getByText('Installed my-enricher 0.1.0.').waitFor();
    await list.getByRole('listitem').filter({ hasText: 'my-enricher' }).getByText('Enabled').waitFor();
    assert.ok(fs.existsSync(path.join(plugins, 'my-enricher', 'my-enricher.wasm')));
    // Something that is not a plugin: a message, nothing installed.
    const junk = `${archive}.junk.tar.gz`;
    fs.writeFileSync(junk, 'not an archive');
    await page.locator('.plugin-install input[type=file]').setInputFiles(junk);
    await page.getByText(`${path.basename(junk)} is not a readable .tar.gz`, { exact: false }).waitFor();
    assert.equal(await page.getByText('plugin-uploads').count(), 0, 'no server path in the message');
    await shot(page, 'desktop-admin-plugins-installed');
    fs.rmSync(archive);
    fs.rmSync(junk);

    const api = await apiSocket(stack, ADMIN);
    const { items } = await api.call('plugin:list');
    api.close();
    assert.deepEqual(items.map((p) => [p.name, p.state, p.packaged]).sort(), [
      ['mobile-profile', 'enabled', true], ['musicbrainz-enricher', 'disabled', true], ['my-enricher', 'enabled', false],
    ]);
    await context.close();
  });

  test('a plugin that reaches the network shows its hosts and is granted them only on a confirmed enable', async () => {
    const { context, page } = await openPage(browser, stack);
    await signIn(page, ADMIN);
    await page.goto(`${stack.uiUrl}/#/admin/plugins`);
    const row = page.getByRole('list', { name: 'Plugins' }).getByRole('listitem').filter({ hasText: 'musicbrainz-enricher' });
    const access = row.getByLabel('Network access of musicbrainz-enricher');
    await access.getByText('Reaches musicbrainz.org, coverartarchive.org, *.archive.org · not granted yet').waitFor();

    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.dismiss(); });
    await row.getByRole('checkbox').click();
    await row.getByText('Disabled', { exact: true }).waitFor();
    assert.match(asked, /Let musicbrainz-enricher send requests to musicbrainz\.org, coverartarchive\.org, \*\.archive\.org\?/);
    assert.equal(await row.getByRole('checkbox').isChecked(), false, 'dismissed: still off');

    page.once('dialog', (d) => void d.accept());
    await row.getByRole('checkbox').click();
    await row.getByText('Enabled', { exact: true }).waitFor();
    await access.getByText('granted: musicbrainz.org, coverartarchive.org, *.archive.org').waitFor();
    assert.deepEqual(await lowContrast(page), []);
    await shot(page, 'desktop-admin-plugin-network');
    const api = await apiSocket(stack, ADMIN);
    const p = (await api.call('plugin:list')).items.find((i) => i.name === 'musicbrainz-enricher');
    api.close();
    assert.deepEqual(p.grantedHosts, ['musicbrainz.org', 'coverartarchive.org', '*.archive.org']);
    assert.equal(p.state, 'enabled');
    await context.close();
  });
});
