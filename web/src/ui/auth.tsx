// Sign in, first-run hint, and setting a password from a reset token (no login needed).
import { useState } from 'preact/hooks';
import { fieldErrors } from '../api/envelope';
import { navigate, route } from '../router';
import { adoptGrant, api, conn, login, serverInfo, signOutReason } from '../state/session';
import { Field, FormError, val } from './common';
import { Icon } from './icons';

function AuthCard(props: { title: string; children: preact.ComponentChildren }) {
  return (
    <main class="auth-wrap" id="main">
      <div class="auth-card">
        <div class="brand brand-lg">
          <span class="brand-mark">
            <Icon name="note" size={22} />
          </span>
          <span>ChillFi</span>
        </div>
        <h1 class="auth-title">{props.title}</h1>
        {props.children}
      </div>
      <p class="auth-foot">
        {serverInfo.value ? `${serverInfo.value.name} · v${serverInfo.value.version}` : conn.value === 'online' ? '' : 'Connecting to the server…'}
      </p>
    </main>
  );
}

export function LoginScreen() {
  if (serverInfo.value?.needsSetup) return <SetupScreen />;
  return <SignInScreen />;
}

/** First run: the setup code from the server's data folder creates the first administrator. */
function SetupScreen() {
  const [code, setCode] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr({ fields: {} });
    try {
      adoptGrant(await api.call('auth:setup', { code: code.trim(), username: username.trim(), password }));
      if (serverInfo.value) serverInfo.value = { ...serverInfo.value, needsSetup: false, hasUsers: true };
      navigate('/library/songs', true);
    } catch (ex) {
      setErr(fieldErrors(ex, ['code', 'username', 'password']));
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthCard title="Create the administrator">
      <div class="notice" role="note" data-testid="first-run">
        <strong>Welcome! This server has no accounts yet.</strong>
        <p>
          Paste the setup code the server wrote to <code>setup-code</code> in its data folder (the server log names the file), then
          choose the administrator's name and password.
        </p>
      </div>
      <form onSubmit={submit} class="form" novalidate>
        <Field label="Setup code" error={err.fields.code}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="code"
              autocomplete="one-time-code"
              autocapitalize="none"
              spellcheck={false}
              required
              value={code}
              onInput={(e) => setCode(val(e))}
            />
          )}
        </Field>
        <Field label="Username" error={err.fields.username}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="username"
              autocomplete="username"
              autocapitalize="none"
              spellcheck={false}
              required
              value={username}
              onInput={(e) => setUsername(val(e))}
            />
          )}
        </Field>
        <Field label="Password" error={err.fields.password}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="password"
              type="password"
              autocomplete="new-password"
              required
              value={password}
              onInput={(e) => setPassword(val(e))}
            />
          )}
        </Field>
        <FormError text={err.form} />
        <button class="btn primary wide" type="submit" disabled={busy || !code || !username || !password || conn.value !== 'online'}>
          {busy ? 'Creating…' : 'Create the administrator'}
        </button>
      </form>
    </AuthCard>
  );
}

function SignInScreen() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr({ fields: {} });
    try {
      await login(username.trim(), password);
      navigate('/library/songs', true);
    } catch (ex) {
      setErr(fieldErrors(ex, ['username', 'password']));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthCard title="Sign in">
      {signOutReason.value && <div class="notice subtle">{signOutReason.value}</div>}
      <form onSubmit={submit} class="form" novalidate>
        <Field label="Username" error={err.fields.username}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="username"
              autocomplete="username"
              autocapitalize="none"
              spellcheck={false}
              required
              value={username}
              onInput={(e) => setUsername(val(e))}
            />
          )}
        </Field>
        <Field label="Password" error={err.fields.password}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="password"
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(val(e))}
            />
          )}
        </Field>
        <FormError text={err.form} />
        <button class="btn primary wide" type="submit" disabled={busy || !username || !password || conn.value !== 'online'}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p class="auth-alt">
        Got a reset token? <a href="#/reset">Set a password</a>
      </p>
    </AuthCard>
  );
}

export function ResetScreen() {
  const [token, setToken] = useState(route.value.query.get('token') ?? '');
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });

  const submit = async (e: Event) => {
    e.preventDefault();
    if (pw !== pw2) {
      setErr({ fields: { confirm: 'The two passwords differ.' } });
      return;
    }
    setBusy(true);
    setErr({ fields: {} });
    try {
      const g = await api.call('auth:useResetToken', { resetToken: token.trim(), newPassword: pw });
      adoptGrant(g);
      navigate('/library/songs', true);
    } catch (ex) {
      const fe = fieldErrors(ex, ['resetToken', 'newPassword']);
      setErr(fe);
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthCard title="Set your password">
      <p class="muted">Use the one-time token your administrator gave you.</p>
      <form onSubmit={submit} class="form" novalidate>
        <Field label="Reset token" error={err.fields.resetToken}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              name="resetToken"
              autocomplete="off"
              spellcheck={false}
              class="mono"
              value={token}
              onInput={(e) => setToken(val(e))}
            />
          )}
        </Field>
        <Field label="New password" error={err.fields.newPassword} hint="At least 8 characters.">
          {(id, d) => (
            <input id={id} aria-describedby={d} name="newPassword" type="password" autocomplete="new-password" value={pw} onInput={(e) => setPw(val(e))} />
          )}
        </Field>
        <Field label="Repeat the new password" error={err.fields.confirm}>
          {(id, d) => (
            <input id={id} aria-describedby={d} name="confirm" type="password" autocomplete="new-password" value={pw2} onInput={(e) => setPw2(val(e))} />
          )}
        </Field>
        <FormError text={err.form} />
        <button class="btn primary wide" type="submit" disabled={busy || !token || !pw || conn.value !== 'online'}>
          {busy ? 'Saving…' : 'Set password and sign in'}
        </button>
      </form>
      <p class="auth-alt">
        <a href="#/login">Back to sign in</a>
      </p>
    </AuthCard>
  );
}
