// The always-visible player bar, the controls it shares with the now-playing view, and the queue.
import { signal } from '@preact/signals';
import { cache, cacheVersion } from '../state/library';
import {
  buffering,
  clearQueue,
  currentSong,
  cycleRepeat,
  duration,
  jumpTo,
  moveInQueue,
  muted,
  nextTrack,
  playing,
  position,
  prevTrack,
  queue,
  removeFromQueue,
  seek,
  setVolume,
  toggleMute,
  togglePlay,
  toggleShuffle,
  volume,
} from '../state/player';
import { href, route } from '../router';
import { Cover, Empty, PageHead, fmtDuration, fmtTime } from './common';
import { Icon } from './icons';
import { HeartButton } from './marks';
import { useReorder } from './reorder';
import { SongRow } from './songs';

/** The full-screen now-playing view (ui/nowplaying.tsx) is open; the element to focus when it closes. */
export const nowPlaying = signal<{ returnFocus: HTMLElement | null } | null>(null);
export function openNowPlaying(from: HTMLElement | null = null): void {
  nowPlaying.value = { returnFocus: from };
}
export function closeNowPlaying(): void {
  const f = nowPlaying.value?.returnFocus;
  nowPlaying.value = null;
  if (f?.isConnected) f.focus();
}

/** Shuffle, previous, play/pause, next, repeat: the same controls in the bar and the now-playing view. */
export function TransportButtons(props: { big?: boolean }) {
  const q = queue.value;
  const hasItem = q.index >= 0;
  return (
    <div class={`buttons ${props.big ? 'big' : ''}`}>
      <button
        type="button"
        class={`icon-btn toggle ${q.shuffle ? 'on' : ''}`}
        aria-label="Shuffle"
        aria-pressed={q.shuffle}
        onClick={toggleShuffle}
        title="Shuffle"
      >
        <Icon name="shuffle" size={props.big ? 22 : 18} />
      </button>
      <button type="button" class="icon-btn" aria-label="Previous" onClick={prevTrack} disabled={!hasItem} title="Previous (Shift+←)">
        <Icon name="prev" size={props.big ? 28 : 20} />
      </button>
      <button
        type="button"
        class={`play-btn ${buffering.value && playing.value ? 'busy' : ''}`}
        aria-label={playing.value ? 'Pause' : 'Play'}
        onClick={togglePlay}
        disabled={!hasItem}
        title="Play/Pause (Space)"
        data-testid="play-pause"
      >
        <Icon name={playing.value ? 'pause' : 'play'} size={props.big ? 30 : 22} />
      </button>
      <button type="button" class="icon-btn" aria-label="Next" onClick={() => nextTrack()} disabled={!hasItem} title="Next (Shift+→)">
        <Icon name="next" size={props.big ? 28 : 20} />
      </button>
      <button
        type="button"
        class={`icon-btn toggle ${q.repeat !== 'off' ? 'on' : ''}`}
        aria-label={`Repeat: ${q.repeat}`}
        aria-pressed={q.repeat !== 'off'}
        onClick={cycleRepeat}
        title={`Repeat: ${q.repeat}`}
      >
        <Icon name="repeat" size={props.big ? 22 : 18} />
        {q.repeat === 'one' && <span class="badge-one">1</span>}
      </button>
    </div>
  );
}

/** Where the current song is, as numbers the bar and the now-playing view share. */
export function progress() {
  const s = currentSong.value;
  const d = duration.value || (s ? s.durationMs / 1000 : 0);
  const pos = Math.min(position.value, d || position.value);
  return { d, pos, pct: d ? (pos / d) * 100 : 0 };
}

export function SeekBar(props: { testId?: string }) {
  const s = currentSong.value;
  const { d, pos, pct } = progress();
  return (
    <div class="seek">
      <span class="time" data-testid={props.testId ? `${props.testId}-position` : 'position'}>
        {fmtTime(pos)}
      </span>
      <input
        type="range"
        class="range"
        min={0}
        max={Math.max(1, Math.floor(d))}
        step={1}
        value={Math.floor(pos)}
        style={{ '--pct': `${pct}%` }}
        aria-label="Seek"
        aria-valuetext={`${fmtTime(pos)} of ${fmtTime(d)}`}
        disabled={!s}
        onInput={(e) => seek(Number((e.currentTarget as HTMLInputElement).value))}
        data-testid={props.testId ?? 'seek'}
      />
      <span class="time" data-testid={props.testId ? `${props.testId}-duration` : 'duration'}>
        {fmtTime(d)}
      </span>
    </div>
  );
}

export function PlayerBar() {
  const s = currentSong.value;
  const { pct } = progress();
  const onQueue = route.value.parts[0] === 'queue';
  return (
    <footer class="player" aria-label="Player">
      <div class="now">
        {s ? (
          <button
            type="button"
            class="now-open"
            aria-label={`Now playing: ${s.title || 'Untitled'} by ${s.artist || 'Unknown artist'}. Open the player`}
            aria-haspopup="dialog"
            data-testid="open-now-playing"
            onClick={(e) => openNowPlaying(e.currentTarget as HTMLElement)}
          >
            <Cover url={s.coverUrl} seed={s.album || s.title} size="md" />
            <span class="now-text">
              <span class="now-title" data-testid="now-title">
                {s.title || 'Untitled'}
              </span>
              <span class="now-artist">{s.artist || 'Unknown artist'}</span>
            </span>
          </button>
        ) : null}
        {s && <HeartButton song={s} class="now-heart" />}
        {!s && (
          <div class="now-text idle">
            <span class="now-title">Nothing playing</span>
            <span class="now-artist">Pick a song to start</span>
          </div>
        )}
      </div>
      <div class="transport">
        <TransportButtons />
        <SeekBar />
      </div>
      <div class="extras">
        <a href={href(onQueue ? '/library/songs' : '/queue')} class={`icon-btn ${onQueue ? 'on' : ''}`} aria-label="Queue" title="Queue">
          <Icon name="queue" />
        </a>
        <button type="button" class="icon-btn" aria-label={muted.value ? 'Unmute' : 'Mute'} onClick={toggleMute}>
          <Icon name={muted.value || volume.value === 0 ? 'mute' : 'volume'} />
        </button>
        <input
          type="range"
          class="range volume"
          min={0}
          max={100}
          value={Math.round((muted.value ? 0 : volume.value) * 100)}
          style={{ '--pct': `${(muted.value ? 0 : volume.value) * 100}%` }}
          aria-label="Volume"
          onInput={(e) => setVolume(Number((e.currentTarget as HTMLInputElement).value) / 100)}
        />
      </div>
      <div class="mini-progress" aria-hidden="true">
        <div class="mini-fill" style={{ width: `${pct}%` }} />
      </div>
    </footer>
  );
}

/** The queue as rows: the current one highlighted, played ones dimmed, reorder by drag or keyboard. */
export function QueueList(props: { label?: string }) {
  void cacheVersion.value;
  const q = queue.value;
  const { listRef, handle, rowClass } = useReorder(moveInQueue);
  return (
    <ul class="song-list queue-list" aria-label={props.label ?? 'Queue'} ref={listRef as preact.Ref<HTMLUListElement>}>
      {q.items.map((it, i) => {
        const s = cache.get(it.songId);
        if (!s)
          return (
            <li key={it.uid} class="song-row missing" data-row>
              {handle(i, 'song')}
              <span class="muted grow">Loading…</span>
            </li>
          );
        return (
          <SongRow
            key={it.uid}
            song={s}
            index={i}
            current={i === q.index}
            rowClass={`${rowClass(i)} ${i < q.index ? 'played' : ''}`}
            onPlay={() => jumpTo(i)}
            lead={handle(i, s.title)}
            menuExtra={[{ label: 'Remove from queue', run: () => removeFromQueue(i) }]}
          />
        );
      })}
    </ul>
  );
}

export function QueueView() {
  void cacheVersion.value;
  const q = queue.value;
  const total = q.items.reduce((a, it) => a + (cache.get(it.songId)?.durationMs ?? 0), 0);
  return (
    <section class="page">
      <PageHead title="Queue" sub={q.items.length ? `${q.items.length} songs · ${fmtDuration(total)}` : undefined}>
        <button type="button" class="btn ghost" onClick={clearQueue} disabled={!q.items.length}>
          Clear
        </button>
      </PageHead>
      {!q.items.length ? (
        <Empty title="The queue is empty" icon="queue">
          Use “Play next” or “Add to queue” from a song’s menu.
        </Empty>
      ) : (
        <QueueList />
      )}
    </section>
  );
}
