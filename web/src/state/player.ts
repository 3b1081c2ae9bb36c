// Playback: one <audio> element (HTTP Range seeking on the URL from song:play), the queue,
// volume/shuffle/repeat, and the Media Session API.
import { computed, signal } from '@preact/signals';
import type { Song } from '../api/types';
import { cache, cacheVersion, ensureSongs, reportError } from './library';
import * as Q from './queue';
import { api, onPush, onSignOut } from './session';

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
let loadedUid: string | null = null;
let urlExpiresAt = 0;
let loadSeq = 0;

function persist(): void {
  try {
    const s = queue.value;
    localStorage.setItem(
      QUEUE_KEY,
      JSON.stringify({ ids: s.items.map((i) => i.songId), index: s.index, shuffle: s.shuffle, repeat: s.repeat }),
    );
  } catch {
    /* ignore */
  }
}

function setQueue(s: Q.QueueState): void {
  queue.value = s;
  persist();
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
    loadedUid = it.uid;
    audio.src = grant.url;
    if (startAt > 0) audio.currentTime = startAt;
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
  void loadCurrent(true);
}

export function playNextSongs(ids: readonly string[]): void {
  const was = Q.current(queue.value);
  setQueue(Q.playNext(queue.value, ids));
  if (!was) void loadCurrent(true);
}

export function enqueueSongs(ids: readonly string[]): void {
  const was = Q.current(queue.value);
  setQueue(Q.enqueue(queue.value, ids));
  if (!was) void loadCurrent(true);
}

export function togglePlay(): void {
  if (!Q.current(queue.value)) return;
  if (!loadedUid || Date.now() / 1000 > urlExpiresAt) {
    void loadCurrent(true, audio.currentTime || position.value);
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
    void audio.play();
    return;
  }
  void loadCurrent(true);
}

export function prevTrack(): void {
  const r = Q.prev(queue.value, audio.currentTime);
  if (r.restart) {
    seek(0);
    return;
  }
  setQueue(r.state);
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
}

export function cycleRepeat(): void {
  setQueue({ ...queue.value, repeat: Q.cycleRepeat(queue.value.repeat) });
}

export function jumpTo(i: number): void {
  setQueue(Q.jump(queue.value, i));
  void loadCurrent(true);
}

export function moveInQueue(from: number, to: number): void {
  setQueue(Q.move(queue.value, from, to));
}

export function removeFromQueue(i: number): void {
  const wasCurrent = i === queue.value.index;
  setQueue(Q.removeAt(queue.value, i));
  if (wasCurrent) void loadCurrent(playing.value);
}

export function clearQueue(): void {
  setQueue({ ...Q.emptyQueue(), shuffle: queue.value.shuffle, repeat: queue.value.repeat });
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
  });
  audio.addEventListener('pause', () => (playing.value = false));
  audio.addEventListener('waiting', () => (buffering.value = true));
  audio.addEventListener('canplay', () => (buffering.value = false));
  audio.addEventListener('timeupdate', () => {
    position.value = audio.currentTime;
    updatePositionState();
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

  // Restore the queue (not playing) from the last visit.
  try {
    const saved = JSON.parse(localStorage.getItem(QUEUE_KEY) ?? 'null');
    if (saved && Array.isArray(saved.ids)) {
      let s = Q.playList(Q.emptyQueue(), saved.ids.filter((x: unknown) => typeof x === 'string'), saved.index ?? 0);
      s = { ...s, shuffle: !!saved.shuffle, repeat: ['off', 'all', 'one'].includes(saved.repeat) ? saved.repeat : 'off' };
      queue.value = s;
    }
  } catch {
    /* ignore */
  }

  onPush('song:deleted', (p) => {
    const cur = Q.current(queue.value);
    setQueue(Q.removeSongs(queue.value, new Set([p.songId])));
    if (cur && cur.songId === p.songId) void loadCurrent(false);
  });
  onSignOut(() => {
    audio.pause();
    loadedUid = null;
  });
}

export function restoreQueueSongs(): void {
  void ensureSongs(queue.value.items.map((i) => i.songId));
}

export function audioElement(): HTMLAudioElement {
  return audio;
}
