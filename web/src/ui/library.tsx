// Library: songs (search as you type, infinite scroll), albums with covers, artists.
import { useEffect, useState } from 'preact/hooks';
import type { Album, Artist, Song } from '../api/types';
import { href, navigate, route } from '../router';
import {
  albumQuery,
  albums,
  artistQuery,
  artists,
  cache,
  cacheVersion,
  librarySupported,
  loadAlbums,
  reportError,
  loadArtists,
  loadSongs,
  setSongQuery,
  setSongSort,
  songOrder,
  songQuery,
  songSort,
  songs,
} from '../state/library';
import type { SongSort } from '../api/types';
import { albumStars, favourites, loadFavourites, marksSupported, toggleAlbumStar } from '../state/marks';
import { selection, setSelectMode } from '../state/selection';
import { api } from '../state/session';
import { playSongs } from '../state/player';
import { Cover, Empty, LoadMore, PageHead, Spinner, fmtLong, val } from './common';
import { Icon } from './icons';
import { ShareDialog } from './menu';
import { openDialog } from './common';
import { SongList } from './songs';

function Tabs() {
  const tab = route.value.parts[1] ?? 'songs';
  const t = (id: string, label: string) => (
    <a href={href(`/library/${id}`)} class={`tab ${tab === id ? 'active' : ''}`} aria-current={tab === id ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <nav class="tabs" aria-label="Library sections">
      {t('songs', 'Songs')}
      {t('albums', 'Albums')}
      {t('artists', 'Artists')}
      {t('favourites', 'Favourites')}
    </nav>
  );
}

function Unsupported() {
  return (
    <Empty title="The library is on its way" icon="library">
      This server does not offer the library yet. Songs, albums and artists will appear here as soon as it does.
    </Empty>
  );
}

/** Keyboards are for devices with a fine pointer that can hover: only there is the `/` hint useful. */
const HAS_KEYBOARD = '(hover: hover) and (pointer: fine) and (min-width: 761px)';

function useMedia(query: string): boolean {
  const mq = typeof matchMedia === 'function' ? matchMedia(query) : null;
  const [on, setOn] = useState(!!mq?.matches);
  useEffect(() => {
    if (!mq) return;
    const f = () => setOn(mq.matches);
    f();
    mq.addEventListener('change', f);
    return () => mq.removeEventListener('change', f);
  }, [query]);
  return on;
}

function SearchBox(props: { value: string; onInput: (v: string) => void; label: string }) {
  const keyboard = useMedia(HAS_KEYBOARD);
  return (
    <div class="search">
      <Icon name="search" size={18} />
      <input
        id="search"
        type="search"
        placeholder={keyboard ? `${props.label}  ( / )` : props.label}
        aria-label={props.label}
        value={props.value}
        onInput={(e) => props.onInput(val(e))}
        autocomplete="off"
      />
    </div>
  );
}

export function LibraryView() {
  const tab = route.value.parts[1] ?? 'songs';
  return (
    <section class="page">
      <PageHead title="Library">
        <Tabs />
      </PageHead>
      {tab === 'albums' ? <AlbumsGrid /> : tab === 'artists' ? <ArtistsList /> : tab === 'favourites' ? <FavouritesPane /> : <SongsPane />}
    </section>
  );
}

function SongsPane() {
  const st = songs.value;
  useEffect(() => {
    if (!st.ids.length && !st.loading && !st.done) void loadSongs(true);
  }, []);
  return (
    <>
      <div class="toolbar">
        <SearchBox value={songQuery.value} onInput={setSongQuery} label="Search songs, artists, albums" />
        <div class="sort">
          <select aria-label="Sort by" value={songSort.value} onChange={(e) => setSongSort((e.currentTarget as HTMLSelectElement).value as typeof songSort.value)}>
            <option value="createdAt">Recently added</option>
            <option value="title">Title</option>
            <option value="artist">Artist</option>
            <option value="album">Album</option>
            <option value="playCount">Most played</option>
            <option value="durationMs">Length</option>
          </select>
        </div>
        <button type="button" class="btn primary play-all" aria-label="Play all" disabled={!st.ids.length} onClick={() => playSongs(st.ids, 0)}>
          <Icon name="play" size={18} /> <span class="btn-label">Play all</span>
        </button>
        <button
          type="button"
          class={`btn select-toggle ${selection.value.mode ? 'on' : ''}`}
          aria-pressed={selection.value.mode}
          disabled={!st.ids.length}
          onClick={() => setSelectMode(!selection.value.mode)}
          aria-label="Select songs"
          title="Select songs"
        >
          <Icon name="check" size={20} />
        </button>
      </div>
      {librarySupported.value === false ? (
        <Unsupported />
      ) : st.ids.length ? (
        <>
          <SortHead />
          <SongList ids={st.ids} label="Songs" selectable />
          <LoadMore onMore={() => void loadSongs()} loading={st.loading} done={st.done} />
        </>
      ) : st.loading ? (
        <div class="center">
          <Spinner />
        </div>
      ) : songQuery.value ? (
        <Empty title="Nothing found" icon="search">
          No song matches “{songQuery.value}”.
        </Empty>
      ) : (
        <Empty title="No music yet" icon="upload">
          <a href="#/upload">Upload some songs</a> — drop files or whole folders.
        </Empty>
      )}
    </>
  );
}

function FavouritesPane() {
  const f = favourites.value;
  useEffect(() => void loadFavourites(), []);
  if (marksSupported.value === false) return <Unsupported />;
  if (!f.loaded)
    return (
      <div class="center">
        <Spinner />
      </div>
    );
  if (!f.ids.length)
    return (
      <Empty title="No favourites yet" icon="heart-outline">
        Tap the heart on a song, or choose “Add to favourites” in its menu, to keep it here.
      </Empty>
    );
  return (
    <>
      <div class="toolbar">
        <p class="muted grow">
          {f.ids.length === 1 ? '1 favourite' : `${f.ids.length} favourites`}, the latest first
        </p>
        <button type="button" class="btn primary play-all" aria-label="Play all favourites" onClick={() => playSongs(f.ids, 0)}>
          <Icon name="play" size={18} /> <span class="btn-label">Play all</span>
        </button>
      </div>
      <SongList ids={f.ids} label="Favourite songs" selectable />
    </>
  );
}

/** The order a sort starts in when the server is not told (as the server decides it). */
const DESC_FIRST: readonly SongSort[] = ['createdAt', 'playCount'];

/** Column headers over the desktop song list: a click sorts by it, a second click reverses. */
function SortHead() {
  const sort = songSort.value;
  const order = songOrder.value ?? (DESC_FIRST.includes(sort) ? 'desc' : 'asc');
  const col = (key: SongSort, label: string, cls: string) => {
    const active = sort === key;
    return (
      <button
        type="button"
        class={`sort-col ${cls} ${active ? 'active' : ''}`}
        aria-pressed={active}
        aria-label={`Sort by ${label.toLowerCase()}${active ? (order === 'asc' ? ', ascending' : ', descending') : ''}`}
        onClick={() => setSongSort(key, active ? (order === 'asc' ? 'desc' : 'asc') : null)}
      >
        {label}
        {active && <Icon name={order === 'asc' ? 'up' : 'down'} size={14} />}
      </button>
    );
  };
  return (
    <div class="song-head" role="group" aria-label="Sort songs">
      <span class="song-head-lead" />
      <span class="song-head-main">
        {col('title', 'Title', 'col-title')}
        {col('artist', 'Artist', 'col-artist')}
      </span>
      {col('album', 'Album', 'col-album')}
      {col('durationMs', 'Time', 'col-dur')}
      <span class="song-head-trail" />
    </div>
  );
}

function AlbumsGrid() {
  const st = albums.value;
  const [q, setQ] = useState(albumQuery.value);
  useEffect(() => void loadAlbums(!st.ids.length), []);
  useEffect(() => {
    const t = setTimeout(() => {
      if (albumQuery.value !== q) {
        albumQuery.value = q;
        void loadAlbums(true);
      }
    }, 200);
    return () => clearTimeout(t);
  }, [q]);
  return (
    <>
      <div class="toolbar">
        <SearchBox value={q} onInput={setQ} label="Search albums" />
      </div>
      {librarySupported.value === false ? (
        <Unsupported />
      ) : st.ids.length ? (
        <>
          <ul class="album-grid" aria-label="Albums">
            {st.ids.map((a) => (
              <li key={a.id}>
                <a class="album-card" href={href(`/album/${encodeURIComponent(a.id)}`)}>
                  <Cover url={a.coverUrl} seed={a.name} size="lg" />
                  <span class="album-title">{a.name || 'Unknown album'}</span>
                  <span class="album-sub">
                    {a.artist || 'Unknown artist'}
                    {a.year ? ` · ${a.year}` : ''}
                  </span>
                </a>
              </li>
            ))}
          </ul>
          <LoadMore onMore={() => void loadAlbums()} loading={st.loading} done={st.done} />
        </>
      ) : st.loading ? (
        <div class="center">
          <Spinner />
        </div>
      ) : (
        <Empty title="No albums" icon="disc" />
      )}
    </>
  );
}

function ArtistsList() {
  const st = artists.value;
  const [q, setQ] = useState(artistQuery.value);
  useEffect(() => void loadArtists(!st.ids.length), []);
  useEffect(() => {
    const t = setTimeout(() => {
      if (artistQuery.value !== q) {
        artistQuery.value = q;
        void loadArtists(true);
      }
    }, 200);
    return () => clearTimeout(t);
  }, [q]);
  return (
    <>
      <div class="toolbar">
        <SearchBox value={q} onInput={setQ} label="Search artists" />
      </div>
      {librarySupported.value === false ? (
        <Unsupported />
      ) : st.ids.length ? (
        <>
          <ul class="artist-list" aria-label="Artists">
            {st.ids.map((a) => (
              <li key={a.id}>
                <a class="artist-row" href={href(`/artist/${encodeURIComponent(a.id)}?name=${encodeURIComponent(a.name)}`)}>
                  <Cover seed={a.name} size="sm" />
                  <span class="grow">
                    <span class="song-title">{a.name || 'Unknown artist'}</span>
                    <span class="song-sub">
                      {a.albumCount} albums · {a.songCount} songs
                    </span>
                  </span>
                </a>
              </li>
            ))}
          </ul>
          <LoadMore onMore={() => void loadArtists()} loading={st.loading} done={st.done} />
        </>
      ) : st.loading ? (
        <div class="center">
          <Spinner />
        </div>
      ) : (
        <Empty title="No artists" icon="user" />
      )}
    </>
  );
}

export function AlbumView() {
  const albumId = route.value.parts[1] ?? '';
  const [album, setAlbum] = useState<Album | null>(null);
  const [ids, setIds] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .call('album:get', { albumId })
      .then((r) => {
        cache.upsert(r.songs);
        setAlbum(r.album);
        albumStars.value = { ...albumStars.value, [r.album.id]: r.album.starred ?? null };
        setIds(r.songs.map((s) => s.id));
      })
      .catch((e) => setError(e.userMessage ?? String(e)));
  }, [albumId]);
  void cacheVersion.value;
  const present = ids.filter((id) => cache.has(id));
  if (error) return <Empty title="Album not available">{error}</Empty>;
  if (!album)
    return (
      <div class="center">
        <Spinner />
      </div>
    );
  return (
    <section class="page">
      <div class="hero">
        <Cover url={album.coverUrl} seed={album.name} size="xl" label={`Cover of ${album.name}`} />
        <div class="hero-text">
          <span class="eyebrow">Album</span>
          <h1>{album.name || 'Unknown album'}</h1>
          <p class="sub">
            {album.artist || 'Unknown artist'}
            {album.year ? ` · ${album.year}` : ''} · {album.songCount} songs · {fmtLong(album.durationMs)}
          </p>
          <div class="hero-actions">
            <button type="button" class="btn primary" onClick={() => playSongs(present, 0)} disabled={!present.length}>
              <Icon name="play" size={18} /> Play
            </button>
            <button type="button" class="btn" onClick={() => openDialog(<ShareDialog kind="album" id={album.id} title={album.name} />)}>
              <Icon name="link" size={18} /> Share
            </button>
            <AlbumHeart album={album} />
          </div>
        </div>
      </div>
      <SongList ids={present} label={`Songs of ${album.name}`} showAlbum={false} />
    </section>
  );
}

function AlbumHeart({ album }: { album: Album }) {
  const on = !!albumStars.value[album.id];
  return (
    <button
      type="button"
      class={`btn heart ${on ? 'on' : ''}`}
      aria-pressed={on}
      aria-label={`Favourite album ${album.name || 'Unknown album'}`}
      title={on ? 'Remove from favourites' : 'Add to favourites'}
      onClick={() => toggleAlbumStar(album.id, on).catch(reportError)}
    >
      <Icon name={on ? 'heart' : 'heart-outline'} size={18} />
    </button>
  );
}

export function ArtistView() {
  const artistId = route.value.parts[1] ?? '';
  const [artist, setArtist] = useState<Artist | null>(null);
  const [albumList, setAlbumList] = useState<Album[]>([]);
  const [ids, setIds] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setIds(null);
    setError(null);
    api
      .call('artist:get', { artistId })
      .then((r) => {
        cache.upsert(r.songs);
        setArtist(r.artist);
        setAlbumList(r.albums);
        setIds(r.songs.map((s: Song) => s.id));
      })
      .catch((e) => setError(e.userMessage ?? String(e)));
  }, [artistId]);
  void cacheVersion.value;
  const present = (ids ?? []).filter((id) => cache.has(id));
  const name = artist?.name ?? route.value.query.get('name') ?? '';
  if (error) return <Empty title="Artist not available">{error}</Empty>;
  return (
    <section class="page">
      <PageHead
        title={name || 'Artist'}
        sub={artist ? `${artist.albumCount} albums · ${artist.songCount} songs` : undefined}
      >
        <button type="button" class="btn primary" onClick={() => playSongs(present, 0)} disabled={!present.length}>
          <Icon name="play" size={18} /> Play
        </button>
        <button type="button" class="btn ghost" onClick={() => navigate('/library/artists')}>
          All artists
        </button>
      </PageHead>
      {ids === null ? (
        <div class="center">
          <Spinner />
        </div>
      ) : (
        <>
          {albumList.length > 0 && (
            <ul class="album-grid" aria-label={`Albums by ${name}`}>
              {albumList.map((a) => (
                <li key={a.id}>
                  <a class="album-card" href={href(`/album/${encodeURIComponent(a.id)}`)}>
                    <Cover url={a.coverUrl} seed={a.name} size="lg" />
                    <span class="album-title">{a.name || 'Unknown album'}</span>
                    <span class="album-sub">
                      {a.year ? `${a.year} · ` : ''}
                      {a.songCount} songs
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          )}
          <SongList ids={present} label={`Songs by ${name}`} />
        </>
      )}
    </section>
  );
}
