// Playlists: the list, kept live by playlist:updated / playlist:deleted.
import { signal } from '@preact/signals';
import { isUnknownEvent } from '../api/envelope';
import type { Playlist } from '../api/types';
import { api, onPush, onReconnect, onSignIn, onSignOut, toast } from './session';

export const playlists = signal<Playlist[]>([]);
export const playlistsSupported = signal<boolean | null>(null);

/** Counts local changes; each playlist remembers the change that last touched it here. */
let changes = 0;
const touchedAt = new Map<string, number>();

/**
 * A list answer merged with what changed here after its request left: those playlists (created,
 * edited, pushed or deleted meanwhile) keep their newer local state; the rest is the answer's.
 */
export function mergeListAnswer(
  answer: Playlist[],
  current: Playlist[],
  changedSince: (id: string) => boolean,
): Playlist[] {
  const local = new Map(current.map((p) => [p.id, p]));
  const next: Playlist[] = [];
  for (const p of answer) {
    if (!changedSince(p.id)) next.push(p);
    else {
      const mine = local.get(p.id);
      if (mine) next.push(mine.updatedAt >= p.updatedAt ? mine : p);
    }
  }
  const answered = new Set(answer.map((p) => p.id));
  for (const p of current) if (changedSince(p.id) && !answered.has(p.id)) next.push(p);
  return next;
}

export async function loadPlaylists(): Promise<void> {
  try {
    const sent = changes;
    const r = await api.call('playlist:list');
    playlistsSupported.value = true;
    playlists.value = mergeListAnswer(r.items, playlists.value, (id) => (touchedAt.get(id) ?? -1) > sent);
  } catch (e) {
    if (isUnknownEvent(e)) playlistsSupported.value = false;
  }
}

/** Adds or replaces a playlist; an older copy (a push overtaken by an answer) never wins. */
export function upsertPlaylist(p: Playlist): void {
  const prev = playlists.value.find((x) => x.id === p.id);
  if (prev && prev.updatedAt > p.updatedAt) return;
  touchedAt.set(p.id, ++changes);
  playlists.value = prev ? playlists.value.map((x) => (x.id === p.id ? p : x)) : [...playlists.value, p];
}

export function dropPlaylist(id: string): void {
  touchedAt.set(id, ++changes);
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
    touchedAt.clear();
    playlistsSupported.value = null;
  });
}
