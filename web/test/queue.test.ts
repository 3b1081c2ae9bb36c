import { describe, expect, it } from 'vitest';
import * as Q from '../src/state/queue';

let n = 0;
const uid = () => `u${++n}`;
const ids = (s: Q.QueueState) => s.items.map((i) => i.songId);
const seeded = (seed: number) => () => {
  seed = (seed * 16807) % 2147483647;
  return (seed - 1) / 2147483646;
};

describe('queue', () => {
  it('plays a list from an index', () => {
    const s = Q.playList(Q.emptyQueue(), ['a', 'b', 'c'], 1, { uid });
    expect(ids(s)).toEqual(['a', 'b', 'c']);
    expect(Q.current(s)!.songId).toBe('b');
  });

  it('play next inserts after the current, add to queue appends', () => {
    let s = Q.playList(Q.emptyQueue(), ['a', 'b', 'c'], 0, { uid });
    s = Q.playNext(s, ['x'], uid);
    s = Q.enqueue(s, ['y'], uid);
    expect(ids(s)).toEqual(['a', 'x', 'b', 'c', 'y']);
    expect(s.index).toBe(0);
    // into an empty queue: becomes current
    const e = Q.enqueue(Q.emptyQueue(), ['z'], uid);
    expect(e.index).toBe(0);
  });

  it('moves items keeping the current item current', () => {
    let s = Q.playList(Q.emptyQueue(), ['a', 'b', 'c', 'd'], 1, { uid });
    s = Q.move(s, 1, 3);
    expect(ids(s)).toEqual(['a', 'c', 'd', 'b']);
    expect(Q.current(s)!.songId).toBe('b');
    s = Q.move(s, 0, 2);
    expect(ids(s)).toEqual(['c', 'd', 'a', 'b']);
    expect(Q.current(s)!.songId).toBe('b');
    expect(Q.move(s, 0, 9)).toBe(s);
  });

  it('removes items', () => {
    let s = Q.playList(Q.emptyQueue(), ['a', 'b', 'c'], 1, { uid });
    s = Q.removeAt(s, 0);
    expect(Q.current(s)!.songId).toBe('b');
    s = Q.removeAt(s, 0); // the current one: next takes its place
    expect(Q.current(s)!.songId).toBe('c');
    s = Q.removeSongs(Q.playList(Q.emptyQueue(), ['a', 'b', 'a'], 2, { uid }), new Set(['a']));
    expect(ids(s)).toEqual(['b']);
    expect(s.index).toBe(0);
  });

  it('next and prev honour repeat', () => {
    let s = Q.playList(Q.emptyQueue(), ['a', 'b'], 0, { uid });
    let r = Q.next(s);
    expect(Q.current(r.state)!.songId).toBe('b');
    s = r.state;
    r = Q.next(s);
    expect(r.ended).toBe(true);
    s = { ...s, repeat: 'all' };
    r = Q.next(s);
    expect([r.ended, r.state.index]).toEqual([false, 0]);
    s = { ...s, repeat: 'one' };
    expect(Q.next(s, true).state.index).toBe(1); // repeat one on track end: same track
    expect(Q.next(s, false).state.index).toBe(0); // a press of next moves on
    expect(Q.prev(s, 10).restart).toBe(true);
    expect(Q.prev(s, 1).state.index).toBe(0);
    expect(Q.prev({ ...s, index: 0, repeat: 'off' }, 0).restart).toBe(true);
    expect(Q.prev({ ...s, index: 0, repeat: 'all' }, 0).state.index).toBe(1);
    expect(Q.cycleRepeat('off')).toBe('all');
    expect(Q.cycleRepeat('all')).toBe('one');
    expect(Q.cycleRepeat('one')).toBe('off');
  });

  it('shuffle keeps played items and the current one, and restores the order', () => {
    const list = 'abcdefghij'.split('');
    let s = Q.playList(Q.emptyQueue(), list, 3, { uid });
    s = Q.setShuffle(s, true, seeded(42));
    expect(s.shuffle).toBe(true);
    expect(ids(s).slice(0, 4)).toEqual(['a', 'b', 'c', 'd']);
    expect([...ids(s)].sort()).toEqual(list);
    expect(ids(s).slice(4)).not.toEqual(list.slice(4));
    // changes while shuffled survive turning it off
    s = Q.enqueue(s, ['z'], uid);
    s = Q.removeAt(s, s.items.findIndex((i) => i.songId === 'e'));
    s = Q.next(s).state;
    const cur = Q.current(s)!.songId;
    s = Q.setShuffle(s, false);
    expect(ids(s)).toEqual(['a', 'b', 'c', 'd', 'f', 'g', 'h', 'i', 'j', 'z']);
    expect(Q.current(s)!.songId).toBe(cur);
  });

  it('a new list under shuffle starts with the chosen song', () => {
    const s = Q.playList({ ...Q.emptyQueue(), shuffle: true }, ['a', 'b', 'c', 'd'], 2, { uid, rng: seeded(7) });
    expect(Q.current(s)!.songId).toBe('c');
    expect(s.unshuffled!.map((i) => i.songId)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('queue adopted from the server', () => {
  it('keeps uids of items that stay in place and takes the current index', () => {
    const s = Q.playList(Q.emptyQueue(), ['a', 'b', 'c'], 0, { uid });
    const t = Q.adopt(s, ['a', 'x', 'c', 'd'], 2, uid);
    expect(ids(t)).toEqual(['a', 'x', 'c', 'd']);
    expect(t.items[0].uid).toBe(s.items[0].uid);
    expect(t.items[2].uid).toBe(s.items[2].uid);
    expect(t.items[1].uid).not.toBe(s.items[1].uid);
    expect(Q.current(t)!.songId).toBe('c');
  });

  it('an empty or out-of-range current falls back sensibly', () => {
    expect(Q.adopt(Q.emptyQueue(), [], null).index).toBe(-1);
    expect(Q.adopt(Q.emptyQueue(), ['a', 'b'], null).index).toBe(0);
    expect(Q.adopt(Q.emptyQueue(), ['a', 'b'], 9).index).toBe(0);
  });

  it('drops the unshuffled order (the server keeps one order)', () => {
    const s = Q.setShuffle(Q.playList(Q.emptyQueue(), ['a', 'b', 'c', 'd'], 0, { uid }), true, seeded(3));
    expect(s.unshuffled).not.toBeNull();
    expect(Q.adopt(s, ids(s), 0).unshuffled).toBeNull();
  });

  it('sameAs compares songs, order and current', () => {
    const s = Q.playList(Q.emptyQueue(), ['a', 'b'], 1, { uid });
    expect(Q.sameAs(s, ['a', 'b'], 1)).toBe(true);
    expect(Q.sameAs(s, ['a', 'b'], 0)).toBe(false);
    expect(Q.sameAs(s, ['b', 'a'], 1)).toBe(false);
    expect(Q.sameAs(Q.emptyQueue(), [], null)).toBe(true);
  });
});
