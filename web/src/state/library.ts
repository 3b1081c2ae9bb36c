// Library state: the song cache, the visible list (search as you type, cursor paging), albums
// and artists, kept live by broadcasts and the change feed.
import { signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { Album, Artist, Song, SongPatch, SongSort } from '../api/types';
import { SongCache, matchesQuery, prependId, pruneIds } from './cache';
import { api, onPush, onReconnect, onSignIn, onSignOut, toastError } from './session';

export const cache = new SongCache();
/** Bumped whenever the cache changes, so components re-render. */
export const cacheVersion = signal(0);
cache.subscribe(() => (cacheVersion.value = cache.version));

/** null until known; false when the server does not offer the library events yet. */
export const librarySupported = signal<boolean | null>(null);

export interface ListState<T> {
  ids: T[];
  cursor: string | null;
  loading: boolean;
  done: boolean;
  error: string | null;
}

const emptyList = <T>(): ListState<T> => ({ ids: [], cursor: null, loading: false, done: false, error: null });

export const songQuery = signal('');
export const songSort = signal<SongSort>('recent');
export const songs = signal<ListState<string>>(emptyList());
export const albums = signal<ListState<Album>>(emptyList());
export const artists = signal<ListState<Artist>>(emptyList());
let albumsStale = true;
let artistsStale = true;

const PAGE = 60;
let songReq = 0;

export async function loadSongs(reset = false): Promise<void> {
  const cur = songs.value;
  if (!reset && (cur.loading || cur.done)) return;
  const req = ++songReq;
  songs.value = reset ? { ...emptyList(), loading: true } : { ...cur, loading: true };
  try {
    const page = await api.call('song:list', {
      query: songQuery.value.trim() || undefined,
      sort: songSort.value,
      cursor: reset ? null : cur.cursor,
      limit: PAGE,
    });
    if (req !== songReq) return;
    librarySupported.value = true;
    cache.upsert(page.items);
    // song:list says which change-feed position its answer reflects.
    if (typeof page.cursor === 'number' && page.cursor > cache.cursor) cache.cursor = page.cursor;
    const base = reset ? [] : songs.value.ids;
    const seen = new Set(base);
    songs.value = {
      ids: [...base, ...page.items.map((s) => s.id).filter((id) => !seen.has(id))],
      cursor: page.nextCursor,
      loading: false,
      done: !page.nextCursor,
      error: null,
    };
  } catch (e) {
    if (req !== songReq) return;
    if (isUnknownEvent(e)) librarySupported.value = false;
    songs.value = { ...songs.value, loading: false, done: true, error: (e as Error).message };
  }
}

let searchTimer: ReturnType<typeof setTimeout> | undefined;
/** Search as you type: filters what is cached at once, asks the server after a short pause. */
export function setSongQuery(q: string): void {
  songQuery.value = q;
  const local = cache
    .all()
    .filter((s) => matchesQuery(s, q))
    .map((s) => s.id);
  songs.value = { ...songs.value, ids: q ? local : songs.value.ids };
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void loadSongs(true), 180);
}

export function setSongSort(s: SongSort): void {
  songSort.value = s;
  void loadSongs(true);
}

async function loadPaged<T>(
  sig: { value: ListState<T> },
  event: 'album:list' | 'artist:list',
  reset: boolean,
  query: string,
): Promise<void> {
  const cur = sig.value;
  if (!reset && (cur.loading || cur.done)) return;
  sig.value = reset ? { ...emptyList<T>(), loading: true } : { ...cur, loading: true };
  try {
    const page = await api.call(event, { query: query || undefined, cursor: reset ? null : cur.cursor, limit: PAGE });
    const base = reset ? [] : sig.value.ids;
    sig.value = {
      ids: [...base, ...(page.items as T[])],
      cursor: page.nextCursor,
      loading: false,
      done: !page.nextCursor,
      error: null,
    };
  } catch (e) {
    if (isUnknownEvent(e)) librarySupported.value = false;
    sig.value = { ...sig.value, loading: false, done: true, error: (e as Error).message };
  }
}

export const albumQuery = signal('');
export const artistQuery = signal('');
export function loadAlbums(reset = false): Promise<void> {
  if (albumsStale) reset = true;
  albumsStale = false;
  return loadPaged<Album>(albums as { value: ListState<Album> }, 'album:list', reset, albumQuery.value.trim());
}
export function loadArtists(reset = false): Promise<void> {
  if (artistsStale) reset = true;
  artistsStale = false;
  return loadPaged<Artist>(artists as { value: ListState<Artist> }, 'artist:list', reset, artistQuery.value.trim());
}

/** Fetches songs the cache lacks (queue restore, playlist views). */
export async function ensureSongs(ids: readonly string[]): Promise<void> {
  const missing = ids.filter((id) => !cache.has(id)).slice(0, 200);
  await Promise.all(
    missing.map((songId) =>
      api
        .call('song:get', { songId })
        .then((r) => cache.upsert([r.song]))
        .catch(() => {}),
    ),
  );
}

export async function syncChanges(): Promise<void> {
  if (cache.cursor <= 0) {
    // Nothing to catch up from: just refresh the visible list.
    if (librarySupported.value) void loadSongs(true);
    return;
  }
  try {
    const c = await api.call('library:changes', { since: cache.cursor });
    const reset = cache.applyChanges(c);
    if (reset) void loadSongs(true);
    if (c.upserted.length || c.deleted.length) albumsStale = artistsStale = true;
  } catch (e) {
    if (!isUnknownEvent(e)) void loadSongs(true);
  }
}

export async function updateSong(songId: string, patch: SongPatch): Promise<Song> {
  const { song } = await api.call('song:update', { songId, patch });
  cache.upsert([song]);
  return song;
}

export async function deleteSong(songId: string): Promise<void> {
  await api.call('song:delete', { songId });
  cache.remove([songId]);
}

function onGap(r: string): void {
  if (r === 'gap') void syncChanges();
}

export function initLibrary(): void {
  cache.subscribe((_changed, removed) => {
    if (removed.size) songs.value = { ...songs.value, ids: pruneIds(songs.value.ids, removed) };
  });
  onPush('song:added', (p) => {
    onGap(cache.applyPush({ type: 'added', song: p.song, seq: p.seq }));
    albumsStale = artistsStale = true;
    if (!songQuery.value || matchesQuery(p.song, songQuery.value)) {
      if (songSort.value === 'recent') songs.value = { ...songs.value, ids: prependId(songs.value.ids, p.song.id) };
    }
  });
  onPush('song:updated', (p) => {
    onGap(cache.applyPush({ type: 'updated', song: p.song, seq: p.seq }));
    albumsStale = artistsStale = true;
  });
  onPush('song:deleted', (p) => {
    onGap(cache.applyPush({ type: 'deleted', songId: p.songId, seq: p.seq }));
    albumsStale = artistsStale = true;
  });
  onReconnect(() => void syncChanges());
  onSignIn(() => {
    void loadSongs(true);
  });
  onSignOut(() => {
    cache.clear();
    songs.value = emptyList();
    albums.value = emptyList();
    artists.value = emptyList();
    albumsStale = artistsStale = true;
    librarySupported.value = null;
  });
}

export function reportError(e: unknown): void {
  if (!isUnknownEvent(e)) toastError(e);
  else toastError(new Error('This server does not support that yet.'));
}
