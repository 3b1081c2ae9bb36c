// The signed-in user's stars and ratings: set from any row, menu or the now-playing view, kept
// live across tabs and apps by song:marked (docs/protocol.md "Song marks").
import { signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { SongMarks } from '../api/types';
import { cache, reportError } from './library';
import { api, onPush, onReconnect, onSignIn, onSignOut } from './session';

/** The Favourites view: starred song ids, the most recently starred first. */
export const favourites = signal<{ ids: string[]; loaded: boolean; loading: boolean }>({ ids: [], loaded: false, loading: false });
/** null until known; false when the server has no marks. */
export const marksSupported = signal<boolean | null>(null);
/** album id → when the user starred it (null: not starred), as album:marked pushes say. */
export const albumStars = signal<Record<string, number | null>>({});

function applyMarks(m: SongMarks): void {
  cache.mark(m.songId, m);
  const f = favourites.value;
  if (!f.loaded) return;
  const has = f.ids.includes(m.songId);
  if (m.starred && !has) favourites.value = { ...f, ids: [m.songId, ...f.ids] };
  if (!m.starred && has) favourites.value = { ...f, ids: f.ids.filter((id) => id !== m.songId) };
}

export async function toggleStar(songId: string): Promise<void> {
  const on = !cache.get(songId)?.starred;
  try {
    applyMarks(await api.call(on ? 'song:star' : 'song:unstar', { songId }));
  } catch (e) {
    reportError(e);
  }
}

/** 1 to 5; 0 clears the rating. */
export async function rateSong(songId: string, rating: number): Promise<void> {
  try {
    applyMarks(await api.call('song:rate', { songId, rating }));
  } catch (e) {
    reportError(e);
  }
}

export async function toggleAlbumStar(albumId: string, starred: boolean): Promise<number | null> {
  const r = await api.call(starred ? 'album:unstar' : 'album:star', { albumId });
  albumStars.value = { ...albumStars.value, [albumId]: r.starred };
  return r.starred;
}

/** Loads every starred song (the list is the user's own, so it stays small). */
export async function loadFavourites(): Promise<void> {
  if (favourites.value.loading) return;
  favourites.value = { ...favourites.value, loading: true };
  try {
    const ids: string[] = [];
    for (let page = 1; ; page++) {
      const p = await api.call('song:starred', { page, limit: 500 });
      cache.upsert(p.items);
      ids.push(...p.items.map((s) => s.id));
      if (p.items.length < 500 || ids.length >= p.total) break;
    }
    marksSupported.value = true;
    // A star removed elsewhere while this tab was offline: the list is the truth.
    const starred = new Set(ids);
    for (const s of cache.all()) if (s.starred && !starred.has(s.id)) cache.mark(s.id, { starred: null, rating: s.rating ?? null });
    favourites.value = { ids, loaded: true, loading: false };
  } catch (e) {
    favourites.value = { ...favourites.value, loading: false };
    if (isUnknownEvent(e)) marksSupported.value = false;
    else reportError(e);
  }
}

export function initMarks(): void {
  onPush('song:marked', applyMarks);
  onPush('album:marked', (p) => {
    albumStars.value = { ...albumStars.value, [p.albumId]: p.starred };
  });
  onReconnect(() => {
    if (favourites.value.loaded) void loadFavourites();
  });
  onSignIn(() => {
    favourites.value = { ids: [], loaded: false, loading: false };
  });
  onSignOut(() => {
    favourites.value = { ids: [], loaded: false, loading: false };
    albumStars.value = {};
    marksSupported.value = null;
  });
}
