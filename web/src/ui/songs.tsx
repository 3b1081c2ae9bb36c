// Song rows and lists. Every tag is rendered as text.
import type { ComponentChildren } from 'preact';
import type { Song } from '../api/types';
import { cache, cacheVersion } from '../state/library';
import { currentSong, playing, playSongs, togglePlay } from '../state/player';
import { Cover, fmtDuration } from './common';
import { Icon } from './icons';
import { longPress, openSongMenu } from './menu';

export function SongRow(props: {
  song: Song;
  index: number;
  onPlay: () => void;
  showAlbum?: boolean;
  lead?: ComponentChildren;
  trail?: ComponentChildren;
  rowClass?: string;
  menuExtra?: Parameters<typeof openSongMenu>[2];
}) {
  const s = props.song;
  const isCur = currentSong.value?.id === s.id;
  const open = (p: { clientX: number; clientY: number }) => openSongMenu(p, [s.id], props.menuExtra);
  return (
    <li
      class={`song-row ${isCur ? 'current' : ''} ${props.rowClass ?? ''}`}
      data-row
      data-song-id={s.id}
      {...longPress(open)}
      onDblClick={props.onPlay}
    >
      {props.lead}
      <button
        type="button"
        class="row-play"
        aria-label={isCur && playing.value ? `Pause ${s.title}` : `Play ${s.title}`}
        onClick={() => (isCur ? togglePlay() : props.onPlay())}
      >
        <Cover url={s.coverUrl} seed={s.album || s.title} size="sm" />
        <span class="row-play-icon">
          <Icon name={isCur && playing.value ? 'pause' : 'play'} size={18} />
        </span>
      </button>
      <div class="song-main">
        <span class="song-title" title={s.title}>
          {s.title || 'Untitled'}
        </span>
        <span class="song-sub">{s.artist || 'Unknown artist'}</span>
      </div>
      {props.showAlbum !== false && <span class="song-album">{s.album}</span>}
      <span class="song-dur">{fmtDuration(s.durationMs)}</span>
      {props.trail}
      <button
        type="button"
        class="icon-btn row-more"
        aria-label={`More actions for ${s.title || 'Untitled'}`}
        aria-haspopup="menu"
        onClick={(e) => {
          const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
          openSongMenu({ clientX: r.left - 180, clientY: r.bottom }, [s.id], props.menuExtra);
        }}
      >
        <Icon name="more" />
      </button>
    </li>
  );
}

/** A list of song ids drawn from the cache (so live edits show at once). */
export function SongList(props: { ids: readonly string[]; label: string; showAlbum?: boolean }) {
  void cacheVersion.value;
  const songs = props.ids.map((id) => cache.get(id)).filter((s): s is Song => !!s);
  const ids = songs.map((s) => s.id);
  return (
    <ul class="song-list" aria-label={props.label}>
      {songs.map((s, i) => (
        <SongRow key={s.id} song={s} index={i} showAlbum={props.showAlbum} onPlay={() => playSongs(ids, i)} />
      ))}
    </ul>
  );
}
