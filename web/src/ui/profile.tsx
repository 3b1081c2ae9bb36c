// Profile: display name, bio, password, listening stats, theme.
import { useEffect, useState } from 'preact/hooks';
import { fieldErrors, isUnknownEvent } from '../api/envelope';
import type { UserStats } from '../api/types';
import { THEMES, adoptGrant, api, applyTheme, logout, theme, toast, user } from '../state/session';
import { Field, FormError, PageHead, fmtDate, fmtLong, val } from './common';
import { AppsCard } from './apps';
import { Icon } from './icons';

export function ProfileView() {
  const u = user.value;
  const [displayName, setDisplayName] = useState(u?.displayName ?? '');
  const [bio, setBio] = useState(u?.bio ?? '');
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setDisplayName(u?.displayName ?? '');
    setBio(u?.bio ?? '');
  }, [u?.id]);
  if (!u) return null;
  return (
    <section class="page narrow">
      <PageHead title="Profile" sub={`@${u.username}${u.isAdmin ? ' · administrator' : ''}`} />
      <div class="profile-head">
        <div class="avatar lg" aria-hidden="true">
          {(u.displayName || u.username).slice(0, 1).toUpperCase()}
        </div>
        <div>
          <div class="profile-name" data-testid="profile-name">
            {u.displayName || u.username}
          </div>
          {u.bio && <p class="profile-bio">{u.bio}</p>}
        </div>
      </div>

      <form
        class="card form"
        novalidate
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setErr({ fields: {} });
          try {
            const r = await api.call('user:update', { displayName, bio });
            user.value = r.user;
            toast('Profile saved', 'success', 2000);
          } catch (ex) {
            setErr(fieldErrors(ex, ['displayName', 'bio']));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2>About you</h2>
        <Field label="Display name" error={err.fields.displayName}>
          {(id, d) => <input id={id} aria-describedby={d} name="displayName" maxLength={64} value={displayName} onInput={(e) => setDisplayName(val(e))} />}
        </Field>
        <Field label="Bio" error={err.fields.bio} hint={`${bio.length}/1000`}>
          {(id, d) => (
            <textarea
              id={id}
              aria-describedby={d}
              name="bio"
              rows={3}
              maxLength={1000}
              value={bio}
              onInput={(e) => setBio((e.currentTarget as HTMLTextAreaElement).value)}
            />
          )}
        </Field>
        <FormError text={err.form} />
        <div class="form-actions">
          <button class="btn primary" type="submit" disabled={busy}>
            Save profile
          </button>
        </div>
      </form>

      <Appearance />
      <Stats />
      <PasswordForm />
      <AppsCard />

      <div class="card">
        <h2>Sessions</h2>
        <div class="form-actions left">
          <button type="button" class="btn" onClick={() => void logout(false)} data-testid="logout">
            <Icon name="logout" size={18} /> Sign out
          </button>
          <button type="button" class="btn ghost" onClick={() => void logout(true)}>
            Sign out everywhere
          </button>
        </div>
      </div>
    </section>
  );
}

function Appearance() {
  return (
    <fieldset class="card">
      <legend>
        <h2>Appearance</h2>
      </legend>
      <div class="theme-grid" role="radiogroup" aria-label="Theme">
        {THEMES.map((t) => (
          <label key={t.id} class={`theme-opt theme-prev-${t.id} ${theme.value === t.id ? 'sel' : ''}`}>
            <input type="radio" name="theme" value={t.id} checked={theme.value === t.id} onChange={() => applyTheme(t.id)} />
            <span class="swatch" aria-hidden="true">
              <span />
              <span />
              <span />
            </span>
            <span>{t.label}</span>
          </label>
        ))}
      </div>
      <p class="muted small">
        Keyboard: <kbd>Space</kbd> play/pause · <kbd>←</kbd>/<kbd>→</kbd> seek · <kbd>Shift</kbd>+<kbd>←</kbd>/<kbd>→</kbd> previous/next ·{' '}
        <kbd>↑</kbd>/<kbd>↓</kbd> volume · <kbd>/</kbd> search
      </p>
    </fieldset>
  );
}

function Stats() {
  const [s, setS] = useState<UserStats | null>(null);
  const [unsupported, setUnsupported] = useState(false);
  useEffect(() => {
    api
      .call('user:getStats')
      .then(setS)
      .catch((e) => isUnknownEvent(e) && setUnsupported(true));
  }, []);
  return (
    <div class="card">
      <h2>Listening</h2>
      {unsupported || !s ? (
        <p class="muted">{unsupported ? 'Listening stats will appear here once the server records plays.' : 'Loading…'}</p>
      ) : (
        <>
          <dl class="stats">
            <div class="stat">
              <dt>Plays</dt>
              <dd>{s.totalPlays}</dd>
            </div>
            <div class="stat">
              <dt>Listening time</dt>
              <dd>{fmtLong(s.totalListeningMs)}</dd>
            </div>
            <div class="stat">
              <dt>Uploads</dt>
              <dd>{s.uploads}</dd>
            </div>
          </dl>
          {s.topSongs.length > 0 && (
            <>
              <h3>Top songs</h3>
              <ol class="top-list">
                {s.topSongs.slice(0, 10).map((t) => (
                  <li key={t.song.id}>
                    <span class="grow">
                      {t.song.title} <span class="muted">— {t.song.artist}</span>
                    </span>
                    <span class="muted">{t.plays}</span>
                  </li>
                ))}
              </ol>
            </>
          )}
          {s.topArtists.length > 0 && (
            <>
              <h3>Top artists</h3>
              <ol class="top-list">
                {s.topArtists.slice(0, 10).map((t) => {
                  const name = typeof t.artist === 'string' ? t.artist : t.artist?.name ?? '';
                  return (
                  <li key={name}>
                    <span class="grow">{name}</span>
                    <span class="muted">{t.plays}</span>
                  </li>
                  );
                })}
              </ol>
            </>
          )}
          {s.recent.length > 0 && (
            <>
              <h3>Recently played</h3>
              <ol class="top-list">
                {s.recent.slice(0, 10).map((r, i) => (
                  <li key={`${r.song.id}-${r.playedAt}-${i}`}>
                    <span class="grow">
                      {r.song.title} <span class="muted">— {r.song.artist}</span>
                    </span>
                    <span class="muted">{fmtDate(r.playedAt)}</span>
                  </li>
                ))}
              </ol>
            </>
          )}
        </>
      )}
    </div>
  );
}

function PasswordForm() {
  const [cur, setCur] = useState('');
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  return (
    <form
      class="card form"
      novalidate
      onSubmit={async (e) => {
        e.preventDefault();
        if (pw !== pw2) return setErr({ fields: { confirm: 'The two passwords differ.' } });
        setErr({ fields: {} });
        try {
          adoptGrant(await api.call('auth:changePassword', { currentPassword: cur, newPassword: pw }));
          setCur('');
          setPw('');
          setPw2('');
          toast('Password changed. Other sessions were signed out.', 'success');
        } catch (ex) {
          setErr(fieldErrors(ex, ['currentPassword', 'newPassword']));
        }
      }}
    >
      <h2>Password</h2>
      <input type="text" name="username" autocomplete="username" value={user.value?.username} hidden readOnly />
      <Field label="Current password" error={err.fields.currentPassword}>
        {(id, d) => <input id={id} aria-describedby={d} type="password" autocomplete="current-password" value={cur} onInput={(e) => setCur(val(e))} />}
      </Field>
      <div class="grid-2">
        <Field label="New password" error={err.fields.newPassword}>
          {(id, d) => <input id={id} aria-describedby={d} type="password" autocomplete="new-password" value={pw} onInput={(e) => setPw(val(e))} />}
        </Field>
        <Field label="Repeat new password" error={err.fields.confirm}>
          {(id, d) => <input id={id} aria-describedby={d} type="password" autocomplete="new-password" value={pw2} onInput={(e) => setPw2(val(e))} />}
        </Field>
      </div>
      <FormError text={err.form} />
      <div class="form-actions">
        <button class="btn" type="submit" disabled={!cur || !pw}>
          Change password
        </button>
      </div>
    </form>
  );
}
