// Library state: the song cache, the visible list (search as you type, page by page), albums
// and artists, kept live by broadcasts and the change feed (docs/protocol.md "The library").
import { signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { Album, Artist, Page, Song, SongMetadata, SongSort } from '../api/types';
import { SongCache, matchesQuery, prependId, pruneIds } from './cache';
import { api, onPush, onReconnect, onSignIn, onSignOut, toastError } from './session';

export const cache = new SongCache();
/** Bumped whenever the cache changes, so components re-render. */
export const cacheVersion = signal(0);
cache.subscribe(() => (cacheVersion.value = cache.rev));

/** null until known; false when the server does not offer the library events yet. */
export const librarySupported = signal<boolean | null>(null);

export interface ListState<T> {
  ids: T[];
  /** The next page to ask for (pages count from 1). */
  page: number;
  total: number | null;
  loading: boolean;
  done: boolean;
  error: string | null;
}

const emptyList = <T>(): ListState<T> => ({ ids: [], page: 1, total: null, loading: false, done: false, error: null });

export const songQuery = signal('');
export const songSort = signal<SongSort>('createdAt');
/** null: the server's default for the sort (newest / most played first, else A to Z). */
export const songOrder = signal<'asc' | 'desc' | null>(null);
export const songs = signal<ListState<string>>(emptyList());
export const albums = signal<ListState<Album>>(emptyList());
export const artists = signal<ListState<Artist>>(emptyList());
let albumsStale = true;
let artistsStale = true;

const PAGE = 60;
let songReq = 0;

function isDone<T>(p: Page<T>, have: number): boolean {
  return p.items.length === 0 || have >= p.total || p.items.length < (p.limit || PAGE);
}

export async function loadSongs(reset = false): Promise<void> {
  const cur = songs.value;
  if (!reset && (cur.loading || cur.done)) return;
  const req = ++songReq;
  const page = reset ? 1 : cur.page;
  songs.value = reset ? { ...emptyList(), ids: songQuery.value ? cur.ids : [], loading: true } : { ...cur, loading: true };
  try {
    const search = songQuery.value.trim();
    const p = await api.call('song:list', {
      filters: search ? { search } : undefined,
      sort: songSort.value,
      order: songOrder.value ?? undefined,
      page,
      limit: PAGE,
    });
    if (req !== songReq) return;
    librarySupported.value = true;
    cache.upsert(p.items);
    cache.noteVersion(p.version);
    const base = reset ? [] : songs.value.ids;
    const seen = new Set(base);
    const ids = [...base, ...p.items.map((s) => s.id).filter((id) => !seen.has(id))];
    songs.value = { ids, page: page + 1, total: p.total, loading: false, done: isDone(p, ids.length), error: null };
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
  if (q.trim()) {
    const local = cache
      .all()
      .filter((s) => matchesQuery(s, q))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((s) => s.id);
    songs.value = { ...songs.value, ids: local };
  }
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => void loadSongs(true), 180);
}

export function setSongSort(s: SongSort, order: 'asc' | 'desc' | null = null): void {
  songSort.value = s;
  songOrder.value = order;
  void loadSongs(true);
}

async function loadPaged<T>(
  sig: { value: ListState<T> },
  event: 'album:list' | 'artist:list',
  reset: boolean,
  search: string,
): Promise<void> {
  const cur = sig.value;
  if (!reset && (cur.loading || cur.done)) return;
  const page = reset ? 1 : cur.page;
  sig.value = reset ? { ...emptyList<T>(), loading: true } : { ...cur, loading: true };
  try {
    const p = (await api.call(event, { search: search || undefined, page, limit: PAGE })) as Page<T>;
    const base = reset ? [] : sig.value.ids;
    const ids = [...base, ...p.items];
    sig.value = { ids, page: page + 1, total: p.total, loading: false, done: isDone(p, ids.length), error: null };
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
  const missing = [...new Set(ids.filter((id) => !cache.has(id)))].slice(0, 500);
  if (!missing.length) return;
  try {
    const r = await api.call('song:getMany', { ids: missing });
    cache.upsert(r.items);
  } catch (e) {
    if (!isUnknownEvent(e)) return;
    // An older server: one by one.
    await Promise.all(
      missing.slice(0, 100).map((songId) =>
        api
          .call('song:get', { songId })
          .then((r) => cache.upsert([r.song]))
          .catch(() => {}),
      ),
    );
  }
}

let syncing: Promise<void> | null = null;
let syncAgain = false;
/** Catches up with library:changes (after a reconnect or a gap in the broadcasts). */
export function syncChanges(): Promise<void> {
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    do {
      syncAgain = false;
      await syncOnce();
    } while (syncAgain);
  })().finally(() => (syncing = null));
  return syncing;
}

async function syncOnce(): Promise<void> {
  if (cache.version <= 0) {
    // Nothing to catch up from: just refresh the visible list.
    if (librarySupported.value) await loadSongs(true);
    return;
  }
  try {
    const c = await api.call('library:changes', { since: cache.version });
    const reset = cache.applyChanges(c);
    if (reset) await loadSongs(true);
    else if (c.upserted.length && !songQuery.value && songSort.value === 'createdAt') {
      // New songs go on top of "recently added".
      const known = new Set(songs.value.ids);
      const fresh = c.upserted.filter((s) => !known.has(s.id)).sort((a, b) => a.createdAt - b.createdAt);
      let ids = songs.value.ids;
      for (const s of fresh) ids = prependId(ids, s.id);
      songs.value = { ...songs.value, ids };
    }
    if (c.upserted.length || c.deleted.length || reset) albumsStale = artistsStale = true;
  } catch (e) {
    if (!isUnknownEvent(e)) await loadSongs(true);
  }
}

export async function updateSong(songId: string, metadata: SongMetadata): Promise<Song> {
  const { song } = await api.call('song:update', { songId, metadata });
  cache.upsert([song]);
  albumsStale = artistsStale = true;
  return song;
}

/** The same details on several songs, all or nothing (song:updateMany). */
export async function updateSongs(songIds: readonly string[], metadata: SongMetadata): Promise<Song[]> {
  const { items } = await api.call('song:updateMany', { songIds: [...songIds], metadata });
  cache.upsert(items);
  albumsStale = artistsStale = true;
  return items;
}

export async function deleteSong(songId: string): Promise<void> {
  await api.call('song:delete', { songId });
  cache.remove([songId]);
  albumsStale = artistsStale = true;
}

function onGap(r: string): void {
  if (r === 'gap') void syncChanges();
}

export function initLibrary(): void {
  cache.subscribe((_changed, removed) => {
    if (removed.size) songs.value = { ...songs.value, ids: pruneIds(songs.value.ids, removed) };
  });
  onPush('song:added', (p) => {
    onGap(cache.applyPush({ type: 'added', song: p.song, version: p.version }));
    albumsStale = artistsStale = true;
    if (!songQuery.value || matchesQuery(p.song, songQuery.value)) {
      if (songSort.value === 'createdAt') {
        const had = songs.value.ids.includes(p.song.id);
        songs.value = {
          ...songs.value,
          ids: prependId(songs.value.ids, p.song.id),
          total: songs.value.total != null && !had ? songs.value.total + 1 : songs.value.total,
        };
      }
    }
  });
  onPush('song:updated', (p) => {
    onGap(cache.applyPush({ type: 'updated', song: p.song, version: p.version }));
    albumsStale = artistsStale = true;
  });
  onPush('song:deleted', (p) => {
    onGap(cache.applyPush({ type: 'deleted', songId: p.songId, version: p.version }));
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
