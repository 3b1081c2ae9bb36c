// The one socket, the signed-in session, connection status, toasts and theme.
import { computed, signal } from '@preact/signals';
import { io, type Socket } from 'socket.io-client';
import { Api, type Pushes } from '../api/api';
import type { ApiError } from '../api/envelope';
import type { ServerInfo, TokenGrant, User } from '../api/types';
import { navigate } from '../router';

const TOKEN_KEY = 'chillfi.token';
const THEME_KEY = 'chillfi.theme';

export type ConnStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

export const conn = signal<ConnStatus>('connecting');
export const user = signal<User | null>(null);
/** true once the server greeted us (auth:session) at least once. */
export const sessionKnown = signal(false);
export const serverInfo = signal<ServerInfo | null>(null);
export const isAdmin = computed(() => !!user.value?.isAdmin);
export const signOutReason = signal<string | null>(null);

// ---- toasts ----
export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'success';
  text: string;
}
export const toasts = signal<Toast[]>([]);
let toastSeq = 0;
/** Shows a toast; the same text again replaces the one showing (moved last, its time renewed). */
export function toast(text: string, kind: Toast['kind'] = 'info', ms = 5000): void {
  toasts.value = pushToast(toasts.value, { id: ++toastSeq, kind, text });
  const id = toastSeq;
  setTimeout(() => dismissToast(id), ms);
}
/** The toast list after `t` arrives: identical ones (kind and text) do not stack; at most four. */
export function pushToast(list: readonly Toast[], t: Toast): Toast[] {
  return [...list.filter((x) => x.kind !== t.kind || x.text !== t.text).slice(-3), t];
}
export function dismissToast(id: number): void {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}
export function toastError(e: unknown): void {
  const msg = (e as ApiError)?.userMessage ?? (e instanceof Error ? e.message : String(e));
  toast(msg, 'error', 7000);
}

// ---- themes ----
export const THEMES = [
  { id: 'midnight', label: 'Midnight (dark)' },
  { id: 'daylight', label: 'Daylight (light)' },
  { id: 'dusk', label: 'Dusk (warm dark)' },
  { id: 'contrast', label: 'High contrast' },
] as const;
export type ThemeId = (typeof THEMES)[number]['id'];

function readTheme(): ThemeId {
  const t = safeGet(THEME_KEY);
  if (THEMES.some((x) => x.id === t)) return t as ThemeId;
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: light)').matches ? 'daylight' : 'midnight';
}
export const theme = signal<ThemeId>('midnight');
export function applyTheme(t: ThemeId): void {
  theme.value = t;
  document.documentElement.dataset.theme = t;
  safeSet(THEME_KEY, t);
  const meta = document.querySelector('meta[name="theme-color"]');
  const bg = getComputedStyle(document.documentElement).getPropertyValue('--bg').trim();
  if (meta && bg) meta.setAttribute('content', bg);
}
export function initTheme(): void {
  applyTheme(readTheme());
}

// ---- token ----
function safeGet(k: string): string | null {
  try {
    return localStorage.getItem(k);
  } catch {
    return null;
  }
}
function safeSet(k: string, v: string | null): void {
  try {
    if (v == null) localStorage.removeItem(k);
    else localStorage.setItem(k, v);
  } catch {
    /* private mode */
  }
}
export function getToken(): string | null {
  return safeGet(TOKEN_KEY);
}
function setToken(t: string | null): void {
  safeSet(TOKEN_KEY, t);
}

// ---- socket ----
export let socket: Socket;
export const api = new Api(() => socket);

type PushHandler<E extends keyof Pushes> = (p: Pushes[E]) => void;
const pushHandlers = new Map<string, Set<(p: unknown) => void>>();
/** Subscribes to a server push; survives socket re-creation. */
export function onPush<E extends keyof Pushes>(event: E, fn: PushHandler<E>): () => void {
  let set = pushHandlers.get(event);
  if (!set) {
    set = new Set();
    pushHandlers.set(event, set);
    socket?.on(event as string, (p: unknown) => {
      pushHandlers.get(event)?.forEach((h) => h(p));
    });
  }
  set.add(fn as (p: unknown) => void);
  return () => set!.delete(fn as (p: unknown) => void);
}

const reconnectHooks = new Set<() => void>();
/** Runs after every reconnection of a signed-in socket (resync the cache, resume uploads). */
export function onReconnect(fn: () => void): () => void {
  reconnectHooks.add(fn);
  return () => reconnectHooks.delete(fn);
}
const signInHooks = new Set<(u: User) => void>();
export function onSignIn(fn: (u: User) => void): () => void {
  signInHooks.add(fn);
  return () => signInHooks.delete(fn);
}
const signOutHooks = new Set<() => void>();
export function onSignOut(fn: () => void): () => void {
  signOutHooks.add(fn);
  return () => signOutHooks.delete(fn);
}

export function connect(): void {
  socket = io({
    path: '/socket.io/',
    auth: (cb) => {
      const token = getToken();
      cb(token ? { token } : {});
    },
    reconnection: true,
    reconnectionDelay: 800,
    reconnectionDelayMax: 15000,
    randomizationFactor: 0.5,
    timeout: 15000,
  });
  let everConnected = false;
  socket.on('connect', () => {
    conn.value = 'online';
  });
  socket.on('disconnect', (reason) => {
    conn.value = reason === 'io client disconnect' ? 'offline' : 'reconnecting';
  });
  socket.io.on('reconnect_attempt', () => {
    conn.value = 'reconnecting';
  });
  socket.io.on('reconnect_failed', () => {
    conn.value = 'offline';
  });
  socket.on('connect_error', () => {
    conn.value = socket.active ? 'reconnecting' : 'offline';
  });
  socket.on('auth:session', (s: Pushes['auth:session']) => {
    const wasKnown = sessionKnown.value;
    sessionKnown.value = true;
    if (s.user) {
      const first = !user.value || user.value.id !== s.user.id;
      user.value = s.user;
      if (first) signInHooks.forEach((h) => h(s.user!));
      else if (everConnected) reconnectHooks.forEach((h) => h());
    } else {
      if (s.reason === 'invalid_token' && getToken()) {
        setToken(null);
        if (wasKnown || user.value) signOutReason.value = 'Your session ended. Please sign in again.';
      }
      if (user.value) endSession();
    }
    everConnected = true;
    void refreshInfo();
  });
  socket.on('auth:tokenRefresh', (t: Pushes['auth:tokenRefresh']) => {
    if (t?.token) setToken(t.token);
  });
  socket.on('auth:revoked', () => {
    setToken(null);
    signOutReason.value = 'You were signed out (the session was ended elsewhere or the password changed).';
    endSession();
  });
  for (const [event, set] of pushHandlers)
    socket.on(event, (p: unknown) => {
      set.forEach((h) => h(p));
    });
  api.onError = (e) => {
    if (e.code === 'unauthenticated' && user.value) {
      setToken(null);
      signOutReason.value = 'Your session ended. Please sign in again.';
      endSession();
    }
  };
}

export async function refreshInfo(): Promise<void> {
  try {
    serverInfo.value = await api.call('server:info');
  } catch {
    /* shown by the connection indicator */
  }
}

function endSession(): void {
  user.value = null;
  signOutHooks.forEach((h) => h());
  const h = location.hash;
  if (!h.startsWith('#/reset') && !h.startsWith('#/login')) navigate('/login');
}

/** Adopts a token grant from login / reset / password change. */
export function adoptGrant(g: TokenGrant): void {
  setToken(g.token);
  signOutReason.value = null;
  const first = !user.value || user.value.id !== g.user.id;
  user.value = g.user;
  if (first) signInHooks.forEach((h) => h(g.user));
}

export async function login(username: string, password: string): Promise<void> {
  adoptGrant(await api.call('auth:login', { username, password }));
}

export async function logout(everywhere = false): Promise<void> {
  try {
    await api.call('auth:logout', { everywhere });
  } catch {
    /* the token is dropped anyway */
  }
  setToken(null);
  signOutReason.value = null;
  endSession();
}
