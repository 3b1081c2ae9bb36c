// Playback: one <audio> element (HTTP Range seeking on the URL from song:play), the queue,
// volume/shuffle/repeat, and the Media Session API. The queue lives on the server too (player:*,
// docs/protocol.md "Playback"), shared by all sessions of the user: every local change is sent
// there, and player:queueUpdated from another session is adopted. Plays are counted with
// song:recordListen once a song has played a while.
import { computed, effect, signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { Requests } from '../api/api';
import type { ServerQueue, Song } from '../api/types';
import { cache, cacheVersion, ensureSongs, reportError } from './library';
import * as Q from './queue';
import { api, onPush, onReconnect, onSignIn, onSignOut, user } from './session';

const QUEUE_KEY = 'chillfi.queue';
const VOL_KEY = 'chillfi.volume';

export const queue = signal<Q.QueueState>(Q.emptyQueue());
export const playing = signal(false);
export const buffering = signal(false);
export const position = signal(0);
export const duration = signal(0);
export const volume = signal(0.8);
export const muted = signal(false);

export const currentSong = computed<Song | null>(() => {
  void cacheVersion.value;
  const it = Q.current(queue.value);
  return it ? cache.get(it.songId) ?? null : null;
});

let audio: HTMLAudioElement;
/** Whose queue was restored from localStorage (null: nobody's, or an old save without an owner). */
let restoredFor: string | null = null;
let loadedUid: string | null = null;
let urlExpiresAt = 0;
let loadSeq = 0;

function persist(): void {
  try {
    const s = queue.value;
    localStorage.setItem(
      QUEUE_KEY,
      JSON.stringify({ user: user.value?.id ?? null, ids: s.items.map((i) => i.songId), index: s.index, shuffle: s.shuffle, repeat: s.repeat }),
    );
  } catch {
    /* ignore */
  }
}

function setQueue(s: Q.QueueState): void {
  queue.value = s;
  persist();
}

// ---- the server's copy of the queue ----

/** null: not asked yet; false: the server has no player:* events (the queue stays local). */
let serverQueue: boolean | null = null;
let chain: Promise<void> = Promise.resolve();
let pending = 0;
/** Counts queue changes made here, so a stale player:queue answer does not undo them. */
let localEdits = 0;
type PlayerEvent = 'player:addToQueue' | 'player:removeFromQueue' | 'player:moveInQueue' | 'player:clearQueue' | 'player:status';

const snapshot = () => ({ songIds: queue.value.items.map((i) => i.songId), index: queue.value.index });

/**
 * Sends one queue change; requests go out one at a time, in order. When the answer of the last
 * one in flight differs from what this session holds, the server copy is replaced by ours.
 */
function send<E extends PlayerEvent>(event: E, payload: Requests[E][0]): void {
  if (serverQueue === false || !user.value) return;
  if (event !== 'player:status' || 'current' in (payload as object)) localEdits++;
  pending++;
  chain = chain
    .then(() => api.call(event, payload as never) as Promise<ServerQueue>)
    .then((q) => {
      if (pending === 1 && q && Array.isArray(q.songIds)) {
        const want = snapshot();
        if (!Q.sameAs(queue.value, q.songIds, q.current)) {
          const sameSongs = q.songIds.length === want.songIds.length && q.songIds.every((id, i) => id === want.songIds[i]);
          if (sameSongs) send('player:status', { current: want.index >= 0 ? want.index : null });
          else replaceOnServer();
        }
      }
    })
    .catch((e) => {
      if (isUnknownEvent(e)) serverQueue = false;
    })
    .finally(() => pending--);
}

/** Makes the server's queue this session's queue (after a replace, a shuffle…). */
function replaceOnServer(): void {
  const { songIds, index } = snapshot();
  send('player:clearQueue', undefined);
  if (songIds.length) send('player:addToQueue', { songIds });
  send('player:status', { current: index >= 0 ? index : null, positionMs: Math.round(position.value * 1000), playing: playing.value });
}

/** Where the server says the user stopped, used when nothing was loaded here yet. */
let resumeAt = 0;

function adoptServerQueue(q: ServerQueue, fromOtherSession: boolean): void {
  if (!q || !Array.isArray(q.songIds)) return;
  const before = Q.current(queue.value);
  if (!Q.sameAs(queue.value, q.songIds, q.current)) setQueue(Q.adopt(queue.value, q.songIds, q.current));
  const now = Q.current(queue.value);
  void ensureSongs(q.songIds);
  if (!now) {
    if (before) void loadCurrent(false);
    return;
  }
  if (now.uid !== loadedUid) {
    resumeAt = (q.positionMs ?? 0) / 1000;
    // Another session moved on while this one plays: follow it.
    if (fromOtherSession && playing.value) void loadCurrent(true);
  }
}

async function fetchServerQueue(): Promise<void> {
  if (serverQueue === false) return;
  const edits = localEdits;
  try {
    const q = await api.call('player:queue');
    serverQueue = true;
    // Changed here meanwhile: those changes are on their way to the server and win.
    if (edits === localEdits) adoptServerQueue(q, false);
  } catch (e) {
    if (isUnknownEvent(e)) serverQueue = false;
  }
}

let lastStatusAt = 0;
function reportStatus(force = false): void {
  if (!serverQueue) return;
  const now = Date.now();
  if (!force && now - lastStatusAt < 15000) return;
  lastStatusAt = now;
  send('player:status', { positionMs: Math.round((audio.currentTime || 0) * 1000), playing: !audio.paused });
}

// ---- listens ----

let listenedSec = 0;
let lastTime = 0;
let listenRecorded = false;

function resetListen(): void {
  listenedSec = 0;
  lastTime = audio?.currentTime ?? 0;
  listenRecorded = false;
}

/** A song counts as played after 30 s, or half of it when shorter. */
function trackListen(): void {
  const t = audio.currentTime;
  const d = t - lastTime;
  lastTime = t;
  if (audio.paused || d <= 0 || d > 2) return;
  listenedSec += d;
  const len = duration.value || audio.duration || Infinity;
  if (listenRecorded || listenedSec < Math.min(30, len / 2)) return;
  const it = Q.current(queue.value);
  if (!it || it.uid !== loadedUid) return;
  listenRecorded = true;
  const songId = it.songId;
  api
    .call('song:recordListen', { songId, playedMs: Math.round(listenedSec * 1000) })
    .then((r) => {
      const s = cache.get(songId);
      if (s && typeof r?.playCount === 'number') cache.upsert([{ ...s, playCount: r.playCount }]);
    })
    .catch(() => {});
}

async function loadCurrent(autoplay: boolean, startAt = 0): Promise<void> {
  const it = Q.current(queue.value);
  if (!it) {
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    loadedUid = null;
    playing.value = false;
    updateMediaSession();
    return;
  }
  const seq = ++loadSeq;
  buffering.value = true;
  try {
    const grant = await api.call('song:play', { songId: it.songId });
    if (seq !== loadSeq) return;
    cache.upsert([grant.song]);
    urlExpiresAt = grant.expiresAt;
    const sameSong = loadedUid === it.uid;
    loadedUid = it.uid;
    audio.src = grant.url;
    if (startAt > 0) audio.currentTime = startAt;
    if (!sameSong) resetListen();
    lastTime = startAt;
    position.value = startAt;
    duration.value = (grant.song.durationMs ?? 0) / 1000;
    updateMediaSession();
    if (autoplay) await audio.play().catch(() => (playing.value = false));
  } catch (e) {
    if (seq !== loadSeq) return;
    buffering.value = false;
    playing.value = false;
    reportError(e);
  }
}

export function playSongs(ids: readonly string[], start = 0): void {
  setQueue(Q.playList(queue.value, ids, start));
  position.value = 0;
  replaceOnServer();
  void loadCurrent(true);
}

export function playNextSongs(ids: readonly string[]): void {
  const was = Q.current(queue.value);
  const at = queue.value.index + 1;
  setQueue(Q.playNext(queue.value, ids));
  send('player:addToQueue', { songIds: [...ids], position: at });
  if (!was) {
    send('player:status', { current: queue.value.index });
    void loadCurrent(true);
  }
}

export function enqueueSongs(ids: readonly string[]): void {
  const was = Q.current(queue.value);
  setQueue(Q.enqueue(queue.value, ids));
  send('player:addToQueue', { songIds: [...ids] });
  if (!was) {
    send('player:status', { current: queue.value.index });
    void loadCurrent(true);
  }
}

export function togglePlay(): void {
  const it = Q.current(queue.value);
  if (!it) return;
  if (!loadedUid || loadedUid !== it.uid || Date.now() / 1000 > urlExpiresAt) {
    const at = loadedUid === it.uid ? audio.currentTime || position.value : resumeAt;
    resumeAt = 0;
    void loadCurrent(true, at);
    return;
  }
  if (audio.paused) void audio.play().catch(reportError);
  else audio.pause();
}

export function nextTrack(auto = false): void {
  const r = Q.next(queue.value, auto);
  if (r.ended) {
    playing.value = false;
    audio.pause();
    audio.currentTime = 0;
    return;
  }
  setQueue(r.state);
  if (auto && r.state.repeat === 'one') {
    audio.currentTime = 0;
    resetListen();
    void audio.play();
    return;
  }
  send('player:status', { current: r.state.index, positionMs: 0 });
  void loadCurrent(true);
}

export function prevTrack(): void {
  const r = Q.prev(queue.value, audio.currentTime);
  if (r.restart) {
    seek(0);
    return;
  }
  setQueue(r.state);
  send('player:status', { current: r.state.index, positionMs: 0 });
  void loadCurrent(true);
}

export function seek(sec: number): void {
  if (!loadedUid) return;
  const d = duration.value || audio.duration || 0;
  const t = Math.max(0, Math.min(d ? d - 0.25 : sec, sec));
  if (Date.now() / 1000 > urlExpiresAt) {
    void loadCurrent(!audio.paused, t);
    return;
  }
  audio.currentTime = t;
  position.value = t;
}

export function seekBy(delta: number): void {
  seek((audio.currentTime || 0) + delta);
}

export function setVolume(v: number): void {
  volume.value = Math.max(0, Math.min(1, v));
  audio.volume = volume.value;
  if (volume.value > 0 && muted.value) toggleMute();
  try {
    localStorage.setItem(VOL_KEY, String(volume.value));
  } catch {
    /* ignore */
  }
}

export function toggleMute(): void {
  muted.value = !muted.value;
  audio.muted = muted.value;
}

export function toggleShuffle(): void {
  setQueue(Q.setShuffle(queue.value, !queue.value.shuffle));
  replaceOnServer();
}

export function cycleRepeat(): void {
  setQueue({ ...queue.value, repeat: Q.cycleRepeat(queue.value.repeat) });
}

export function jumpTo(i: number): void {
  setQueue(Q.jump(queue.value, i));
  send('player:status', { current: i, positionMs: 0 });
  void loadCurrent(true);
}

export function moveInQueue(from: number, to: number): void {
  const before = queue.value;
  setQueue(Q.move(queue.value, from, to));
  if (queue.value !== before) send('player:moveInQueue', { from, to });
}

export function removeFromQueue(i: number): void {
  const wasCurrent = i === queue.value.index;
  const before = queue.value;
  setQueue(Q.removeAt(queue.value, i));
  if (queue.value !== before) send('player:removeFromQueue', { indexes: [i] });
  if (wasCurrent) void loadCurrent(playing.value);
}

export function clearQueue(): void {
  setQueue({ ...Q.emptyQueue(), shuffle: queue.value.shuffle, repeat: queue.value.repeat });
  send('player:clearQueue', undefined);
  void loadCurrent(false);
}

function updateMediaSession(): void {
  const ms = typeof navigator !== 'undefined' ? navigator.mediaSession : undefined;
  if (!ms) return;
  const s = currentSong.value;
  try {
    ms.metadata = s
      ? new MediaMetadata({
          title: s.title || 'Untitled',
          artist: s.artist || '',
          album: s.album || '',
          artwork: s.coverUrl ? [{ src: s.coverUrl, sizes: '512x512' }] : [],
        })
      : null;
  } catch {
    /* unsupported */
  }
}

function updatePositionState(): void {
  const ms = navigator.mediaSession;
  if (!ms?.setPositionState || !isFinite(audio.duration) || audio.duration <= 0) return;
  try {
    ms.setPositionState({ duration: audio.duration, position: Math.min(audio.currentTime, audio.duration), playbackRate: 1 });
  } catch {
    /* ignore */
  }
}

export function initPlayer(): void {
  audio = new Audio();
  audio.preload = 'auto';
  audio.id = 'chillfi-audio';
  document.body.append(audio);
  try {
    const v = parseFloat(localStorage.getItem(VOL_KEY) ?? '');
    if (!Number.isNaN(v)) volume.value = Math.max(0, Math.min(1, v));
  } catch {
    /* ignore */
  }
  audio.volume = volume.value;
  audio.addEventListener('play', () => (playing.value = true));
  audio.addEventListener('playing', () => {
    playing.value = true;
    buffering.value = false;
    reportStatus(true);
  });
  audio.addEventListener('pause', () => {
    playing.value = false;
    reportStatus(true);
  });
  audio.addEventListener('seeked', () => (lastTime = audio.currentTime));
  audio.addEventListener('waiting', () => (buffering.value = true));
  audio.addEventListener('canplay', () => (buffering.value = false));
  audio.addEventListener('timeupdate', () => {
    position.value = audio.currentTime;
    updatePositionState();
    trackListen();
    reportStatus();
  });
  audio.addEventListener('durationchange', () => {
    if (isFinite(audio.duration) && audio.duration > 0) duration.value = audio.duration;
  });
  audio.addEventListener('ended', () => nextTrack(true));
  audio.addEventListener('error', () => {
    buffering.value = false;
    if (!loadedUid) return;
    // An expired URL: get a fresh one and carry on from where we were.
    if (Date.now() / 1000 > urlExpiresAt - 5) void loadCurrent(true, audio.currentTime || position.value);
    else reportError(new Error('This song could not be played.'));
  });

  const ms = navigator.mediaSession;
  if (ms) {
    const set = (a: MediaSessionAction, h: MediaSessionActionHandler) => {
      try {
        ms.setActionHandler(a, h);
      } catch {
        /* unsupported action */
      }
    };
    set('play', () => togglePlay());
    set('pause', () => audio.pause());
    set('previoustrack', () => prevTrack());
    set('nexttrack', () => nextTrack());
    set('seekbackward', (d) => seekBy(-(d.seekOffset ?? 10)));
    set('seekforward', (d) => seekBy(d.seekOffset ?? 10));
    set('seekto', (d) => d.seekTime != null && seek(d.seekTime));
  }

  // The page title says what is playing (▶ while it plays), like a music app's window does.
  effect(() => {
    document.title = pageTitle(currentSong.value, playing.value);
  });

  // Restore the queue (not playing) from the last visit.
  try {
    const saved = JSON.parse(localStorage.getItem(QUEUE_KEY) ?? 'null');
    if (saved && Array.isArray(saved.ids)) {
      let s = Q.playList(Q.emptyQueue(), saved.ids.filter((x: unknown) => typeof x === 'string'), saved.index ?? 0);
      s = { ...s, shuffle: !!saved.shuffle, repeat: ['off', 'all', 'one'].includes(saved.repeat) ? saved.repeat : 'off' };
      queue.value = s;
      restoredFor = typeof saved.user === 'string' ? saved.user : null;
    }
  } catch {
    /* ignore */
  }

  onPush('song:deleted', (p) => {
    const cur = Q.current(queue.value);
    setQueue(Q.removeSongs(queue.value, new Set([p.songId])));
    if (cur && cur.songId === p.songId) void loadCurrent(false);
  });
  onPush('player:queueUpdated', (p) => {
    serverQueue = true;
    adoptServerQueue(p.queue, true);
  });
  onSignIn((u) => {
    // A queue kept in this browser by someone else is not this user's.
    if (restoredFor !== u.id) {
      queue.value = Q.emptyQueue();
      persist();
    }
    restoredFor = u.id;
    void fetchServerQueue();
  });
  onReconnect(() => void fetchServerQueue());
  onSignOut(() => {
    // Nothing of this user's listening stays in the browser for the next one.
    loadSeq++;
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    loadedUid = null;
    serverQueue = null;
    restoredFor = null;
    resumeAt = 0;
    queue.value = Q.emptyQueue();
    playing.value = false;
    buffering.value = false;
    position.value = 0;
    duration.value = 0;
    try {
      localStorage.removeItem(QUEUE_KEY);
    } catch {
      /* ignore */
    }
    updateMediaSession();
  });
}

export function pageTitle(s: Song | null, isPlaying: boolean): string {
  if (!s) return 'ChillFi';
  return `${isPlaying ? '▶ ' : ''}${s.title || 'Untitled'} · ${s.artist || 'Unknown artist'} — ChillFi`;
}

export function restoreQueueSongs(): void {
  void ensureSongs(queue.value.items.map((i) => i.songId));
}

export function audioElement(): HTMLAudioElement {
  return audio;
}
