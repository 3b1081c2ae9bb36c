// Typed requests over Socket.IO acks. Every request resolves with `data` or throws an ApiError.
import type {
  Album,
  AppKey,
  AlbumListQuery,
  Artist,
  ArtistListQuery,
  Health,
  LibraryChanges,
  LibraryStats,
  Listen,
  Page,
  PlayGrant,
  Playlist,
  PlaylistMember,
  Plugin,
  ServerInfo,
  ServerQueue,
  Share,
  ShareInfo,
  ShareKind,
  Song,
  SongListQuery,
  SongMarks,
  SongMetadata,
  TokenGrant,
  UploadChunkAck,
  UploadFileSpec,
  UploadProgress,
  UploadResult,
  UploadStatus,
  User,
  UserStats,
} from './types';
import { ApiError, transportError, unwrap } from './envelope';

type Empty = Record<string, never>;

/** event -> [payload, data] */
export interface Requests {
  'server:info': [Empty | undefined, ServerInfo];
  'auth:login': [{ username: string; password: string }, TokenGrant];
  'auth:setup': [{ code: string; username: string; password: string }, TokenGrant];
  'auth:useResetToken': [{ resetToken: string; newPassword: string }, TokenGrant];
  'auth:refresh': [Empty | undefined, TokenGrant];
  'auth:logout': [{ everywhere?: boolean } | undefined, Empty];
  'auth:changePassword': [{ currentPassword: string; newPassword: string }, TokenGrant];
  'auth:createUser': [
    { username: string; password?: string; isAdmin: boolean },
    { user: User; resetToken?: string; resetTokenExpiresAt?: number },
  ];
  'auth:resetPassword': [{ userId: string }, { resetToken: string; expiresAt: number }];
  'auth:setPassword': [{ userId: string; password: string }, { user: User }];
  'user:list': [Empty | undefined, { items: User[] }];
  'user:delete': [{ userId: string }, { userId: string }];
  'user:profile': [{ userId?: string } | undefined, { user: User }];
  'user:update': [{ displayName?: string; bio?: string }, { user: User }];
  'user:getStats': [{ userId?: string } | undefined, UserStats];

  // library (docs/protocol.md "The library", "Playback", "Editing")
  'song:list': [SongListQuery, Page<Song>];
  'song:get': [{ songId: string }, { song: Song }];
  'song:getMany': [{ ids: string[] }, { items: Song[]; missing: string[] }];
  'song:update': [{ songId: string; metadata: SongMetadata }, { song: Song }];
  'song:updateMany': [{ songIds: string[]; metadata: SongMetadata }, { items: Song[] }];
  'song:delete': [{ songId: string }, { songId: string }];
  'song:star': [{ songId: string }, SongMarks];
  'song:unstar': [{ songId: string }, SongMarks];
  'song:rate': [{ songId: string; rating: number }, SongMarks];
  'song:starred': [{ page?: number; limit?: number } | undefined, Page<Song>];
  'album:star': [{ albumId: string }, { albumId: string; starred: number | null }];
  'album:unstar': [{ albumId: string }, { albumId: string; starred: number | null }];
  'subsonic:createKey': [{ label: string; kind: AppKey['kind'] }, AppKey & { secret: string }];
  'subsonic:listKeys': [Empty | undefined, { items: AppKey[] }];
  'subsonic:revokeKey': [{ id: string }, { id: string }];
  'album:list': [AlbumListQuery, Page<Album>];
  'album:get': [{ albumId: string }, { album: Album; songs: Song[] }];
  'artist:list': [ArtistListQuery, Page<Artist>];
  'artist:get': [{ artistId: string }, { artist: Artist; albums: Album[]; songs: Song[] }];
  'library:stats': [Empty | undefined, LibraryStats];
  'library:changes': [{ since: number }, LibraryChanges];
  'user:getUploads': [{ userId?: string; page?: number; limit?: number }, Page<Song>];
  'song:play': [{ songId: string }, PlayGrant];
  'song:recordListen': [{ songId: string; playedMs?: number }, { playCount: number }];
  'song:getListens': [{ page?: number; limit?: number }, Page<Listen>];
  'player:queue': [Empty | undefined, ServerQueue];
  'player:addToQueue': [{ songIds: string[]; position?: number }, ServerQueue];
  'player:removeFromQueue': [{ indexes: number[] }, ServerQueue];
  'player:moveInQueue': [{ from: number; to: number }, ServerQueue];
  'player:clearQueue': [Empty | undefined, ServerQueue];
  'player:status': [{ current?: number | null; positionMs?: number; playing?: boolean }, ServerQueue];

  // upload
  'song:uploadInit': [{ files: UploadFileSpec[]; chunkSize?: number }, UploadStatus];
  'song:uploadChunk': [{ uploadId: string; fileId: string; index: number; data: ArrayBuffer }, UploadChunkAck];
  'song:uploadStatus': [{ uploadId: string }, UploadStatus];
  'song:uploadControl': [{ uploadId: string; fileId?: string; action: 'skip' | 'cancel' }, UploadStatus];

  // playlists & sharing
  'playlist:list': [Empty | undefined, { items: Playlist[] }];
  'playlist:get': [{ playlistId: string }, { playlist: Playlist; songs: Song[] }];
  'playlist:create': [{ name: string; description?: string; isPublic?: boolean; songIds?: string[] }, { playlist: Playlist }];
  'playlist:update': [{ playlistId: string; name?: string; description?: string; isPublic?: boolean }, { playlist: Playlist }];
  'playlist:delete': [{ playlistId: string }, { playlistId: string }];
  'playlist:addSongs': [{ playlistId: string; songIds: string[]; position?: number }, { playlist: Playlist }];
  'playlist:removeSongs': [{ playlistId: string; indexes: number[] }, { playlist: Playlist }];
  'playlist:reorder': [{ playlistId: string; songIds: string[] }, { playlist: Playlist }];
  'playlist:shareWith': [{ playlistId: string; usernames: string[] }, { playlist: Playlist }];
  'share:create': [{ kind: ShareKind; id: string; expiresAt?: number; maxPlays?: number }, Share];
  'share:list': [{ kind?: ShareKind; id?: string } | undefined, { items: ShareInfo[] }];
  'share:revoke': [{ shareId: string }, { shareId: string }];

  // plugins
  'plugin:list': [Empty | undefined, { items: Plugin[] }];
  'plugin:enable': [{ name: string; hosts?: string[] }, { plugin: Plugin }];
  'plugin:disable': [{ name: string }, { plugin: Plugin }];
  'plugin:remove': [{ name: string }, { items: Plugin[] }];
  'plugin:config': [{ name: string; values: Record<string, string> }, { plugin: Plugin }];
  'plugin:uploadInit': [{ name: string; size: number }, { uploadId: string; chunkSize: number }];
  'plugin:uploadChunk': [{ uploadId: string; index: number; data: ArrayBuffer }, { received: number }];
  'plugin:uploadFinish': [{ uploadId: string }, { plugin: Plugin; replaced: boolean }];
}

/** server -> client pushes */
export interface Pushes {
  'auth:session': { user: User | null; reason: null | 'invalid_token' };
  'auth:tokenRefresh': { token: string; expiresAt: number };
  'auth:revoked': Record<string, never>;
  'song:added': { song: Song; version: number };
  'song:updated': { song: Song; version: number };
  'song:deleted': { songId: string; version: number };
  'song:marked': SongMarks;
  'album:marked': { albumId: string; starred: number | null; rating: number | null };
  'player:queueUpdated': { queue: ServerQueue };
  'song:uploadProgress': UploadProgress;
  'song:uploadResult': UploadResult;
  'playlist:updated': { playlist: Playlist };
  'playlist:deleted': { playlistId: string };
  'playlist:shared': { playlist: Playlist; by: PlaylistMember | string | null };
  'user:updated': { user: User };
}

/** The transport an Api needs: satisfied by socket.io-client's Socket (and by fakes in tests). */
export interface AckTransport {
  readonly connected: boolean;
  timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
}

export const DEFAULT_TIMEOUT_MS = 15000;

export interface CallOpts {
  timeoutMs?: number;
}
type CallArgs<E extends keyof Requests> = undefined extends Requests[E][0]
  ? [payload?: Requests[E][0], opts?: CallOpts]
  : [payload: Requests[E][0], opts?: CallOpts];

export class Api {
  /** Called with every ApiError before it is thrown (the app uses it for `unauthenticated`). */
  onError?: (e: ApiError) => void;

  constructor(private readonly transport: () => AckTransport) {}

  async call<E extends keyof Requests>(
    event: E,
    ...args: CallArgs<E>
  ): Promise<Requests[E][1]> {
    const [payload, opts] = args;
    const t = this.transport();
    let raw: unknown;
    try {
      if (!t.connected) throw new ApiError('offline', 'Not connected to the server.', { event });
      raw = await t.timeout(opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS).emitWithAck(event, payload ?? {});
    } catch (e) {
      const err = transportError(e, event);
      this.onError?.(err);
      throw err;
    }
    try {
      return unwrap<Requests[E][1]>(raw, event);
    } catch (e) {
      if (e instanceof ApiError) this.onError?.(e);
      throw e;
    }
  }
}

export async function fetchHealth(base = ''): Promise<Health> {
  const r = await fetch(`${base}/api/health`, { cache: 'no-store' });
  const body: unknown = await r.json();
  // Bare JSON today; an envelope is accepted too.
  if (body && typeof body === 'object' && 'ok' in body) return unwrap<Health>(body, 'GET /api/health');
  return body as Health;
}
