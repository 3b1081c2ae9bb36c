// Admin: users (create with or without password, reset tokens), plugins, server status.
import { useEffect, useState } from 'preact/hooks';
import { fetchHealth } from '../api/api';
import { fieldErrors, isUnknownEvent } from '../api/envelope';
import type { Health, Plugin, User } from '../api/types';
import { href, route } from '../router';
import { api, serverInfo, toast, toastError, user as me } from '../state/session';
import { DialogFrame, Empty, Field, FormError, PageHead, Spinner, closeDialog, copyText, fmtDate, openDialog, val } from './common';
import { Icon } from './icons';

function Tabs() {
  const tab = route.value.parts[1] ?? 'users';
  const t = (id: string, label: string) => (
    <a href={href(`/admin/${id}`)} class={`tab ${tab === id ? 'active' : ''}`} aria-current={tab === id ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <nav class="tabs" aria-label="Admin sections">
      {t('users', 'Users')}
      {t('plugins', 'Plugins')}
      {t('status', 'Status')}
    </nav>
  );
}

export function AdminView() {
  if (!me.value?.isAdmin) return <Empty title="Administrators only" icon="admin" />;
  const tab = route.value.parts[1] ?? 'users';
  return (
    <section class="page">
      <PageHead title="Admin">
        <Tabs />
      </PageHead>
      {tab === 'plugins' ? <Plugins /> : tab === 'status' ? <Status /> : <Users />}
    </section>
  );
}

function TokenBox(props: { who: string; token: string; expiresAt?: number }) {
  const link = `${location.origin}/#/reset?token=${encodeURIComponent(props.token)}`;
  return (
    <div class="token-box" data-testid="reset-token-box">
      <p>
        Hand this one-time reset token to <span class="strong">{props.who}</span>
        {props.expiresAt ? ` (valid until ${fmtDate(props.expiresAt)})` : ''}:
      </p>
      <code class="token mono" data-testid="reset-token">
        {props.token}
      </code>
      <p class="muted small">Or send them this link:</p>
      <input class="mono" readOnly value={link} aria-label="Reset link" onFocus={(e) => e.currentTarget.select()} />
      <div class="form-actions">
        <button type="button" class="btn" onClick={async () => toast((await copyText(link)) ? 'Link copied' : 'Select the link and copy it', 'info', 2000)}>
          Copy link
        </button>
        <button type="button" class="btn primary" onClick={closeDialog}>
          Done
        </button>
      </div>
    </div>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [withPw, setWithPw] = useState(false);
  const [isAdmin, setIsAdmin] = useState(false);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const [busy, setBusy] = useState(false);
  return (
    <DialogFrame title="New user">
      <form
        class="form"
        novalidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr({ fields: {} });
          try {
            const r = await api.call('auth:createUser', { username: username.trim(), password: withPw ? password : undefined, isAdmin });
            onCreated();
            if (r.resetToken) openDialog(
              <DialogFrame title="User created">
                <TokenBox who={r.user.username} token={r.resetToken} expiresAt={r.resetTokenExpiresAt} />
              </DialogFrame>,
            );
            else {
              closeDialog();
              toast(`Created ${r.user.username}`, 'success', 2500);
            }
          } catch (ex) {
            setErr(fieldErrors(ex, ['username', 'password']));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Username" error={err.fields.username} hint="Letters, digits, . _ - (up to 32)">
          {(id, d) => (
            <input id={id} aria-describedby={d} name="username" autocomplete="off" autocapitalize="none" value={username} onInput={(e) => setUsername(val(e))} />
          )}
        </Field>
        <label class="check">
          <input type="checkbox" checked={withPw} onChange={(e) => setWithPw(e.currentTarget.checked)} />
          <span>Set a password now (otherwise you get a reset token to hand over)</span>
        </label>
        {withPw && (
          <Field label="Password" error={err.fields.password}>
            {(id, d) => (
              <input id={id} aria-describedby={d} type="password" name="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(val(e))} />
            )}
          </Field>
        )}
        <label class="check">
          <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.currentTarget.checked)} />
          <span>Administrator</span>
        </label>
        <FormError text={err.form} />
        <div class="form-actions">
          <button type="button" class="btn ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button class="btn primary" type="submit" disabled={busy || !username.trim()}>
            Create user
          </button>
        </div>
      </form>
    </DialogFrame>
  );
}

function Users() {
  const [users, setUsers] = useState<User[] | null>(null);
  const load = () =>
    api
      .call('user:list')
      .then((r) => setUsers(r.items))
      .catch(toastError);
  useEffect(() => void load(), []);
  const reset = async (u: User) => {
    if (!confirm(`Reset the password of ${u.username}? All of their sessions end.`)) return;
    try {
      const r = await api.call('auth:resetPassword', { userId: u.id });
      void load();
      openDialog(
        <DialogFrame title="Password reset">
          <TokenBox who={u.username} token={r.resetToken} expiresAt={r.expiresAt} />
        </DialogFrame>,
      );
    } catch (e) {
      toastError(e);
    }
  };
  const del = async (u: User) => {
    if (!confirm(`Delete the user ${u.username}? This cannot be undone.`)) return;
    try {
      await api.call('user:delete', { userId: u.id });
      toast(`Deleted ${u.username}`, 'success', 2500);
      void load();
    } catch (e) {
      toastError(e);
    }
  };
  return (
    <>
      <div class="toolbar">
        <span class="muted">{users ? `${users.length} users` : ''}</span>
        <span class="grow" />
        <button type="button" class="btn primary" onClick={() => openDialog(<CreateUser onCreated={() => void load()} />)}>
          <Icon name="plus" size={18} /> New user
        </button>
      </div>
      {!users ? (
        <div class="center">
          <Spinner />
        </div>
      ) : (
        <ul class="card-list" aria-label="Users">
          {users.map((u) => (
            <li key={u.id} class="card-row" data-testid="user-row">
              <div class="avatar" aria-hidden="true">
                {(u.displayName || u.username).slice(0, 1).toUpperCase()}
              </div>
              <div class="grow">
                <div class="song-title">
                  {u.displayName || u.username}
                  {u.isAdmin && <span class="pill">admin</span>}
                  {!u.hasPassword && <span class="pill warn">awaiting password</span>}
                </div>
                <div class="song-sub">
                  @{u.username} · since {fmtDate(u.createdAt)}
                </div>
              </div>
              <div class="row-actions">
                <button type="button" class="btn small ghost" onClick={() => void reset(u)} aria-label={`Reset password of ${u.username}`}>
                  Reset password
                </button>
                <button
                  type="button"
                  class="btn small ghost danger-text"
                  onClick={() => void del(u)}
                  disabled={u.id === me.value?.id}
                  aria-label={`Delete ${u.username}`}
                >
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Plugins() {
  const [items, setItems] = useState<Plugin[] | null>(null);
  const [unsupported, setUnsupported] = useState(false);
  const load = () =>
    api
      .call('plugin:list')
      .then((r) => setItems(r.items))
      .catch((e) => (isUnknownEvent(e) ? setUnsupported(true) : toastError(e)));
  useEffect(() => void load(), []);
  if (unsupported) return <Empty title="Plugins are on their way">This server does not offer plugin management yet.</Empty>;
  if (!items)
    return (
      <div class="center">
        <Spinner />
      </div>
    );
  const installed = (plugin: Plugin) => setItems([...items.filter((x) => x.name !== plugin.name), plugin]);
  if (!items.length)
    return (
      <>
        <PluginInstall onInstalled={installed} />
        <Empty title="No plugins installed" icon="admin">
          Install one above (a .tar.gz or .zip of a plugin folder), or with <code>chillfi plugin install</code> on the
          server.
        </Empty>
      </>
    );
  return (
    <>
      <PluginInstall onInstalled={installed} />
      <ul class="card-list" aria-label="Plugins">
        {items.map((p) => (
          <li key={p.name} class="card-row plugin-row">
            <div class="grow">
              <div class="song-title">
                {p.name} <span class="muted small">v{p.version}</span> <span class="pill">{p.kind}</span>
                {p.packaged && <span class="pill" title="Ships with ChillFi: enable it here, no install needed">built in</span>}
              </div>
              {p.description && <div class="song-sub">{p.description}</div>}
              {!!p.requestedHosts?.length && (
                <div class="song-sub small" aria-label={`Network access of ${p.name}`}>
                  Reaches {p.requestedHosts.join(', ')}
                  {p.grantedHosts?.length ? ` · granted: ${p.grantedHosts.join(', ')}` : ' · not granted yet'}
                </div>
              )}
              {(p.faults > 0 || p.disabledReason) && (
                <div class="fault" role="note">
                  {p.faults} faults
                  {p.lastFault ? ` · last ${fmtDate(p.lastFault.at)}: ${p.lastFault.message}` : ''}
                  {p.disabledReason ? ` · disabled: ${p.disabledReason}` : ''}
                </div>
              )}
              <PluginSettings plugin={p} onSaved={(q) => setItems(items.map((x) => (x.name === q.name ? q : x)))} />
            </div>
            <div class="row-actions">
              <label class="switch">
                <input
                  type="checkbox"
                  checked={p.enabled}
                  onChange={async (e) => {
                    const on = e.currentTarget.checked;
                    const hosts = p.requestedHosts ?? [];
                    // Enabling a plugin that reaches the network grants it the hosts it names.
                    if (on && hosts.length && !confirm(`Let ${p.name} send requests to ${hosts.join(', ')}? Enabling it grants these hosts.`)) {
                      e.currentTarget.checked = false;
                      return;
                    }
                    try {
                      const r = await api.call(
                        on ? 'plugin:enable' : 'plugin:disable',
                        on && hosts.length ? { name: p.name, hosts } : { name: p.name },
                      );
                      setItems(items.map((x) => (x.name === p.name ? r.plugin : x)));
                    } catch (ex) {
                      toastError(ex);
                      void load();
                    }
                  }}
                />
                <span>{p.enabled ? 'Enabled' : 'Disabled'}</span>
              </label>
              {!p.packaged && (
                <button
                  type="button"
                  class="btn small ghost danger-text"
                  aria-label={`Remove ${p.name}`}
                  onClick={async () => {
                    if (!confirm(`Remove the plugin ${p.name}? Its settings are kept for a reinstall.`)) return;
                    try {
                      setItems((await api.call('plugin:remove', { name: p.name })).items);
                    } catch (ex) {
                      toastError(ex);
                      void load();
                    }
                  }}
                >
                  Remove
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
    </>
  );
}

/** A plugin's capabilities and settings, folded away until asked for. */
function PluginSettings(props: { plugin: Plugin; onSaved: (p: Plugin) => void }) {
  const p = props.plugin;
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const keys = Object.keys(p.config ?? {});
  const caps = p.capabilities?.length ? p.capabilities.join(', ') : 'none';
  return (
    <div class="plugin-settings">
      <button
        type="button"
        class="btn small ghost"
        aria-expanded={open}
        onClick={() => {
          setValues({ ...(p.config ?? {}) });
          setErr({ fields: {} });
          setOpen(!open);
        }}
      >
        Settings
      </button>
      {open && (
        <form
          class="form"
          aria-label={`Settings of ${p.name}`}
          onSubmit={async (e) => {
            e.preventDefault();
            const changed = Object.fromEntries(Object.entries(values).filter(([k, v]) => p.config?.[k] !== v));
            if (!Object.keys(changed).length) return setOpen(false);
            try {
              const r = await api.call('plugin:config', { name: p.name, values: changed });
              props.onSaved(r.plugin);
              setOpen(false);
              toast(`Saved the settings of ${p.name}`, 'success', 2500);
            } catch (ex) {
              setErr(fieldErrors(ex, keys.map((k) => `values.${k}`)));
            }
          }}
        >
          <div class="muted small">Capabilities: {caps}</div>
          {keys.length === 0 && <div class="muted small">This plugin has no settings.</div>}
          {keys.map((k) => (
            <Field key={k} label={k} error={err.fields[`values.${k}`]}>
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  value={values[k] ?? ''}
                  onInput={(e) => setValues({ ...values, [k]: val(e) })}
                />
              )}
            </Field>
          ))}
          <FormError text={err.form} />
          {keys.length > 0 && (
            <div class="row-actions">
              <button type="submit" class="btn small">
                Save
              </button>
            </div>
          )}
        </form>
      )}
    </div>
  );
}

/** Uploads a plugin archive in chunks; the server checks and installs it. */
function PluginInstall(props: { onInstalled: (p: Plugin) => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const upload = async (file: File) => {
    setDone(null);
    try {
      setBusy(`Uploading ${file.name}…`);
      const { uploadId, chunkSize } = await api.call('plugin:uploadInit', { name: file.name, size: file.size });
      for (let index = 0; index * chunkSize < file.size; index++) {
        const data = await file.slice(index * chunkSize, (index + 1) * chunkSize).arrayBuffer();
        await api.call('plugin:uploadChunk', { uploadId, index, data }, { timeoutMs: 60000 });
      }
      setBusy(`Checking ${file.name}…`);
      const r = await api.call('plugin:uploadFinish', { uploadId }, { timeoutMs: 120000 });
      props.onInstalled(r.plugin);
      setDone(`${r.replaced ? 'Replaced' : 'Installed'} ${r.plugin.name} ${r.plugin.version}.`);
    } catch (e) {
      toastError(e);
    } finally {
      setBusy(null);
    }
  };
  return (
    <div class="plugin-install">
      <label class="btn small">
        Install a plugin…
        <input
          type="file"
          accept=".tar.gz,.tgz,.zip,application/gzip,application/zip"
          class="sr-only"
          disabled={!!busy}
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (file) void upload(file);
          }}
        />
      </label>
      <span class="muted small" role="status">
        {busy ?? done ?? 'A .tar.gz or .zip of a plugin folder (plugin.toml and its .wasm).'}
      </span>
    </div>
  );
}

function Status() {
  const [h, setH] = useState<Health | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    const load = () =>
      fetchHealth()
        .then((x) => {
          setH(x);
          setErr(null);
        })
        .catch((e) => setErr(String(e?.message ?? e)));
    void load();
    const t = setInterval(load, 10000);
    return () => clearInterval(t);
  }, []);
  const up = (s: number) => {
    const d = Math.floor(s / 86400);
    const hh = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d ? `${d} d ${hh} h` : hh ? `${hh} h ${m} min` : `${m} min ${s % 60} s`;
  };
  if (err) return <FormError text={`Health check failed: ${err}`} />;
  if (!h)
    return (
      <div class="center">
        <Spinner />
      </div>
    );
  return (
    <dl class="stats" data-testid="status">
      <div class="stat">
        <dt>Status</dt>
        <dd class={h.status === 'ok' ? 'ok' : 'warn'}>{h.status === 'ok' ? 'Healthy' : 'Degraded'}</dd>
      </div>
      <div class="stat">
        <dt>Version</dt>
        <dd>{h.version}</dd>
      </div>
      <div class="stat">
        <dt>Uptime</dt>
        <dd>{up(h.uptimeSecs)}</dd>
      </div>
      <div class="stat">
        <dt>Storage</dt>
        <dd class={h.storage.ok ? 'ok' : 'warn'}>
          {h.storage.backend} · {h.storage.ok ? 'OK' : 'unavailable'}
        </dd>
      </div>
      <div class="stat">
        <dt>Server name</dt>
        <dd>{serverInfo.value?.name ?? '—'}</dd>
      </div>
    </dl>
  );
}
