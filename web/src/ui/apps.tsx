// Profile → Apps: credentials for phone and desktop players that speak the Subsonic API. A key
// or app password is shown once (with a copy button), next to the server address and its QR
// code; the list shows each one's last use and revokes them one by one.
import { useEffect, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { fieldErrors, isUnknownEvent } from '../api/envelope';
import type { AppKey } from '../api/types';
import { reportError } from '../state/library';
import { api, toast, user } from '../state/session';
import { Field, FormError, copyText, fmtDate, val } from './common';
import { Icon } from './icons';

/** A QR code as SVG squares (no image, no inline script: the CSP stays strict). */
export function QrCode(props: { text: string; label: string }) {
  const qr = encode(props.text, { ecc: 'M', border: 4 });
  const d = qr.data
    .flatMap((row, y) => row.map((dark, x) => (dark ? `M${x} ${y}h1v1h-1z` : '')))
    .join('');
  return (
    <svg class="qr" viewBox={`0 0 ${qr.size} ${qr.size}`} role="img" aria-label={props.label} shape-rendering="crispEdges">
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}

function CopyField(props: { label: string; value: string; testId?: string }) {
  return (
    <Field label={props.label}>
      {(id) => (
        <div class="copy-field">
          <input id={id} readOnly value={props.value} data-testid={props.testId} onFocus={(e) => e.currentTarget.select()} />
          <button
            type="button"
            class="btn"
            aria-label={`Copy ${props.label.toLowerCase()}`}
            onClick={async () => toast((await copyText(props.value)) ? 'Copied' : 'Select the text and copy it', 'info', 2000)}
          >
            <Icon name="copy" size={18} /> Copy
          </button>
        </div>
      )}
    </Field>
  );
}

const KIND_LABEL: Record<AppKey['kind'], string> = { apiKey: 'API key', appPassword: 'App password' };

export function AppsCard() {
  const u = user.value;
  const [items, setItems] = useState<AppKey[] | null>(null);
  const [unsupported, setUnsupported] = useState(false);
  const [label, setLabel] = useState('');
  const [kind, setKind] = useState<AppKey['kind']>('apiKey');
  const [created, setCreated] = useState<AppKey | null>(null);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const [busy, setBusy] = useState(false);
  const address = location.origin;
  const load = () =>
    api
      .call('subsonic:listKeys')
      .then((r) => setItems(r.items))
      .catch((e) => (isUnknownEvent(e) ? setUnsupported(true) : reportError(e)));
  useEffect(() => void load(), []);
  if (!u || unsupported) return null;
  return (
    <div class="card apps" id="apps">
      <h2>Apps</h2>
      <p class="muted">
        Phone and desktop players that speak Subsonic (Symfonium, DSub, Ultrasonic, Feishin, Supersonic…) play your library too. Give each
        one its own key: your password never leaves this page, and you can revoke an app without touching the others.
      </p>
      <div class="apps-connect">
        <QrCode text={address} label={`QR code of the server address ${address}`} />
        <div class="grow">
          <CopyField label="Server address" value={address} testId="apps-address" />
          <p class="muted">
            Username: <strong>{u.username}</strong>. Scan the code with the app, or type the address.
          </p>
        </div>
      </div>

      {created?.secret && (
        <div class="apps-secret" role="status" data-testid="apps-secret">
          <h3>
            {KIND_LABEL[created.kind]} for “{created.label}”
          </h3>
          <CopyField label={created.kind === 'apiKey' ? 'API key' : 'App password'} value={created.secret} testId="apps-secret-value" />
          <p class="muted">
            Shown only now: copy it into the app. {created.kind === 'appPassword' ? 'Use it where the app asks for the password.' : 'Use it where the app asks for an API key.'}
          </p>
          <button type="button" class="btn" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}

      <form
        class="form inline-form apps-new"
        novalidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr({ fields: {} });
          try {
            const k = await api.call('subsonic:createKey', { label: label.trim(), kind });
            setCreated(k);
            setLabel('');
            void load();
          } catch (ex) {
            setErr(fieldErrors(ex, ['label']));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="App name" error={err.fields.label}>
          {(id, d) => <input id={id} aria-describedby={d} maxLength={64} placeholder="Phone" value={label} onInput={(e) => setLabel(val(e))} />}
        </Field>
        <Field label="Kind">
          {(id) => (
            <select id={id} value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as AppKey['kind'])}>
              <option value="apiKey">API key (newer apps)</option>
              <option value="appPassword">App password (apps that ask for a password)</option>
            </select>
          )}
        </Field>
        <button class="btn primary" type="submit" disabled={busy || !label.trim()}>
          Create
        </button>
      </form>
      <FormError text={err.form} />

      {items && items.length > 0 && (
        <ul class="apps-list" aria-label="App credentials">
          {items.map((k) => (
            <li key={k.id} class="apps-row">
              <div class="grow">
                <span class="song-title">{k.label}</span>
                <span class="song-sub">
                  {KIND_LABEL[k.kind]} · created {fmtDate(k.createdAt)} · {k.lastUsedAt ? `last used ${fmtDate(k.lastUsedAt)}` : 'never used'}
                </span>
              </div>
              <button
                type="button"
                class="btn small danger-text"
                aria-label={`Revoke ${k.label}`}
                onClick={async () => {
                  try {
                    await api.call('subsonic:revokeKey', { id: k.id });
                    toast(`Revoked ${k.label}`, 'success', 2500);
                    if (created?.id === k.id) setCreated(null);
                    void load();
                  } catch (e) {
                    reportError(e);
                  }
                }}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
      {items && items.length === 0 && <p class="muted">No app has a key yet.</p>}
    </div>
  );
}
