// Payload shapes, as docs/protocol.md defines them (playlists and share links as agreed with the
// server side while that section is written). Times are Unix seconds.

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
  /** No account exists and a setup code waits on the server (auth:setup). */
  needsSetup?: boolean;
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
  track: number | null;
  trackTotal?: number | null;
  disc: number | null;
  discTotal?: number | null;
  year: number | null;
  genre: string;
  durationMs: number;
  bitrate: number | null;
  sampleRate?: number | null;
  channels?: number | null;
  sourceHash?: string;
  hash?: string;
  sizeBytes?: number;
  coverKey?: string | null;
  /** A same-origin `/art/...` URL or null. */
  coverUrl: string | null;
  albumId: string;
  artistId: string;
  uploaderId: string;
  originalName?: string;
  conversion?: unknown;
  playCount: number;
  createdAt: number;
  updatedAt: number;
  /** The signed-in user's own marks (left out of broadcasts, which go to everyone). */
  starred?: number | null;
  rating?: number | null;
}

/** A user's marks on a song (song:star / song:rate answers and song:marked pushes). */
export interface SongMarks {
  songId: string;
  starred: number | null;
  rating: number | null;
}

/** An app credential for the Subsonic API (the secret only in the answer that created it). */
export interface AppKey {
  id: string;
  label: string;
  kind: 'apiKey' | 'appPassword';
  createdAt: number;
  lastUsedAt?: number | null;
  secret?: string;
}

/** The editable tags of a song: song:update's `metadata` (and an upload's `metadata`). */
export interface SongMetadata {
  title?: string;
  artist?: string;
  album?: string;
  albumArtist?: string;
  genre?: string;
  year?: number | null;
  track?: number | null;
  trackTotal?: number | null;
  disc?: number | null;
  discTotal?: number | null;
}

export interface Album {
  id: string;
  name: string;
  artist: string;
  year: number | null;
  coverUrl: string | null;
  songCount: number;
  durationMs: number;
  /** In album:get only: when the signed-in user starred it. */
  starred?: number | null;
}

export interface Artist {
  id: string;
  name: string;
  albumCount: number;
  songCount: number;
}

/** Every list answer: `page` counts from 1; `version` is the library's change counter then. */
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
  version: number;
}

export type SongSort = 'title' | 'artist' | 'album' | 'year' | 'createdAt' | 'durationMs' | 'playCount';
export type SortOrder = 'asc' | 'desc';

export interface SongFilters {
  artist?: string;
  album?: string;
  albumId?: string;
  artistId?: string;
  genre?: string;
  year?: number;
  uploader?: string;
  search?: string;
}

export interface SongListQuery {
  filters?: SongFilters;
  sort?: SongSort;
  order?: SortOrder;
  page?: number;
  limit?: number;
}

export interface AlbumListQuery {
  search?: string;
  artistId?: string;
  sort?: 'name' | 'artist' | 'year' | 'createdAt';
  order?: SortOrder;
  page?: number;
  limit?: number;
}

export interface ArtistListQuery {
  search?: string;
  page?: number;
  limit?: number;
}

/** library:changes {since} -> everything that changed after `since` (a library version). */
export interface LibraryChanges {
  version: number;
  upserted: Song[];
  deleted: string[];
  /** true: `since` is older than the server's history; drop the cache and reload. */
  reset: boolean;
}

export interface LibraryStats {
  songs: number;
  albums: number;
  artists: number;
  durationMs: number;
  sizeBytes: number;
  version: number;
}

export interface PlayGrant {
  url: string;
  expiresAt: number;
  song: Song;
}

/** The per-user queue shared by all of that user's sessions (player:*). */
export interface ServerQueue {
  songIds: string[];
  /** An index into songIds, or null. */
  current: number | null;
  positionMs: number;
  playing: boolean;
  updatedAt: number;
}

export interface Listen {
  song: Song;
  playedAt: number;
  playedMs: number;
}

// ---- upload ----

export interface UploadFileSpec {
  name: string;
  size: number;
  sha256?: string;
  metadata?: SongMetadata;
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
  description: string;
  ownerId: string;
  ownerName: string;
  isPublic: boolean;
  songIds: string[];
  songCount: number;
  durationMs: number;
  sharedWith: PlaylistMember[];
  createdAt: number;
  updatedAt: number;
}

export type ShareKind = 'song' | 'album' | 'playlist';

/** A share link as share:list lists it (no token or URL there). */
export interface ShareInfo {
  shareId: string;
  kind: ShareKind;
  id: string;
  title: string;
  expiresAt: number | null;
  maxPlays: number | null;
  plays: number;
  createdAt: number;
}

/** share:create's answer: the only time the token and URL are shown. */
export interface Share extends ShareInfo {
  token: string;
  url: string;
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
  /** Ships with ChillFi (read-only folder): it can be disabled, not removed. */
  packaged?: boolean;
  /** Effective settings (plugin.toml defaults with the administrator's values), as strings. */
  config?: Record<string, string>;
  /** Host capabilities it asked for (`kv`, `http`). */
  capabilities?: string[];
  /** Hosts it asks to reach over HTTP (the `http` capability). */
  requestedHosts?: string[];
  /** Hosts an administrator granted by enabling it. */
  grantedHosts?: string[];
}

export interface UserStats {
  uploads: number;
  totalPlays: number;
  totalListeningMs: number;
  topSongs: { song: Song; plays: number }[];
  /** `artist` is the artist's name (an Artist record is accepted too). */
  topArtists: { artist: string | Artist; plays: number }[];
  recent: { song: Song; playedAt: number }[];
}
