import { describe, expect, it } from 'vitest';
import type { Song } from '../src/api/types';
import { SongCache, matchesQuery, prependId, pruneIds } from '../src/state/cache';

const song = (id: string, over: Partial<Song> = {}): Song => ({
  id,
  title: `T${id}`,
  artist: 'A',
  album: 'Al',
  albumArtist: 'A',
  track: 1,
  disc: 1,
  year: 2001,
  genre: 'Jazz',
  durationMs: 1000,
  bitrate: 320,
  coverUrl: null,
  albumId: 'al',
  artistId: 'ar',
  uploaderId: 'u',
  playCount: 0,
  createdAt: 1,
  updatedAt: 1,
  ...over,
});

describe('SongCache', () => {
  it('upserts and never lets an older copy win', () => {
    const c = new SongCache();
    c.upsert([song('1', { title: 'new', updatedAt: 5 })]);
    c.upsert([song('1', { title: 'old', updatedAt: 3 })]);
    expect(c.get('1')!.title).toBe('new');
    c.upsert([song('1', { title: 'newer', updatedAt: 6 })]);
    expect(c.get('1')!.title).toBe('newer');
  });

  it('takes its starting version from the first list answer only', () => {
    const c = new SongCache();
    c.noteVersion(7);
    expect(c.version).toBe(7);
    c.noteVersion(12);
    expect(c.version).toBe(7);
  });

  it('applies broadcasts and follows the library version', () => {
    const c = new SongCache();
    c.noteVersion(9);
    expect(c.applyPush({ type: 'added', song: song('1'), version: 10 })).toBe('applied');
    expect(c.version).toBe(10);
    expect(c.applyPush({ type: 'updated', song: song('1', { title: 'x', updatedAt: 2 }), version: 11 })).toBe('applied');
    expect(c.get('1')!.title).toBe('x');
    // one the cache already covers is still applied (ids are never reused)
    expect(c.applyPush({ type: 'updated', song: song('1', { title: 'y', updatedAt: 3 }), version: 11 })).toBe('applied');
    expect(c.get('1')!.title).toBe('y');
    expect(c.version).toBe(11);
    // a gap: applied, version kept so the change feed fills the hole
    expect(c.applyPush({ type: 'deleted', songId: '1', version: 14 })).toBe('gap');
    expect(c.has('1')).toBe(false);
    expect(c.version).toBe(11);
  });

  it('applies broadcasts before any list answer without a gap', () => {
    const c = new SongCache();
    expect(c.applyPush({ type: 'added', song: song('1'), version: 40 })).toBe('applied');
    expect(c.version).toBe(40);
    expect(c.applyPush({ type: 'added', song: song('2') })).toBe('applied');
    expect(c.version).toBe(40);
  });

  it('merges the change feed', () => {
    const c = new SongCache();
    c.upsert([song('1'), song('2'), song('3')]);
    c.version = 5;
    const removedSeen: string[] = [];
    c.subscribe((_ch, rm) => removedSeen.push(...rm));
    const reset = c.applyChanges({
      version: 9,
      upserted: [song('2', { title: 'edited', updatedAt: 2 }), song('4'), song('3', { updatedAt: 9 })],
      deleted: ['3'],
      reset: false,
    });
    expect(reset).toBe(false);
    expect(c.get('2')!.title).toBe('edited');
    expect(c.has('4')).toBe(true);
    expect(c.has('3')).toBe(false); // deleted wins over an upsert in the same batch
    expect(removedSeen).toContain('3');
    expect(c.version).toBe(9);
  });

  it('resets when the feed says so', () => {
    const c = new SongCache();
    c.upsert([song('1')]);
    c.version = 3;
    expect(c.applyChanges({ version: 100, upserted: [song('9')], deleted: [], reset: true })).toBe(true);
    expect(c.has('1')).toBe(false);
    expect(c.has('9')).toBe(true);
    expect(c.version).toBe(100);
  });

  it('list helpers', () => {
    expect(pruneIds(['a', 'b', 'c'], new Set(['b']))).toEqual(['a', 'c']);
    expect(prependId(['a'], 'b')).toEqual(['b', 'a']);
    expect(prependId(['a'], 'a')).toEqual(['a']);
  });

  it('matches a search like the server: every word, any of title/artist/album, no case or accents', () => {
    expect(matchesQuery(song('1', { artist: 'Nina Simone' }), 'simone')).toBe(true);
    expect(matchesQuery(song('1', { artist: 'Beyoncé' }), 'beyonce')).toBe(true);
    expect(matchesQuery(song('1', { artist: 'Beyonce' }), 'BEYONCÉ')).toBe(true);
    expect(matchesQuery(song('1', { title: 'Halo', artist: 'Beyoncé' }), 'halo beyonce')).toBe(true);
    expect(matchesQuery(song('1', { title: 'Halo', artist: 'Beyoncé' }), 'halo adele')).toBe(false);
    expect(matchesQuery(song('1', { genre: 'Jazz' }), 'jazz')).toBe(false); // genre is not searched
    expect(matchesQuery(song('1'), 'zzz')).toBe(false);
    expect(matchesQuery(song('1'), '  ')).toBe(true);
  });
});

describe('the user\'s marks in the cache', () => {
  it('a broadcast copy (without marks) keeps the star and rating already known', () => {
    const c = new SongCache();
    c.upsert([song('a', { starred: 100, rating: 4, updatedAt: 1 } as Partial<Song>)]);
    c.upsert([song('a', { title: 'Renamed', updatedAt: 2 })]);
    expect(c.get('a')?.title).toBe('Renamed');
    expect([c.get('a')?.starred, c.get('a')?.rating]).toEqual([100, 4]);
  });

  it('an answer with marks replaces them, and mark() changes them in place', () => {
    const c = new SongCache();
    c.upsert([song('a', { starred: 100, rating: 4, updatedAt: 1 } as Partial<Song>)]);
    c.upsert([song('a', { starred: null, rating: null, updatedAt: 1 } as Partial<Song>)]);
    expect([c.get('a')?.starred, c.get('a')?.rating]).toEqual([null, null]);
    let heard = 0;
    c.subscribe((changed) => (heard += changed.has('a') ? 1 : 0));
    c.mark('a', { starred: 200, rating: 2 });
    expect([c.get('a')?.starred, c.get('a')?.rating, heard]).toEqual([200, 2, 1]);
    c.mark('unknown', { starred: 1, rating: null });
    expect(c.has('unknown')).toBe(false);
  });
});
