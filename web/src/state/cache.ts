// Client-side cache of song metadata, kept fresh by broadcasts (song:added/updated/deleted)
// and by the change feed (library:changes {since}). Pure: no DOM, no socket.
import type { LibraryChanges, Song } from '../api/types';

export type PushResult = 'applied' | 'gap';

export type CachePush =
  | { type: 'added' | 'updated'; song: Song; version?: number }
  | { type: 'deleted'; songId: string; version?: number };

type Listener = (changed: ReadonlySet<string>, removed: ReadonlySet<string>) => void;

export class SongCache {
  private readonly songs = new Map<string, Song>();
  /** The library version (the server's change counter) this cache has caught up to; 0: none. */
  version = 0;
  /** Bumped on every local change; handy as a render key. */
  rev = 0;
  private listeners = new Set<Listener>();

  get size(): number {
    return this.songs.size;
  }

  get(id: string): Song | undefined {
    return this.songs.get(id);
  }

  has(id: string): boolean {
    return this.songs.has(id);
  }

  all(): Song[] {
    return [...this.songs.values()];
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Adds or replaces songs; an older copy (by updatedAt) never replaces a newer one. A copy
   * without the user's marks (a broadcast) keeps the marks already known.
   */
  upsert(songs: readonly Song[]): Set<string> {
    const changed = new Set<string>();
    for (const s of songs) {
      if (!s || typeof s.id !== 'string') continue;
      const prev = this.songs.get(s.id);
      if (prev && prev.updatedAt != null && s.updatedAt != null && s.updatedAt < prev.updatedAt) continue;
      const keepMarks = prev && !('rating' in s) && 'rating' in prev;
      this.songs.set(s.id, keepMarks ? { ...s, starred: prev.starred, rating: prev.rating } : s);
      changed.add(s.id);
    }
    if (changed.size) this.emit(changed, new Set());
    return changed;
  }

  /** The user's star and rating on a cached song changed (from this tab or another client). */
  mark(songId: string, marks: { starred: number | null; rating: number | null }): void {
    const prev = this.songs.get(songId);
    if (!prev) return;
    this.songs.set(songId, { ...prev, starred: marks.starred, rating: marks.rating });
    this.emit(new Set([songId]), new Set());
  }

  remove(ids: readonly string[]): Set<string> {
    const removed = new Set<string>();
    for (const id of ids) if (this.songs.delete(id)) removed.add(id);
    // Emit even for unknown ids: lists may hold ids whose songs were never loaded.
    this.emit(new Set(), new Set(ids));
    return removed;
  }

  clear(): void {
    const removed = new Set(this.songs.keys());
    this.songs.clear();
    this.version = 0;
    this.emit(new Set(), removed);
  }

  /** A list answer's `version`: the first one becomes the starting point of the change feed. */
  noteVersion(v: unknown): void {
    if (typeof v === 'number' && v > 0 && this.version === 0) this.version = v;
  }

  /**
   * A broadcast (song:added/updated/deleted with the library `version` after it). It is always
   * applied (ids are never reused, and an older copy of a song never replaces a newer one). When
   * its version skips past the next one this cache expects, some change went by unseen (a lost
   * connection, say): that is a `gap`, and the caller asks library:changes.
   */
  applyPush(p: CachePush): PushResult {
    if (p.type === 'deleted') this.remove([p.songId]);
    else this.upsert([p.song]);
    const v = p.version;
    if (typeof v !== 'number') return 'applied';
    if (this.version > 0 && v > this.version + 1) return 'gap';
    if (v > this.version) this.version = v;
    return 'applied';
  }

  /** Merges a change-feed answer. Returns true when the caller must reload from scratch. */
  applyChanges(c: LibraryChanges): boolean {
    if (c.reset) {
      this.clear();
      this.upsert(c.upserted ?? []);
      this.version = c.version;
      return true;
    }
    const deleted = new Set(c.deleted ?? []);
    this.upsert((c.upserted ?? []).filter((s) => !deleted.has(s.id)));
    if (deleted.size) this.remove([...deleted]);
    if (c.version > this.version) this.version = c.version;
    return false;
  }

  private emit(changed: ReadonlySet<string>, removed: ReadonlySet<string>): void {
    this.rev++;
    for (const l of this.listeners) l(changed, removed);
  }
}

/** Keeps an ordered list of ids in step with cache changes (drops removed ids). */
export function pruneIds(ids: readonly string[], removed: ReadonlySet<string>): string[] {
  if (!removed.size) return ids as string[];
  return ids.filter((id) => !removed.has(id));
}

/** Inserts a new id at the top of a "recently added" list unless already present. */
export function prependId(ids: readonly string[], id: string): string[] {
  return ids.includes(id) ? (ids as string[]) : [id, ...ids];
}

/** Lower case without accents ("Beyoncé" -> "beyonce"). */
export function fold(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

/**
 * Does a song match a search text? The server's rule (docs/protocol.md, song:list `search`):
 * title, artist or album contain every word, ignoring case and accents. Used to filter what is
 * cached at once while the server answers.
 */
export function matchesQuery(s: Song, q: string): boolean {
  const words = fold(q).split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = fold(`${s.title ?? ''}\n${s.artist ?? ''}\n${s.album ?? ''}`);
  return words.every((w) => hay.includes(w));
}
