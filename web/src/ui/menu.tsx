// Song context menu (right click / long press / the ⋯ button) and its dialogs.
import { signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fieldErrors } from '../api/envelope';
import type { ShareInfo, ShareKind, Song } from '../api/types';
import { cache, cacheVersion, deleteSong, reportError, updateSong } from '../state/library';
import { enqueueSongs, playNextSongs, playSongs } from '../state/player';
import { toggleStar } from '../state/marks';
import { addToPlaylist, createPlaylist, loadPlaylists, playlists } from '../state/playlists';
import { api, toast, user } from '../state/session';
import { DialogFrame, Field, FormError, closeDialog, copyText, fmtDate, openDialog, val } from './common';
import { BatchEdit, ConfirmDeleteMany, canEditAll } from './batch';
import { Icon } from './icons';
import { RatingStars } from './marks';
import { TagForm } from './tagform';

export { TagForm };

interface MenuState {
  x: number;
  y: number;
  songIds: string[];
  extra?: { label: string; run: () => void; danger?: boolean }[];
  returnFocus?: HTMLElement | null;
}
export const menu = signal<MenuState | null>(null);

export function openSongMenu(e: { clientX: number; clientY: number }, songIds: string[], extra?: MenuState['extra']): void {
  menu.value = { x: e.clientX, y: e.clientY, songIds, extra, returnFocus: document.activeElement as HTMLElement };
}

function closeMenu(): void {
  const f = menu.value?.returnFocus;
  menu.value = null;
  f?.focus?.();
}

export function ContextMenu() {
  const m = menu.value;
  const ref = useRef<HTMLDivElement>(null);
  const [pos, setPos] = useState<{ left: number; top: number }>({ left: 0, top: 0 });
  useEffect(() => {
    if (!m || !ref.current) return;
    const r = ref.current.getBoundingClientRect();
    const left = Math.max(8, Math.min(m.x, innerWidth - r.width - 8));
    const top = Math.max(8, Math.min(m.y, innerHeight - r.height - 8));
    setPos({ left, top });
    ref.current.querySelector<HTMLElement>('[role=menuitem]')?.focus();
    const onDown = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) closeMenu();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') closeMenu();
    };
    addEventListener('pointerdown', onDown, true);
    addEventListener('keydown', onKey);
    addEventListener('resize', closeMenu);
    return () => {
      removeEventListener('pointerdown', onDown, true);
      removeEventListener('keydown', onKey);
      removeEventListener('resize', closeMenu);
    };
  }, [m]);
  if (!m) return null;
  void cacheVersion.value; // the marks shown change while the menu is open
  const one = m.songIds.length === 1 ? cache.get(m.songIds[0]) : undefined;
  const many = m.songIds.length > 1;
  const mayEdit = canEditAll(m.songIds);
  const item = (label: string, run: () => void, opts: { danger?: boolean; disabled?: boolean } = {}) => (
    <button
      type="button"
      role="menuitem"
      class={`menu-item ${opts.danger ? 'danger' : ''}`}
      disabled={opts.disabled}
      onClick={() => {
        closeMenu();
        run();
      }}
    >
      {label}
    </button>
  );
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const items = [...(ref.current?.querySelectorAll<HTMLElement>('[role=menuitem]:not([disabled])') ?? [])];
    const i = items.indexOf(document.activeElement as HTMLElement);
    items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
  };
  return (
    <div
      ref={ref}
      class="menu"
      role="menu"
      aria-label={one ? `Actions for ${one.title}` : many ? `Actions for ${m.songIds.length} songs` : 'Song actions'}
      style={{ left: `${pos.left}px`, top: `${pos.top}px` }}
      onKeyDown={onKeyDown}
      data-testid="song-menu"
    >
      {one && <div class="menu-title">{one.title || 'Untitled'}</div>}
      {many && <div class="menu-title">{m.songIds.length} songs</div>}
      {item('Play', () => playSongs(m.songIds))}
      {item('Play next', () => {
        playNextSongs(m.songIds);
        toast('Playing next', 'success', 2000);
      })}
      {item('Add to queue', () => {
        enqueueSongs(m.songIds);
        toast('Added to queue', 'success', 2000);
      })}
      {item('Add to playlist…', () => openDialog(<AddToPlaylist songIds={m.songIds} />))}
      {one && item(one.starred ? 'Remove from favourites' : 'Add to favourites', () => void toggleStar(one.id))}
      {one && (
        <div class="menu-rating">
          <span class="muted">Rating</span>
          <RatingStars song={one} />
        </div>
      )}
      <div class="menu-sep" role="separator" />
      {item('Edit details…', () => openDialog(one ? <EditSong song={one} /> : <BatchEdit songIds={m.songIds} />), { disabled: !mayEdit })}
      {item('Share…', () => one && openDialog(<ShareDialog kind="song" id={one.id} title={one.title} />), { disabled: !one })}
      {m.extra?.map((x) => item(x.label, x.run, { danger: x.danger }))}
      <div class="menu-sep" role="separator" />
      {item('Delete…', () => openDialog(one ? <ConfirmDelete song={one} /> : <ConfirmDeleteMany songIds={m.songIds} />), { danger: true, disabled: !mayEdit })}
    </div>
  );
}

/** Long press (touch) opens the menu like a right click does. */
export function longPress(open: (p: { clientX: number; clientY: number }) => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let start: { x: number; y: number } | null = null;
  const cancel = () => {
    clearTimeout(timer);
    start = null;
  };
  return {
    onPointerDown: (e: PointerEvent) => {
      if (e.pointerType !== 'touch') return;
      start = { x: e.clientX, y: e.clientY };
      timer = setTimeout(() => {
        if (start) open({ clientX: start.x, clientY: start.y });
        start = null;
      }, 500);
    },
    onPointerMove: (e: PointerEvent) => {
      if (start && Math.hypot(e.clientX - start.x, e.clientY - start.y) > 10) cancel();
    },
    onPointerUp: cancel,
    onPointerCancel: cancel,
    onContextMenu: (e: MouseEvent) => {
      e.preventDefault();
      cancel();
      open(e);
    },
  };
}

export function EditSong({ song }: { song: Song }) {
  return (
    <DialogFrame title="Edit details">
      <TagForm
        initial={song}
        submitLabel="Save"
        onSubmit={async (patch) => {
          if (Object.keys(patch).length) await updateSong(song.id, patch);
          toast('Saved', 'success', 2000);
        }}
      />
    </DialogFrame>
  );
}

function ConfirmDelete({ song }: { song: Song }) {
  const [busy, setBusy] = useState(false);
  return (
    <DialogFrame title="Delete song?">
      <p>
        “<span class="strong">{song.title || 'Untitled'}</span>” by {song.artist || 'Unknown artist'} will be removed from the library for everyone.
      </p>
      <div class="form-actions">
        <button type="button" class="btn ghost" onClick={closeDialog}>
          Cancel
        </button>
        <button
          type="button"
          class="btn danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await deleteSong(song.id);
              closeDialog();
              toast('Deleted', 'success', 2000);
            } catch (e) {
              reportError(e);
              setBusy(false);
            }
          }}
        >
          Delete
        </button>
      </div>
    </DialogFrame>
  );
}

export function AddToPlaylist({ songIds }: { songIds: string[] }) {
  const [name, setName] = useState('');
  const [err, setErr] = useState<string | undefined>();
  useEffect(() => void loadPlaylists(), []);
  const mine = playlists.value.filter((p) => p.ownerId === user.value?.id);
  return (
    <DialogFrame title="Add to playlist">
      {mine.length > 0 && (
        <ul class="pick-list">
          {mine.map((p) => (
            <li key={p.id}>
              <button
                type="button"
                class="pick"
                onClick={async () => {
                  try {
                    await addToPlaylist(p.id, songIds);
                    closeDialog();
                    toast(`Added to ${p.name}`, 'success', 2500);
                  } catch (e) {
                    reportError(e);
                  }
                }}
              >
                <Icon name="playlist" />
                <span class="grow">{p.name}</span>
                <span class="muted">{p.songCount} songs</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        class="form inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const p = await createPlaylist(name.trim(), songIds);
            closeDialog();
            toast(`Created ${p.name}`, 'success', 2500);
          } catch (ex) {
            const fe = fieldErrors(ex, ['name']);
            setErr(fe.fields.name ?? fe.form);
          }
        }}
      >
        <Field label="New playlist" error={err}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} placeholder="Name" onInput={(e) => setName(val(e))} />}
        </Field>
        <button class="btn primary" type="submit" disabled={!name.trim()}>
          Create
        </button>
      </form>
    </DialogFrame>
  );
}

/** Creates share links with expiry / play limit and lists existing ones. */
export function ShareDialog(props: { kind: ShareKind; id: string; title: string }) {
  const [days, setDays] = useState('7');
  const [maxPlays, setMaxPlays] = useState('');
  const [links, setLinks] = useState<(ShareInfo & { url?: string })[]>([]);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api
      .call('share:list', { kind: props.kind, id: props.id })
      .then((r) => setLinks(r.items))
      .catch(() => {});
  }, []);
  const abs = (u: string) => (u.startsWith('http') ? u : new URL(u, location.origin).href);
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr({ fields: {} });
    try {
      const d = Number(days);
      const mp = maxPlays.trim() ? Number(maxPlays) : undefined;
      const s = await api.call('share:create', {
        kind: props.kind,
        id: props.id,
        expiresAt: d > 0 ? Math.floor(Date.now() / 1000) + d * 86400 : undefined,
        maxPlays: mp,
      });
      setLinks((cur) => [s, ...cur.filter((x) => x.shareId !== s.shareId)]);
      if (await copyText(abs(s.url))) toast('Link copied', 'success', 2500);
    } catch (ex) {
      setErr(fieldErrors(ex, ['expiresAt', 'maxPlays']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <DialogFrame title={`Share “${props.title || 'Untitled'}”`}>
      <form class="form" onSubmit={create} novalidate>
        <div class="grid-2">
          <Field label="Expires after" error={err.fields.expiresAt}>
            {(id, d) => (
              <select id={id} aria-describedby={d} value={days} onChange={(e) => setDays((e.currentTarget as HTMLSelectElement).value)}>
                <option value="1">1 day</option>
                <option value="7">7 days</option>
                <option value="30">30 days</option>
                <option value="0">Never</option>
              </select>
            )}
          </Field>
          <Field label="Play limit" error={err.fields.maxPlays} hint="Empty: unlimited">
            {(id, d) => <input id={id} aria-describedby={d} inputMode="numeric" value={maxPlays} onInput={(e) => setMaxPlays(val(e).replace(/\D/g, ''))} />}
          </Field>
        </div>
        <FormError text={err.form} />
        <div class="form-actions">
          <button class="btn primary" type="submit" disabled={busy}>
            <Icon name="link" size={18} /> Create link
          </button>
        </div>
      </form>
      {links.length > 0 && (
        <ul class="share-list" aria-label="Links">
          {links.map((s) => (
            <li key={s.shareId} class="share-row">
              {s.url ? (
                <input class="mono share-url" readOnly value={abs(s.url)} aria-label="Share link" onFocus={(e) => e.currentTarget.select()} />
              ) : (
                <span class="share-url muted">Link made {fmtDate(s.createdAt)}</span>
              )}
              <span class="muted small">
                {s.expiresAt ? `until ${fmtDate(s.expiresAt)}` : 'no expiry'} · {s.maxPlays ? `${s.plays}/${s.maxPlays} plays` : `${s.plays} plays`}
              </span>
              <div class="row-actions">
                {s.url && (
                  <button type="button" class="btn small" onClick={async () => toast((await copyText(abs(s.url!))) ? 'Copied' : 'Select the link and copy it', 'info', 2000)}>
                    Copy
                  </button>
                )}
                <button
                  type="button"
                  class="btn small ghost"
                  onClick={async () => {
                    try {
                      await api.call('share:revoke', { shareId: s.shareId });
                      setLinks((cur) => cur.filter((x) => x.shareId !== s.shareId));
                    } catch (e) {
                      reportError(e);
                    }
                  }}
                >
                  Revoke
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </DialogFrame>
  );
}
