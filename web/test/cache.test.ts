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
  uploaderId: 'u',
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

  it('applies broadcasts and tracks the sequence', () => {
    const c = new SongCache();
    expect(c.applyPush({ type: 'added', song: song('1'), seq: 10 })).toBe('applied');
    expect(c.cursor).toBe(10);
    expect(c.applyPush({ type: 'updated', song: song('1', { title: 'x', updatedAt: 2 }), seq: 11 })).toBe('applied');
    expect(c.get('1')!.title).toBe('x');
    // already covered
    expect(c.applyPush({ type: 'deleted', songId: '1', seq: 11 })).toBe('stale');
    expect(c.has('1')).toBe(true);
    // a gap: applied, cursor kept so the feed fills the hole
    expect(c.applyPush({ type: 'deleted', songId: '1', seq: 14 })).toBe('gap');
    expect(c.has('1')).toBe(false);
    expect(c.cursor).toBe(11);
  });

  it('applies broadcasts without seq', () => {
    const c = new SongCache();
    expect(c.applyPush({ type: 'added', song: song('1') })).toBe('applied');
    expect(c.cursor).toBe(0);
  });

  it('merges the change feed', () => {
    const c = new SongCache();
    c.upsert([song('1'), song('2'), song('3')]);
    c.cursor = 5;
    const removedSeen: string[] = [];
    c.subscribe((_ch, rm) => removedSeen.push(...rm));
    const reset = c.applyChanges({ cursor: 9, upserted: [song('2', { title: 'edited', updatedAt: 2 }), song('4'), song('3', { updatedAt: 9 })], deleted: ['3'] });
    expect(reset).toBe(false);
    expect(c.get('2')!.title).toBe('edited');
    expect(c.has('4')).toBe(true);
    expect(c.has('3')).toBe(false); // deleted wins over an upsert in the same batch
    expect(removedSeen).toContain('3');
    expect(c.cursor).toBe(9);
  });

  it('resets when the feed says so', () => {
    const c = new SongCache();
    c.upsert([song('1')]);
    c.cursor = 3;
    expect(c.applyChanges({ cursor: 100, upserted: [song('9')], deleted: [], reset: true })).toBe(true);
    expect(c.has('1')).toBe(false);
    expect(c.has('9')).toBe(true);
    expect(c.cursor).toBe(100);
  });

  it('list helpers', () => {
    expect(pruneIds(['a', 'b', 'c'], new Set(['b']))).toEqual(['a', 'c']);
    expect(prependId(['a'], 'b')).toEqual(['b', 'a']);
    expect(prependId(['a'], 'a')).toEqual(['a']);
    expect(matchesQuery(song('1', { artist: 'Nina Simone' }), 'simone')).toBe(true);
    expect(matchesQuery(song('1'), 'zzz')).toBe(false);
    expect(matchesQuery(song('1'), '  ')).toBe(true);
  });
});
