// Hash routing (#/library/songs?x=1): the server needs no fallback routes.
import { signal } from '@preact/signals';

export interface Route {
  path: string;
  parts: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/';
  const [p, q = ''] = raw.split('?');
  const path = p.startsWith('/') ? p : `/${p}`;
  return { path, parts: path.split('/').filter(Boolean).map(safeDecode), query: new URLSearchParams(q) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const route = signal<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

export function navigate(path: string, replace = false): void {
  const h = `#${path}`;
  if (replace) history.replaceState(null, '', h);
  else if (location.hash !== h) history.pushState(null, '', h);
  route.value = parseHash(h);
}

export function href(path: string): string {
  return `#${path}`;
}

export function startRouter(): void {
  const sync = () => (route.value = parseHash(location.hash));
  addEventListener('hashchange', sync);
  addEventListener('popstate', sync);
  sync();
}
