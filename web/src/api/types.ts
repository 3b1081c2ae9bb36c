// Payload shapes. Auth/user/profile match docs/protocol.md; the rest are the shapes this client
// assumes for events the server is adding (listed in web/README.md). Times are Unix seconds.

export interface User {
  id: string;
  username: string;
  displayName: string;
  bio: string;
  isAdmin: boolean;
  hasPassword: boolean;
  createdAt: number;
}

export interface ServerInfo {
  name: string;
  version: string;
  hasUsers: boolean;
  user: User | null;
}

export interface TokenGrant {
  token: string;
  expiresAt: number;
  user: User;
}

export interface Health {
  status: 'ok' | 'degraded';
  version: string;
  uptimeSecs: number;
  storage: { backend: string; ok: boolean };
}

export interface Song {
  id: string;
  title: string;
  artist: string;
  album: string;
  albumArtist: string;
  albumId?: string;
  track: number | null;
  disc: number | null;
  year: number | null;
  genre: string;
  durationMs: number;
  bitrate: number | null;
  format?: string;
  coverUrl?: string | null;
  uploaderId: string;
  plays?: number;
  createdAt: number;
  updatedAt?: number;
}

/** The editable tag fields of a song (song:update's `patch`). */
export type SongPatch = Partial<Pick<Song, 'title' | 'artist' | 'album' | 'albumArtist' | 'track' | 'disc' | 'year' | 'genre'>>;

export interface Album {
  id: string;
  title: string;
  artist: string;
  year: number | null;
  coverUrl?: string | null;
  songCount: number;
  durationMs: number;
}

export interface Artist {
  id: string;
  name: string;
  albumCount: number;
  songCount: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total?: number;
  /** song:list: the library change-feed sequence this answer reflects (for library:changes). */
  cursor?: number;
}

export type SongSort = 'recent' | 'title' | 'artist' | 'album';

export interface ListQuery {
  query?: string;
  cursor?: string | null;
  limit?: number;
}

export interface SongListQuery extends ListQuery {
  sort?: SongSort;
  albumId?: string;
  artistId?: string;
}

/** library:changes {since} -> everything that changed after `since` (a server sequence number). */
export interface LibraryChanges {
  cursor: number;
  upserted: Song[];
  deleted: string[];
  /** true: `since` is too old for the server's log; drop the cache and reload. */
  reset?: boolean;
}

export interface PlayGrant {
  url: string;
  expiresAt: number;
  song: Song;
}

// ---- upload ----

export interface UploadFileSpec {
  name: string;
  size: number;
  sha256?: string;
  metadata?: SongPatch;
}

/** Client-side stages of a file, server stages (song:uploadProgress) and final states. */
export type UploadStage =
  | 'pending'
  | 'checksum'
  | 'uploading'
  | 'queued'
  | 'hashing'
  | 'probing'
  | 'converting'
  | 'storing'
  | 'indexing'
  | 'done'
  | 'duplicate'
  | 'failed'
  | 'skipped'
  | 'cancelled';

/** UploadStatus.files[].state (docs/protocol.md "Uploads"). */
export type UploadFileState = 'receiving' | 'queued' | 'added' | 'duplicate' | 'failed' | 'skipped' | 'cancelled';

export interface UploadResult {
  uploadId: string;
  fileId: string;
  name: string;
  status: 'added' | 'duplicate' | 'failed' | 'cancelled' | 'skipped';
  song?: Song;
  reason?: string;
}

export interface UploadStatusFile {
  fileId: string;
  name: string;
  size: number;
  chunks: number;
  state: UploadFileState;
  /** How many chunks the server has. */
  receivedChunks: number;
  /** The first chunk index the server lacks (null unless receiving). */
  firstMissing: number | null;
  coverFor?: string | null;
  coverFileId?: string | null;
  result?: UploadResult | null;
}

/** Answer of song:uploadInit, song:uploadStatus and song:uploadControl. */
export interface UploadStatus {
  uploadId: string;
  chunkSize: number;
  files: UploadStatusFile[];
}

export interface UploadChunkAck {
  index: number;
  receivedChunks?: number;
  nextMissing?: number | null;
  complete: boolean;
  /** Present when the file no longer receives (skipped, cancelled, failed…). */
  state?: UploadFileState;
}

export interface UploadProgress {
  uploadId: string;
  fileId: string;
  /** transfer (per chunk), then queued, hashing, probing, converting, storing, indexing */
  stage: 'transfer' | 'queued' | 'hashing' | 'probing' | 'converting' | 'storing' | 'indexing' | string;
  bytes: number;
  total: number;
}

// ---- playlists & sharing ----

export interface PlaylistMember {
  id: string;
  username: string;
  displayName: string;
}

export interface Playlist {
  id: string;
  name: string;
  ownerId: string;
  ownerName?: string;
  isPublic: boolean;
  songIds: string[];
  songCount: number;
  durationMs: number;
  sharedWith: PlaylistMember[];
  createdAt: number;
  updatedAt: number;
}

export type ShareKind = 'song' | 'album' | 'playlist';

export interface Share {
  token: string;
  url: string;
  kind: ShareKind;
  id: string;
  expiresAt: number | null;
  maxPlays: number | null;
  plays: number;
  createdAt: number;
}

// ---- plugins & stats ----

export interface PluginFault {
  at: number;
  message: string;
}

export interface Plugin {
  name: string;
  version: string;
  kind: 'enricher' | 'transcode-profile' | 'share-handler' | string;
  description?: string;
  enabled: boolean;
  faults: number;
  lastFault?: PluginFault | null;
  /** Set when the host disabled the plugin itself (too many faults). */
  disabledReason?: string | null;
}

export interface UserStats {
  totalPlays: number;
  totalListeningMs: number;
  uploads: number;
  topSongs: { song: Song; plays: number }[];
  topArtists: { artist: string; plays: number }[];
  recent: { song: Song; playedAt: number }[];
}
