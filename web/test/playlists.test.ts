import { describe, expect, it } from 'vitest';
import type { Playlist } from '../src/api/types';
import { mergeListAnswer } from '../src/state/playlists';

const pl = (id: string, updatedAt: number, name = id): Playlist => ({
  id,
  name,
  description: '',
  ownerId: 'u',
  ownerName: 'u',
  isPublic: false,
  songIds: [],
  songCount: 0,
  durationMs: 0,
  sharedWith: [],
  createdAt: 1,
  updatedAt,
});

describe('a playlist:list answer that raced local changes', () => {
  it('keeps a playlist created here after the request left (the answer does not know it yet)', () => {
    const merged = mergeListAnswer([pl('a', 1)], [pl('a', 1), pl('road-trip', 5)], (id) => id === 'road-trip');
    expect(merged.map((p) => p.id)).toEqual(['a', 'road-trip']);
  });

  it('keeps the newer local copy of a playlist edited meanwhile, and takes the answer for the rest', () => {
    const merged = mergeListAnswer(
      [pl('a', 1, 'old name'), pl('b', 9, 'renamed elsewhere')],
      [pl('a', 4, 'new name'), pl('b', 2, 'b')],
      (id) => id === 'a',
    );
    expect(merged.map((p) => p.name)).toEqual(['new name', 'renamed elsewhere']);
  });

  it('does not bring back a playlist deleted here meanwhile', () => {
    const merged = mergeListAnswer([pl('a', 1), pl('gone', 1)], [pl('a', 1)], (id) => id === 'gone');
    expect(merged.map((p) => p.id)).toEqual(['a']);
  });

  it('with nothing changed meanwhile the answer is the list', () => {
    const merged = mergeListAnswer([pl('x', 1)], [pl('a', 1)], () => false);
    expect(merged.map((p) => p.id)).toEqual(['x']);
  });
});
