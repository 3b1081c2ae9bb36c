// Upload planning: chunking, resume from the server's status, stage bookkeeping. Pure.
import type { UploadStage } from '../api/types';

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export const AUDIO_EXTENSIONS = ['mp3', 'flac', 'ogg', 'oga', 'opus', 'm4a', 'aac', 'wav', 'aif', 'aiff', 'wma', 'ape', 'wv', 'mka'];

export function isAudioFile(name: string, type = ''): boolean {
  if (type.startsWith('audio/')) return true;
  const ext = name.toLowerCase().split('.').pop() ?? '';
  return AUDIO_EXTENSIONS.includes(ext);
}

export function chunkCount(size: number, chunkSize = DEFAULT_CHUNK_SIZE): number {
  if (size <= 0) return 0;
  return Math.ceil(size / chunkSize);
}

/** Byte range [start, end) of chunk `index`. */
export function chunkRange(index: number, size: number, chunkSize = DEFAULT_CHUNK_SIZE): [number, number] {
  const start = index * chunkSize;
  return [start, Math.min(size, start + chunkSize)];
}

/** The chunks still to send, in order, given those the server reports it has. */
export function missingChunks(size: number, chunkSize: number, received: readonly number[] = []): number[] {
  const have = new Set(received);
  const out: number[] = [];
  for (let i = 0; i < chunkCount(size, chunkSize); i++) if (!have.has(i)) out.push(i);
  return out;
}

/** Bytes already on the server given the received chunk indexes. */
export function receivedBytes(size: number, chunkSize: number, received: readonly number[] = []): number {
  const n = chunkCount(size, chunkSize);
  let bytes = 0;
  for (const i of new Set(received)) {
    if (i < 0 || i >= n) continue;
    const [a, b] = chunkRange(i, size, chunkSize);
    bytes += b - a;
  }
  return bytes;
}

export const TERMINAL: ReadonlySet<UploadStage> = new Set(['done', 'duplicate', 'failed', 'skipped', 'cancelled']);

export function isTerminal(stage: UploadStage): boolean {
  return TERMINAL.has(stage);
}

const ORDER: UploadStage[] = ['pending', 'checksum', 'uploading', 'queued', 'hashing', 'probing', 'converting', 'storing', 'indexing', 'done'];

/** A server stage name (song:uploadProgress) as a client stage. */
export function stageFromProgress(stage: string): UploadStage | null {
  if (stage === 'transfer' || stage === 'receiving') return 'uploading';
  return (['queued', 'hashing', 'probing', 'converting', 'storing', 'indexing'] as const).find((s) => s === stage) ?? null;
}

/** UploadStatus.files[].state (or an upload result status) as a client stage. */
export function stageFromState(state: string): UploadStage {
  switch (state) {
    case 'receiving':
      return 'uploading';
    case 'added':
      return 'done';
    case 'queued':
    case 'duplicate':
    case 'failed':
    case 'skipped':
    case 'cancelled':
      return state;
    default:
      return 'queued';
  }
}

/** The chunks to send when resuming: from the server's first missing one, minus those acked here. */
export function resumeChunks(chunks: number, firstMissing: number | null, ackedHere: readonly number[] = []): number[] {
  if (firstMissing == null) return [];
  const acked = new Set(ackedHere);
  const out: number[] = [];
  for (let i = firstMissing; i < chunks; i++) if (i === firstMissing || !acked.has(i)) out.push(i);
  return out;
}

/** A later stage never goes back (pushes can arrive after a status answer). Terminal is final. */
export function nextStage(cur: UploadStage, incoming: UploadStage): UploadStage {
  if (isTerminal(cur)) return cur;
  if (isTerminal(incoming)) return incoming;
  const a = ORDER.indexOf(cur);
  const b = ORDER.indexOf(incoming);
  return b >= a ? incoming : cur;
}

export function stageLabel(stage: UploadStage): string {
  switch (stage) {
    case 'pending':
      return 'Waiting';
    case 'checksum':
      return 'Checking';
    case 'uploading':
      return 'Uploading';
    case 'hashing':
      return 'Verifying';
    case 'indexing':
      return 'Indexing';
    case 'queued':
      return 'Queued';
    case 'probing':
      return 'Reading tags';
    case 'converting':
      return 'Converting';
    case 'storing':
      return 'Storing';
    case 'done':
      return 'Added';
    case 'duplicate':
      return 'Already in library';
    case 'failed':
      return 'Failed';
    case 'skipped':
      return 'Skipped';
    case 'cancelled':
      return 'Cancelled';
  }
}

/** Overall fraction 0..1 for a file: upload bytes count 80 %, server processing the rest. */
export function fileFraction(stage: UploadStage, sent: number, size: number): number {
  if (isTerminal(stage)) return 1;
  const up = size > 0 ? Math.min(1, sent / size) : 0;
  const post: Partial<Record<UploadStage, number>> = { queued: 0.82, hashing: 0.84, probing: 0.86, converting: 0.9, storing: 0.95, indexing: 0.98 };
  return post[stage] ?? up * 0.8;
}

/** Relative path for a dropped/picked file (folders keep their structure for tag guessing). */
export function displayPath(f: { name: string; webkitRelativePath?: string }, relative?: string): string {
  return relative || f.webkitRelativePath || f.name;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}
