// Song rows and lists, selecting several rows and the bar of batch actions. Every tag is
// rendered as text.
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import type { Song } from '../api/types';
import { cache, cacheVersion } from '../state/library';
import { currentSong, enqueueSongs, playing, playNextSongs, playSongs, togglePlay } from '../state/player';
import { type ClickMods, clearSelection, clickSelect, retain, selection, setSelectMode } from '../state/selection';
import { toast } from '../state/session';
import { BatchEdit, ConfirmDeleteMany, canEditAll } from './batch';
import { Cover, fmtDuration, openDialog } from './common';
import { Icon } from './icons';
import { HeartButton } from './marks';
import { AddToPlaylist, longPress, openSongMenu } from './menu';

/** A row's part in a selection: whether it is selected, and what a click on it does. */
export interface RowSelect {
  on: boolean;
  click: (m: ClickMods) => void;
  /** The ids the row's menu acts on (the whole selection when the row is in it). */
  menuIds: () => string[];
}

export function SongRow(props: {
  song: Song;
  index: number;
  onPlay: () => void;
  showAlbum?: boolean;
  lead?: ComponentChildren;
  trail?: ComponentChildren;
  rowClass?: string;
  menuExtra?: Parameters<typeof openSongMenu>[2];
  select?: RowSelect;
  /** Whether this row is the one playing (the queue says by position: a song may be there twice). */
  current?: boolean;
}) {
  const s = props.song;
  const sel = props.select;
  const isCur = props.current ?? currentSong.value?.id === s.id;
  const ids = () => sel?.menuIds() ?? [s.id];
  const open = (p: { clientX: number; clientY: number }) => openSongMenu(p, ids(), props.menuExtra);
  return (
    <li
      class={`song-row ${isCur ? 'current' : ''} ${sel?.on ? 'selected' : ''} ${props.rowClass ?? ''}`}
      data-row
      data-song-id={s.id}
      {...longPress(open)}
      onDblClick={props.onPlay}
      onClick={(e) => {
        if (!sel || (e.target as HTMLElement).closest('button, a, input, label')) return;
        // A tap on a touch screen selects only in select mode (long press opens the menu).
        if ((e as unknown as PointerEvent).pointerType === 'touch' && !selection.value.mode) return;
        sel.click(e);
      }}
    >
      {sel && (
        <input
          type="checkbox"
          class="row-check"
          checked={sel.on}
          aria-label={`Select ${s.title || 'Untitled'}`}
          onClick={(e) => sel.click({ shiftKey: e.shiftKey, ctrlKey: true })}
        />
      )}
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
      <HeartButton song={s} class="row-heart" />
      <span class="song-dur">{fmtDuration(s.durationMs)}</span>
      {props.trail}
      <button
        type="button"
        class="icon-btn row-more"
        aria-label={`More actions for ${s.title || 'Untitled'}`}
        aria-haspopup="menu"
        onClick={(e) => {
          const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
          openSongMenu({ clientX: r.left - 180, clientY: r.bottom }, ids(), props.menuExtra);
        }}
      >
        <Icon name="more" />
      </button>
    </li>
  );
}

/**
 * A list of song ids drawn from the cache (so live edits show at once). `selectable`: rows can
 * be selected for batch actions (see state/selection.ts), with the bar of actions below.
 */
export function SongList(props: { ids: readonly string[]; label: string; showAlbum?: boolean; selectable?: boolean }) {
  void cacheVersion.value;
  const songs = props.ids.map((id) => cache.get(id)).filter((s): s is Song => !!s);
  const ids = songs.map((s) => s.id);
  const sel = selection.value;
  const key = ids.join(',');
  useEffect(() => {
    if (props.selectable) selection.value = retain(selection.value, ids);
  }, [key]);
  useEffect(() => {
    if (!props.selectable) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && selection.value.ids.length && !document.querySelector('dialog[open], [role=menu]')) clearSelection();
    };
    addEventListener('keydown', onKey);
    return () => {
      removeEventListener('keydown', onKey);
      clearSelection();
    };
  }, []);
  const chosen = new Set(sel.ids);
  const selecting = !!props.selectable && (sel.mode || sel.ids.length > 0);
  return (
    <>
      <ul class={`song-list ${selecting ? 'selecting' : ''} ${props.selectable ? 'selectable' : ''}`} aria-label={props.label}>
        {songs.map((s, i) => (
          <SongRow
            key={s.id}
            song={s}
            index={i}
            showAlbum={props.showAlbum}
            onPlay={() => playSongs(ids, i)}
            select={
              props.selectable
                ? {
                    on: chosen.has(s.id),
                    click: (m) => clickSelect(ids, s.id, m),
                    menuIds: () => (selection.value.ids.includes(s.id) ? [...selection.value.ids] : [s.id]),
                  }
                : undefined
            }
          />
        ))}
      </ul>
      {selecting && <SelectionBar />}
    </>
  );
}

/** The batch actions for the selected songs (sticks to the bottom of the page). */
export function SelectionBar() {
  const sel = selection.value;
  const ids = [...sel.ids];
  const n = ids.length;
  const mayEdit = canEditAll(ids);
  return (
    <div class="selection-bar" role="toolbar" aria-label="Selected songs" data-testid="selection-bar">
      <span class="selection-count" aria-live="polite">
        {n ? `${n} selected` : 'Tap songs to select them'}
      </span>
      <div class="selection-actions">
        <button
          type="button"
          class="btn small"
          disabled={!n}
          onClick={() => {
            playNextSongs(ids);
            toast(`${n} songs play next`, 'success', 2000);
          }}
        >
          Play next
        </button>
        <button
          type="button"
          class="btn small"
          disabled={!n}
          onClick={() => {
            enqueueSongs(ids);
            toast(`Added ${n} songs to the queue`, 'success', 2000);
          }}
        >
          Add to queue
        </button>
        <button type="button" class="btn small" disabled={!n} onClick={() => openDialog(<AddToPlaylist songIds={ids} />)}>
          Add to playlist…
        </button>
        <button type="button" class="btn small" disabled={!n || !mayEdit} onClick={() => openDialog(<BatchEdit songIds={ids} />)}>
          Edit…
        </button>
        <button type="button" class="btn small danger-text" disabled={!n || !mayEdit} onClick={() => openDialog(<ConfirmDeleteMany songIds={ids} />)}>
          Delete…
        </button>
      </div>
      <button type="button" class="btn small ghost" onClick={() => setSelectMode(false)}>
        {sel.mode ? 'Done' : 'Clear'}
      </button>
    </div>
  );
}
