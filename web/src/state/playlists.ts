// Playlists: the list, kept live by playlist:updated / playlist:deleted.
import { signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { Playlist } from '../api/types';
import { api, onPush, onReconnect, onSignIn, onSignOut, toast } from './session';

export const playlists = signal<Playlist[]>([]);
export const playlistsSupported = signal<boolean | null>(null);

/** Bumped on every change to `playlists`, so a list answer that raced one is not taken as is. */
let changes = 0;

export async function loadPlaylists(): Promise<void> {
  try {
    // A playlist created, edited or pushed while the list was on its way is newer than the
    // list: ask again rather than let the older answer overwrite it.
    for (let attempt = 0; attempt < 3; attempt++) {
      const seen = changes;
      const r = await api.call('playlist:list');
      playlistsSupported.value = true;
      if (seen === changes || attempt === 2) {
        playlists.value = r.items;
        changes++;
        return;
      }
    }
  } catch (e) {
    if (isUnknownEvent(e)) playlistsSupported.value = false;
  }
}

/** Adds or replaces a playlist; an older copy (a push overtaken by an answer) never wins. */
export function upsertPlaylist(p: Playlist): void {
  const prev = playlists.value.find((x) => x.id === p.id);
  if (prev && prev.updatedAt > p.updatedAt) return;
  changes++;
  playlists.value = prev ? playlists.value.map((x) => (x.id === p.id ? p : x)) : [...playlists.value, p];
}

export function dropPlaylist(id: string): void {
  changes++;
  playlists.value = playlists.value.filter((x) => x.id !== id);
}

export async function createPlaylist(name: string, songIds: string[] = []): Promise<Playlist> {
  const { playlist } = await api.call('playlist:create', { name, isPublic: false, songIds });
  upsertPlaylist(playlist);
  return playlist;
}

export async function addToPlaylist(playlistId: string, songIds: string[], position?: number): Promise<Playlist> {
  const { playlist } = await api.call('playlist:addSongs', { playlistId, songIds, position });
  upsertPlaylist(playlist);
  return playlist;
}

export function initPlaylists(): void {
  onPush('playlist:updated', (p) => upsertPlaylist(p.playlist));
  onPush('playlist:deleted', (p) => dropPlaylist(p.playlistId));
  onPush('playlist:shared', (p) => {
    if (!p?.playlist) return;
    const known = playlists.value.some((x) => x.id === p.playlist.id);
    upsertPlaylist(p.playlist);
    const by = typeof p.by === 'string' ? p.by : p.by?.displayName || p.by?.username || p.playlist.ownerName;
    if (!known) toast(`${by || 'Someone'} shared “${p.playlist.name}” with you`, 'info', 4000);
  });
  onSignIn(() => void loadPlaylists());
  onReconnect(() => void loadPlaylists());
  onSignOut(() => {
    playlists.value = [];
    playlistsSupported.value = null;
  });
}
