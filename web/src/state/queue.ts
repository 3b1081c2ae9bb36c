// Play queue: pure operations (immutable state in, state out). Shuffle reorders what comes
// after the current item and remembers the original order so turning it off restores it.

export type RepeatMode = 'off' | 'all' | 'one';

export interface QueueItem {
  uid: string;
  songId: string;
}

export interface QueueState {
  items: QueueItem[];
  /** Index of the current item, -1 when nothing is selected. */
  index: number;
  shuffle: boolean;
  repeat: RepeatMode;
  /** The order before shuffle was turned on (kept in step with adds). */
  unshuffled: QueueItem[] | null;
}

export type Rng = () => number;

let uidCounter = 0;
export function newUid(): string {
  uidCounter += 1;
  return `q${Date.now().toString(36)}${uidCounter.toString(36)}`;
}

export function emptyQueue(): QueueState {
  return { items: [], index: -1, shuffle: false, repeat: 'off', unshuffled: null };
}

export function current(s: QueueState): QueueItem | null {
  return s.index >= 0 && s.index < s.items.length ? s.items[s.index] : null;
}

function mk(songIds: readonly string[], uid: () => string): QueueItem[] {
  return songIds.map((songId) => ({ uid: uid(), songId }));
}

function shuffled<T>(arr: readonly T[], rng: Rng): T[] {
  const a = [...arr];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Replaces the queue with a list, starting at `start`. */
export function playList(
  s: QueueState,
  songIds: readonly string[],
  start = 0,
  opts: { uid?: () => string; rng?: Rng } = {},
): QueueState {
  const items = mk(songIds, opts.uid ?? newUid);
  if (!items.length) return { ...s, items: [], index: -1, unshuffled: null };
  const index = Math.min(Math.max(0, start), items.length - 1);
  const base: QueueState = { ...s, items, index, unshuffled: null };
  return s.shuffle ? applyShuffle(base, opts.rng ?? Math.random) : base;
}

/** Inserts right after the current item. */
export function playNext(s: QueueState, songIds: readonly string[], uid: () => string = newUid): QueueState {
  const add = mk(songIds, uid);
  const at = s.index + 1;
  const items = [...s.items.slice(0, at), ...add, ...s.items.slice(at)];
  let unshuffled = s.unshuffled;
  if (unshuffled) {
    const cur = current(s);
    const pos = cur ? unshuffled.findIndex((i) => i.uid === cur.uid) + 1 : unshuffled.length;
    unshuffled = [...unshuffled.slice(0, pos), ...add, ...unshuffled.slice(pos)];
  }
  return { ...s, items, index: s.index < 0 && items.length ? 0 : s.index, unshuffled };
}

/** Appends to the end. */
export function enqueue(s: QueueState, songIds: readonly string[], uid: () => string = newUid): QueueState {
  const add = mk(songIds, uid);
  const items = [...s.items, ...add];
  return {
    ...s,
    items,
    index: s.index < 0 && items.length ? 0 : s.index,
    unshuffled: s.unshuffled ? [...s.unshuffled, ...add] : null,
  };
}

export function removeAt(s: QueueState, i: number): QueueState {
  if (i < 0 || i >= s.items.length) return s;
  const items = s.items.filter((_, k) => k !== i);
  let index = s.index;
  if (i < s.index) index -= 1;
  else if (i === s.index) index = Math.min(s.index, items.length - 1);
  const gone = s.items[i].uid;
  return { ...s, items, index, unshuffled: s.unshuffled?.filter((q) => q.uid !== gone) ?? null };
}

/** Drops every queue entry of songs that were deleted. */
export function removeSongs(s: QueueState, songIds: ReadonlySet<string>): QueueState {
  let out = s;
  for (let i = out.items.length - 1; i >= 0; i--) if (songIds.has(out.items[i].songId)) out = removeAt(out, i);
  return out;
}

/** Drag-and-drop: moves item `from` to position `to`; the current item stays current. */
export function move(s: QueueState, from: number, to: number): QueueState {
  const n = s.items.length;
  if (from < 0 || from >= n || to < 0 || to >= n || from === to) return s;
  const cur = current(s);
  const items = [...s.items];
  const [it] = items.splice(from, 1);
  items.splice(to, 0, it);
  return { ...s, items, index: cur ? items.findIndex((q) => q.uid === cur.uid) : s.index };
}

export function jump(s: QueueState, i: number): QueueState {
  if (i < 0 || i >= s.items.length) return s;
  return { ...s, index: i };
}

/**
 * Advances. `auto` is true when the track ended by itself (repeat-one replays it then; a press
 * of "next" always moves on). `ended` means playback should stop.
 */
export function next(s: QueueState, auto = false): { state: QueueState; ended: boolean } {
  if (!s.items.length) return { state: s, ended: true };
  if (auto && s.repeat === 'one') return { state: s, ended: false };
  if (s.index + 1 < s.items.length) return { state: { ...s, index: s.index + 1 }, ended: false };
  if (s.repeat === 'all' || (s.repeat === 'one' && !auto)) return { state: { ...s, index: 0 }, ended: false };
  return { state: s, ended: true };
}

/** Goes back; `positionSec` > 3 restarts the current track instead (restart: true). */
export function prev(s: QueueState, positionSec = 0): { state: QueueState; restart: boolean } {
  if (!s.items.length) return { state: s, restart: false };
  if (positionSec > 3 || (s.index === 0 && s.repeat !== 'all')) return { state: s, restart: true };
  const index = s.index - 1 >= 0 ? s.index - 1 : s.items.length - 1;
  return { state: { ...s, index }, restart: false };
}

function applyShuffle(s: QueueState, rng: Rng): QueueState {
  const head = s.items.slice(0, s.index + 1);
  const tail = shuffled(s.items.slice(s.index + 1), rng);
  return { ...s, shuffle: true, unshuffled: s.unshuffled ?? [...s.items], items: [...head, ...tail] };
}

export function setShuffle(s: QueueState, on: boolean, rng: Rng = Math.random): QueueState {
  if (on === s.shuffle) return s;
  if (on) return applyShuffle({ ...s, unshuffled: null }, rng);
  const present = new Map(s.items.map((q) => [q.uid, q]));
  const restored = (s.unshuffled ?? []).filter((q) => present.has(q.uid));
  const known = new Set(restored.map((q) => q.uid));
  for (const q of s.items) if (!known.has(q.uid)) restored.push(q);
  const cur = current(s);
  return {
    ...s,
    shuffle: false,
    unshuffled: null,
    items: restored,
    index: cur ? restored.findIndex((q) => q.uid === cur.uid) : s.index,
  };
}

export function cycleRepeat(r: RepeatMode): RepeatMode {
  return r === 'off' ? 'all' : r === 'all' ? 'one' : 'off';
}

/**
 * Adopts the server's copy of the queue (player:queue / player:queueUpdated): its songs and its
 * current index. Items that stay at their place keep their uid (no re-render), shuffle/repeat
 * stay as they were; a shuffled order can no longer be undone (the server has one order).
 */
export function adopt(
  s: QueueState,
  songIds: readonly string[],
  currentIndex: number | null,
  uid: () => string = newUid,
): QueueState {
  const items = songIds.map((songId, i) => (s.items[i]?.songId === songId ? s.items[i] : { uid: uid(), songId }));
  const index = currentIndex != null && currentIndex >= 0 && currentIndex < items.length ? currentIndex : items.length ? 0 : -1;
  return { ...s, items, index, unshuffled: null };
}

/** Do two queues hold the same songs in the same order with the same current index? */
export function sameAs(s: QueueState, songIds: readonly string[], currentIndex: number | null): boolean {
  return (
    s.items.length === songIds.length &&
    s.items.every((it, i) => it.songId === songIds[i]) &&
    (s.items.length === 0 || s.index === (currentIndex ?? 0))
  );
}
