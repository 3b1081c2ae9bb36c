// Client-side cache of song metadata, kept fresh by broadcasts (song:added/updated/deleted)
// and by the change feed (library:changes {since}). Pure: no DOM, no socket.
import type { LibraryChanges, Song } from '../api/types';

export type PushResult = 'applied' | 'stale' | 'gap';

export type CachePush =
  | { type: 'added' | 'updated'; song: Song; seq?: number }
  | { type: 'deleted'; songId: string; seq?: number };

type Listener = (changed: ReadonlySet<string>, removed: ReadonlySet<string>) => void;

export class SongCache {
  private readonly songs = new Map<string, Song>();
  /** The last change-feed sequence this cache reflects (0: none yet). */
  cursor = 0;
  /** Bumped on every change; handy as a render key. */
  version = 0;
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

  /** Adds or replaces songs; an older copy (by updatedAt) never replaces a newer one. */
  upsert(songs: readonly Song[]): Set<string> {
    const changed = new Set<string>();
    for (const s of songs) {
      if (!s || typeof s.id !== 'string') continue;
      const prev = this.songs.get(s.id);
      if (prev && prev.updatedAt != null && s.updatedAt != null && s.updatedAt < prev.updatedAt) continue;
      this.songs.set(s.id, s);
      changed.add(s.id);
    }
    if (changed.size) this.emit(changed, new Set());
    return changed;
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
    this.cursor = 0;
    this.emit(new Set(), removed);
  }

  /**
   * A broadcast. With a `seq`: one already covered by the cursor is `stale` (ignored); one that
   * skips numbers is applied but reported as a `gap`, so the caller asks the change feed.
   */
  applyPush(p: CachePush): PushResult {
    if (p.seq != null && this.cursor > 0 && p.seq <= this.cursor) return 'stale';
    if (p.type === 'deleted') this.remove([p.songId]);
    else this.upsert([p.song]);
    if (p.seq == null) return 'applied';
    const gap = this.cursor > 0 && p.seq > this.cursor + 1;
    if (!gap) this.cursor = p.seq;
    return gap ? 'gap' : 'applied';
  }

  /** Merges a change-feed answer. Returns true when the caller must reload from scratch. */
  applyChanges(c: LibraryChanges): boolean {
    if (c.reset) {
      this.clear();
      this.upsert(c.upserted ?? []);
      this.cursor = c.cursor;
      return true;
    }
    const deleted = new Set(c.deleted ?? []);
    this.upsert((c.upserted ?? []).filter((s) => !deleted.has(s.id)));
    if (deleted.size) this.remove([...deleted]);
    if (c.cursor > this.cursor) this.cursor = c.cursor;
    return false;
  }

  private emit(changed: ReadonlySet<string>, removed: ReadonlySet<string>): void {
    this.version++;
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

/** Does a song match a search text? Same rule the list uses locally while the server answers. */
export function matchesQuery(s: Song, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  return [s.title, s.artist, s.album, s.albumArtist, s.genre].some((f) => (f ?? '').toLowerCase().includes(needle));
}
