// Playlists: list, create, rename, public/private, reorder by drag and drop, share.
import { useEffect, useState } from 'preact/hooks';
import { fieldErrors } from '../api/envelope';
import type { Playlist } from '../api/types';
import { href, navigate, route } from '../router';
import { cache, cacheVersion, ensureSongs, reportError } from '../state/library';
import { playSongs } from '../state/player';
import { createPlaylist, dropPlaylist, loadPlaylists, playlists, playlistsSupported, upsertPlaylist } from '../state/playlists';
import { api, toast, user } from '../state/session';
import { Cover, DialogFrame, Empty, Field, PageHead, Spinner, closeDialog, fmtLong, openDialog, val } from './common';
import { Icon } from './icons';
import { ShareDialog } from './menu';
import { useReorder } from './reorder';
import { SongRow } from './songs';

function NewPlaylist() {
  const [name, setName] = useState('');
  const [err, setErr] = useState<string | undefined>();
  return (
    <DialogFrame title="New playlist">
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const p = await createPlaylist(name.trim());
            closeDialog();
            navigate(`/playlist/${encodeURIComponent(p.id)}`);
          } catch (ex) {
            const fe = fieldErrors(ex, ['name']);
            setErr(fe.fields.name ?? fe.form);
          }
        }}
      >
        <Field label="Name" error={err}>
          {(id, d) => <input id={id} aria-describedby={d} value={name} onInput={(e) => setName(val(e))} autoFocus />}
        </Field>
        <div class="form-actions">
          <button type="button" class="btn ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button class="btn primary" type="submit" disabled={!name.trim()}>
            Create
          </button>
        </div>
      </form>
    </DialogFrame>
  );
}

export function PlaylistsView() {
  useEffect(() => void loadPlaylists(), []);
  const me = user.value?.id;
  const mine = playlists.value.filter((p) => p.ownerId === me);
  const others = playlists.value.filter((p) => p.ownerId !== me);
  const card = (p: Playlist) => (
    <li key={p.id}>
      <a class="album-card" href={href(`/playlist/${encodeURIComponent(p.id)}`)}>
        <Cover seed={p.name} size="lg" url={p.songIds[0] ? cache.get(p.songIds[0])?.coverUrl : undefined} />
        <span class="album-title">{p.name}</span>
        <span class="album-sub">
          {p.songCount} songs · {p.isPublic ? 'Public' : 'Private'}
          {p.ownerId !== me && p.ownerName ? ` · by ${p.ownerName}` : ''}
        </span>
      </a>
    </li>
  );
  return (
    <section class="page">
      <PageHead title="Playlists">
        <button type="button" class="btn primary" onClick={() => openDialog(<NewPlaylist />)} disabled={playlistsSupported.value === false}>
          <Icon name="plus" size={18} /> New playlist
        </button>
      </PageHead>
      {playlistsSupported.value === false ? (
        <Empty title="Playlists are on their way" icon="playlist">
          This server does not offer playlists yet.
        </Empty>
      ) : !playlists.value.length ? (
        <Empty title="No playlists yet" icon="playlist">
          Create one, or add songs from a song’s menu.
        </Empty>
      ) : (
        <>
          {mine.length > 0 && (
            <ul class="album-grid" aria-label="Your playlists">
              {mine.map(card)}
            </ul>
          )}
          {others.length > 0 && (
            <>
              <h2 class="section-title">Shared with you</h2>
              <ul class="album-grid" aria-label="Shared with you">
                {others.map(card)}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}

function ShareWithUsers({ p }: { p: Playlist }) {
  const [names, setNames] = useState(p.sharedWith.map((u) => u.username).join(', '));
  const [err, setErr] = useState<string | undefined>();
  return (
    <DialogFrame title="Share with people">
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const usernames = names
              .split(/[\s,]+/)
              .map((x) => x.trim())
              .filter(Boolean);
            const r = await api.call('playlist:shareWith', { playlistId: p.id, usernames });
            upsertPlaylist(r.playlist);
            closeDialog();
            toast('Sharing updated', 'success', 2000);
          } catch (ex) {
            const fe = fieldErrors(ex, ['usernames']);
            setErr(fe.fields.usernames ?? fe.form);
          }
        }}
      >
        <Field label="Usernames" error={err} hint="Separated by commas. They can listen; only you can edit.">
          {(id, d) => <input id={id} aria-describedby={d} value={names} onInput={(e) => setNames(val(e))} />}
        </Field>
        <div class="form-actions">
          <button type="button" class="btn ghost" onClick={closeDialog}>
            Cancel
          </button>
          <button class="btn primary" type="submit">
            Save
          </button>
        </div>
      </form>
    </DialogFrame>
  );
}

export function PlaylistView() {
  const id = route.value.parts[1] ?? '';
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState('');
  const [nameErr, setNameErr] = useState<string | undefined>();
  useEffect(() => {
    setLoaded(false);
    api
      .call('playlist:get', { playlistId: id })
      .then((r) => {
        cache.upsert(r.songs);
        upsertPlaylist(r.playlist);
        setLoaded(true);
      })
      .catch((e) => setError(e.userMessage ?? String(e)));
  }, [id]);
  const p = playlists.value.find((x) => x.id === id);
  useEffect(() => {
    if (p) void ensureSongs(p.songIds);
  }, [p?.songIds.join(',')]);
  void cacheVersion.value;
  const owner = p?.ownerId === user.value?.id;
  const reorder = async (from: number, to: number) => {
    if (!p || to < 0 || to >= p.songIds.length) return;
    const ids = [...p.songIds];
    const [x] = ids.splice(from, 1);
    ids.splice(to, 0, x);
    upsertPlaylist({ ...p, songIds: ids }); // optimistic
    try {
      const r = await api.call('playlist:reorder', { playlistId: p.id, songIds: ids });
      upsertPlaylist(r.playlist);
    } catch (e) {
      upsertPlaylist(p);
      reportError(e);
    }
  };
  const { listRef, handle, rowClass } = useReorder((a, b) => void reorder(a, b));
  if (error) return <Empty title="Playlist not available">{error}</Empty>;
  if (!p)
    return (
      <div class="center">
        <Spinner />
      </div>
    );
  const update = async (patch: { name?: string; isPublic?: boolean }) => {
    try {
      const r = await api.call('playlist:update', { playlistId: p.id, ...patch });
      upsertPlaylist(r.playlist);
      setRenaming(false);
      setNameErr(undefined);
    } catch (ex) {
      const fe = fieldErrors(ex, ['name']);
      if (patch.name !== undefined) setNameErr(fe.fields.name ?? fe.form);
      else reportError(ex);
    }
  };
  const ids = p.songIds;
  return (
    <section class="page">
      <div class="hero">
        <Cover seed={p.name} size="xl" url={ids[0] ? cache.get(ids[0])?.coverUrl : undefined} />
        <div class="hero-text">
          <span class="eyebrow">
            {p.isPublic ? 'Public playlist' : 'Private playlist'}
            {!owner && p.ownerName ? ` · by ${p.ownerName}` : ''}
          </span>
          {renaming ? (
            <form
              class="inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                void update({ name: name.trim() });
              }}
            >
              <Field label="Playlist name" error={nameErr}>
                {(fid, d) => <input id={fid} aria-describedby={d} value={name} onInput={(e) => setName(val(e))} autoFocus />}
              </Field>
              <button class="btn primary" type="submit">
                Save
              </button>
              <button class="btn ghost" type="button" onClick={() => setRenaming(false)}>
                Cancel
              </button>
            </form>
          ) : (
            <h1>{p.name}</h1>
          )}
          {p.description && <p class="sub">{p.description}</p>}
          <p class="sub">
            {p.songCount} songs · {fmtLong(p.durationMs)}
            {p.sharedWith.length ? ` · shared with ${p.sharedWith.map((u) => u.displayName || u.username).join(', ')}` : ''}
          </p>
          <div class="hero-actions">
            <button type="button" class="btn primary" onClick={() => playSongs(ids, 0)} disabled={!ids.length}>
              <Icon name="play" size={18} /> Play
            </button>
            <button type="button" class="btn" onClick={() => openDialog(<ShareDialog kind="playlist" id={p.id} title={p.name} />)}>
              <Icon name="link" size={18} /> Share link
            </button>
            {owner && (
              <>
                <button type="button" class="btn" onClick={() => openDialog(<ShareWithUsers p={p} />)}>
                  <Icon name="user" size={18} /> People
                </button>
                <button
                  type="button"
                  class="btn ghost"
                  onClick={() => {
                    setName(p.name);
                    setRenaming(true);
                  }}
                >
                  Rename
                </button>
                <label class="switch">
                  <input type="checkbox" checked={p.isPublic} onChange={(e) => void update({ isPublic: e.currentTarget.checked })} />
                  <span>Public</span>
                </label>
                <button
                  type="button"
                  class="btn ghost danger-text"
                  onClick={async () => {
                    if (!confirm(`Delete the playlist “${p.name}”?`)) return;
                    try {
                      await api.call('playlist:delete', { playlistId: p.id });
                      dropPlaylist(p.id);
                      navigate('/playlists');
                    } catch (e) {
                      reportError(e);
                    }
                  }}
                >
                  Delete
                </button>
              </>
            )}
          </div>
        </div>
      </div>
      {!loaded && !ids.length ? (
        <div class="center">
          <Spinner />
        </div>
      ) : !ids.length ? (
        <Empty title="This playlist is empty" icon="playlist">
          Add songs with “Add to playlist…” in a song’s menu.
        </Empty>
      ) : (
        <ul class="song-list" aria-label={`Songs of ${p.name}`} ref={listRef as preact.Ref<HTMLUListElement>}>
          {ids.map((sid, i) => {
            const s = cache.get(sid);
            if (!s)
              return (
                <li key={`${sid}-${i}`} class="song-row missing" data-row>
                  <span class="muted grow">Loading…</span>
                </li>
              );
            return (
              <SongRow
                key={`${sid}-${i}`}
                song={s}
                index={i}
                rowClass={rowClass(i)}
                lead={owner ? handle(i, s.title) : undefined}
                onPlay={() => playSongs(ids, i)}
                menuExtra={
                  owner
                    ? [
                        {
                          label: 'Remove from playlist',
                          run: async () => {
                            try {
                              const r = await api.call('playlist:removeSongs', { playlistId: p.id, indexes: [i] });
                              upsertPlaylist(r.playlist);
                            } catch (e) {
                              reportError(e);
                            }
                          },
                        },
                      ]
                    : undefined
                }
              />
            );
          })}
        </ul>
      )}
    </section>
  );
}
