// The shell: navigation, connection indicator, routes, player bar, toasts, dialogs.
import { useEffect } from 'preact/hooks';
import { href, navigate, route } from '../router';
import { playlists } from '../state/playlists';
import { nextTrack, prevTrack, seekBy, setVolume, togglePlay, volume } from '../state/player';
import { conn, dismissToast, sessionKnown, toasts, user } from '../state/session';
import { uploader } from '../state/uploads';
import { isTerminal } from '../state/uploadPlan';
import { AdminView } from './admin';
import { LoginScreen, ResetScreen } from './auth';
import { DialogHost, Spinner } from './common';
import { Icon } from './icons';
import { AlbumView, ArtistView, LibraryView } from './library';
import { ContextMenu } from './menu';
import { NowPlaying } from './nowplaying';
import { PlayerBar, QueueView } from './player';
import { PlaylistView, PlaylistsView } from './playlists';
import { ProfileView } from './profile';
import { UploadView } from './upload';

function ConnIndicator() {
  const c = conn.value;
  const label = c === 'online' ? 'Connected' : c === 'connecting' ? 'Connecting…' : c === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  return (
    <div class={`conn conn-${c}`} role="status" aria-live="polite" data-testid="conn" data-state={c} title={label}>
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-label">{label}</span>
    </div>
  );
}

function Toasts() {
  return (
    <div class="toasts" aria-live="assertive">
      {toasts.value.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          <span class="grow">{t.text}</span>
          <button type="button" class="icon-btn" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            <Icon name="close" size={16} />
          </button>
        </div>
      ))}
    </div>
  );
}

const NAV = [
  { path: '/library/songs', match: ['library', 'album', 'artist'], label: 'Library', icon: 'library' },
  { path: '/playlists', match: ['playlists', 'playlist'], label: 'Playlists', icon: 'playlist' },
  { path: '/upload', match: ['upload'], label: 'Upload', icon: 'upload' },
  { path: '/queue', match: ['queue'], label: 'Queue', icon: 'queue' },
  { path: '/profile', match: ['profile'], label: 'Profile', icon: 'user' },
];

function Sidebar() {
  const top = route.value.parts[0] ?? 'library';
  const u = user.value!;
  const uploading = uploader.entries.value.filter((e) => !isTerminal(e.stage)).length;
  const items = u.isAdmin ? [...NAV, { path: '/admin/users', match: ['admin'], label: 'Admin', icon: 'admin' }] : NAV;
  return (
    <nav class="sidebar" aria-label="Main">
      <a class="brand" href="#/library/songs">
        <span class="brand-mark">
          <Icon name="note" size={18} />
        </span>
        <span>ChillFi</span>
      </a>
      <ul class="nav">
        {items.map((n) => {
          const active = n.match.includes(top);
          return (
            <li key={n.path}>
              <a href={href(n.path)} class={`nav-link ${active ? 'active' : ''}`} aria-current={active ? 'page' : undefined}>
                <Icon name={n.icon} />
                <span>{n.label}</span>
                {n.icon === 'upload' && uploading > 0 && <span class="count">{uploading}</span>}
              </a>
            </li>
          );
        })}
      </ul>
      {playlists.value.length > 0 && (
        <>
          <div class="nav-head">Playlists</div>
          <ul class="nav nav-playlists">
            {playlists.value.slice(0, 30).map((p) => (
              <li key={p.id}>
                <a
                  href={href(`/playlist/${encodeURIComponent(p.id)}`)}
                  class={`nav-link small ${route.value.parts[1] === p.id ? 'active' : ''}`}
                >
                  <span class="ellipsis">{p.name}</span>
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
      <div class="sidebar-foot">
        <ConnIndicator />
        <a class="me" href="#/profile">
          <span class="avatar sm" aria-hidden="true">
            {(u.displayName || u.username).slice(0, 1).toUpperCase()}
          </span>
          <span class="ellipsis" data-testid="me-name">
            {u.displayName || u.username}
          </span>
        </a>
      </div>
    </nav>
  );
}

function TabBar() {
  const top = route.value.parts[0] ?? 'library';
  // Six tabs fit a 360 px phone; the Queue stays reachable for administrators too.
  const items = user.value?.isAdmin ? [...NAV, { path: '/admin/users', match: ['admin'], label: 'Admin', icon: 'admin' }] : NAV;
  return (
    <nav class="tabbar" aria-label="Main (compact)">
      {items.map((n) => {
        const active = n.match.includes(top);
        return (
          <a key={n.path} href={href(n.path)} class={`tab-link ${active ? 'active' : ''}`} aria-current={active ? 'page' : undefined}>
            <Icon name={n.icon} />
            <span>{n.label}</span>
          </a>
        );
      })}
    </nav>
  );
}

function MobileHead() {
  return (
    <header class="mobile-head">
      <a class="brand" href="#/library/songs">
        <span class="brand-mark">
          <Icon name="note" size={16} />
        </span>
        <span>ChillFi</span>
      </a>
      <ConnIndicator />
    </header>
  );
}

function Content() {
  const top = route.value.parts[0];
  switch (top) {
    case 'album':
      return <AlbumView />;
    case 'artist':
      return <ArtistView />;
    case 'playlists':
      return <PlaylistsView />;
    case 'playlist':
      return <PlaylistView />;
    case 'upload':
      return <UploadView />;
    case 'queue':
      return <QueueView />;
    case 'profile':
      return <ProfileView />;
    case 'admin':
      return <AdminView />;
    default:
      return <LibraryView />;
  }
}

function isTyping(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') return !['checkbox', 'radio', 'button', 'submit', 'range'].includes((el as HTMLInputElement).type);
  return false;
}

function useShortcuts() {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || !user.value) return;
      if (document.querySelector('dialog[open]')) return;
      if (isTyping(e.target)) return;
      const onControl = (e.target as HTMLElement)?.closest?.('button, a, [role=menuitem], input[type=range]');
      switch (e.key) {
        case ' ':
          if (onControl) return; // a focused button handles Space itself
          e.preventDefault();
          togglePlay();
          break;
        case 'ArrowRight':
        case 'ArrowLeft':
          if ((e.target as HTMLElement)?.matches?.('input[type=range], .drag-handle')) return;
          e.preventDefault();
          if (e.shiftKey) (e.key === 'ArrowRight' ? nextTrack : prevTrack)();
          else seekBy(e.key === 'ArrowRight' ? 5 : -5);
          break;
        case 'ArrowUp':
        case 'ArrowDown':
          if ((e.target as HTMLElement)?.matches?.('input[type=range], .drag-handle, [role=menuitem]')) return;
          e.preventDefault();
          setVolume(volume.value + (e.key === 'ArrowUp' ? 0.05 : -0.05));
          break;
        case '/': {
          e.preventDefault();
          const s = document.getElementById('search');
          if (s) s.focus();
          else {
            navigate('/library/songs');
            requestAnimationFrame(() => document.getElementById('search')?.focus());
          }
          break;
        }
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
}

export function App() {
  useShortcuts();
  const top = route.value.parts[0];
  const u = user.value;
  // Read once per render: an effect that ran late (rAF is slow under load) and read the live
  // signal would pair "session known" with this render's stale "no user" and send a signed-in
  // reload to the login screen.
  const known = sessionKnown.value;

  useEffect(() => {
    if (!known) return;
    if (u && (top === 'login' || top === 'reset' || !top)) navigate('/library/songs', true);
    if (!u && top !== 'reset' && top !== 'login') navigate('/login', true);
  }, [u?.id, top, known]);

  if (top === 'reset' && !u)
    return (
      <>
        <ResetScreen />
        <Toasts />
      </>
    );
  if (!known && !u)
    return (
      <main class="auth-wrap" id="main">
        <Spinner label="Connecting" />
        <p class="muted">{conn.value === 'reconnecting' ? 'Waiting for the server…' : 'Connecting…'}</p>
      </main>
    );
  if (!u)
    return (
      <>
        <LoginScreen />
        <Toasts />
      </>
    );
  return (
    <div class="shell">
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>
        Skip to content
      </a>
      <Sidebar />
      <MobileHead />
      <main class="content" id="main" tabIndex={-1}>
        <Content />
      </main>
      <PlayerBar />
      <TabBar />
      <NowPlaying />
      <ContextMenu />
      <DialogHost />
      <Toasts />
    </div>
  );
}
