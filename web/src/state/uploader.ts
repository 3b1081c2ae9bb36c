// Runs uploads: song:uploadInit, then ~1 MiB binary chunks acked one by one, progress pushes,
// resume after a reconnect from song:uploadStatus, skip/cancel through song:uploadControl.
import { signal } from '@preact/signals';
import type { Api } from '../api/api';
import { ApiError } from '../api/envelope';
import type { SongMetadata, UploadProgress, UploadResult, UploadStage, UploadStatus } from '../api/types';
import {
  DEFAULT_CHUNK_SIZE,
  chunkRange,
  isTerminal,
  missingChunks,
  nextStage,
  receivedBytes,
  resumeChunks,
  stageFromProgress,
  stageFromState,
} from './uploadPlan';

export interface UploadEntry {
  key: string;
  file: Blob;
  name: string;
  path: string;
  size: number;
  metadata?: SongMetadata;
  stage: UploadStage;
  sent: number;
  reason?: string;
  songId?: string;
  uploadId?: string;
  fileId?: string;
  chunkSize: number;
  /** Chunk indexes acknowledged to this page. */
  received: number[];
  /** Set after a reconnect: exactly the chunks to send (from the server's firstMissing). */
  plan?: number[];
}

const HASH_LIMIT = 256 * 1024 * 1024;
let keySeq = 0;

export class Uploader {
  readonly entries = signal<UploadEntry[]>([]);
  readonly paused = signal(false);
  private running = false;

  constructor(private readonly api: Api, private readonly hash = sha256Hex) {}

  add(files: { file: Blob; name: string; path: string }[]): void {
    const add = files.map<UploadEntry>((f) => ({
      key: `u${++keySeq}`,
      file: f.file,
      name: f.name,
      path: f.path,
      size: f.file.size,
      stage: f.file.size > 0 ? 'pending' : 'failed',
      reason: f.file.size > 0 ? undefined : 'The file is empty.',
      sent: 0,
      chunkSize: DEFAULT_CHUNK_SIZE,
      received: [],
    }));
    this.entries.value = [...this.entries.value, ...add];
  }

  setMetadata(key: string, metadata: SongMetadata): void {
    this.patch(key, { metadata });
  }

  remove(key: string): void {
    this.entries.value = this.entries.value.filter((e) => e.key !== key || (!isTerminal(e.stage) && e.uploadId));
  }

  clearFinished(): void {
    this.entries.value = this.entries.value.filter((e) => !isTerminal(e.stage));
  }

  get busy(): boolean {
    return this.running;
  }

  private patch(key: string, p: Partial<UploadEntry>): void {
    this.entries.value = this.entries.value.map((e) => (e.key === key ? { ...e, ...p } : e));
  }

  private get(key: string): UploadEntry | undefined {
    return this.entries.value.find((e) => e.key === key);
  }

  /** Starts every pending file: hashes, one song:uploadInit for the batch, then the bytes. */
  async start(): Promise<void> {
    const pending = this.entries.value.filter((e) => e.stage === 'pending' && !e.uploadId);
    if (pending.length) {
      for (const e of pending) {
        if (e.size <= HASH_LIMIT) {
          this.patch(e.key, { stage: 'checksum' });
          try {
            const sha = await this.hash(e.file);
            (e as UploadEntry & { sha256?: string }).sha256 = sha;
          } catch {
            /* hashing is optional */
          }
        }
      }
      try {
        const res = await this.api.call('song:uploadInit', {
          files: pending.map((e) => ({
            name: e.path,
            size: e.size,
            sha256: (e as UploadEntry & { sha256?: string }).sha256,
            metadata: e.metadata,
          })),
        });
        this.applyStatus(res, pending.map((e) => e.key));
      } catch (err) {
        const msg = err instanceof ApiError ? err.userMessage : String(err);
        for (const e of pending) this.patch(e.key, { stage: 'failed', reason: msg });
        throw err;
      }
    }
    await this.pump();
  }

  /** Sends the missing chunks of every file that has bytes to send, one file at a time. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.paused.value = false;
    try {
      for (;;) {
        const e = this.entries.value.find((x) => x.uploadId && x.fileId && x.stage === 'uploading');
        if (!e) break;
        const ok = await this.sendFile(e.key);
        if (!ok) {
          this.paused.value = true;
          break;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** false: the connection dropped; resume() continues later. */
  private async sendFile(key: string): Promise<boolean> {
    const e0 = this.get(key);
    if (!e0 || !e0.uploadId || !e0.fileId) return true;
    const todo = e0.plan ?? missingChunks(e0.size, e0.chunkSize, e0.received);
    for (const index of todo) {
      const e = this.get(key);
      if (!e || e.stage !== 'uploading') return true; // skipped, cancelled or finished meanwhile
      const [a, b] = chunkRange(index, e.size, e.chunkSize);
      const data = await e.file.slice(a, b).arrayBuffer();
      let ack;
      try {
        ack = await this.api.call(
          'song:uploadChunk',
          { uploadId: e.uploadId!, fileId: e.fileId!, index, data },
          { timeoutMs: 60000 },
        );
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'offline' || err.code === 'timeout')) return false;
        const cur = this.get(key);
        if (cur && !isTerminal(cur.stage))
          this.patch(key, { stage: 'failed', reason: err instanceof ApiError ? err.userMessage : String(err) });
        return true;
      }
      const cur = this.get(key);
      if (!cur) return true;
      const received = [...cur.received, index];
      this.patch(key, { received, sent: Math.max(cur.sent, receivedBytes(cur.size, cur.chunkSize, received)) });
      // The file stopped receiving on the server (skipped, cancelled, failed elsewhere).
      if (ack?.state && ack.state !== 'receiving') {
        const latest = this.get(key);
        if (latest && !isTerminal(latest.stage)) this.patch(key, { stage: nextStage(latest.stage, stageFromState(ack.state)) });
        return true;
      }
      if (ack?.complete) break;
    }
    const cur = this.get(key);
    if (cur && cur.stage === 'uploading') this.patch(key, { stage: 'queued', sent: cur.size, plan: undefined });
    return true;
  }

  private find(uploadId: string, fileId: string): UploadEntry | undefined {
    return this.entries.value.find((x) => x.uploadId === uploadId && x.fileId === fileId);
  }

  /** A song:uploadProgress push: transfer bytes, then the server's processing stages. */
  onProgress(p: UploadProgress): void {
    const e = this.find(p.uploadId, p.fileId);
    if (!e) return;
    const incoming = stageFromProgress(p.stage);
    const sent = Math.max(e.sent, Math.min(p.bytes ?? 0, e.size));
    // While we are still sending, 'transfer' pushes only move the bytes.
    const stage = incoming && incoming !== 'uploading' ? nextStage(e.stage, incoming) : e.stage;
    this.patch(e.key, { stage, sent });
  }

  /** A song:uploadResult push: the file's final outcome. */
  onResult(r: UploadResult): void {
    const e = this.find(r.uploadId, r.fileId);
    if (!e) return;
    this.patch(e.key, {
      stage: stageFromState(r.status),
      sent: e.size,
      songId: r.song?.id ?? e.songId,
      reason: r.reason ?? e.reason,
    });
  }

  /** Merges an UploadStatus (init, status, control) into the entries; `keys` maps init order. */
  private applyStatus(st: UploadStatus, keys?: string[]): void {
    const chunkSize = st.chunkSize > 0 ? st.chunkSize : DEFAULT_CHUNK_SIZE;
    st.files.forEach((f, i) => {
      if (f.coverFor) return; // a cover travels as its own file; not shown as a row
      const e = keys ? this.get(keys[i]) : this.find(st.uploadId, f.fileId);
      if (!e) return;
      const result = f.result;
      let stage: UploadStage = result ? stageFromState(result.status) : stageFromState(f.state);
      if (!keys) {
        if (isTerminal(e.stage)) stage = e.stage; // decided here already (e.g. skipped)
        else if (stage !== 'uploading' && !isTerminal(stage)) stage = nextStage(e.stage === 'uploading' ? 'queued' : e.stage, stage);
      }
      const plan = f.state === 'receiving' ? resumeChunks(f.chunks, f.firstMissing ?? 0, keys ? [] : e.received) : undefined;
      this.patch(e.key, {
        uploadId: st.uploadId,
        fileId: f.fileId,
        chunkSize,
        stage,
        plan: keys ? undefined : plan,
        sent: isTerminal(stage) || stage !== 'uploading' ? e.size : Math.min(e.size, f.receivedChunks * chunkSize),
        songId: result?.song?.id ?? e.songId,
        reason: result?.reason ?? e.reason,
      });
    });
    if (keys) for (const k of keys.slice(st.files.length)) this.patch(k, { stage: 'failed', reason: 'The server did not accept this file.' });
  }

  /** After a reconnect: ask the server what it has, then send the rest (from firstMissing). */
  async resume(): Promise<void> {
    const open = this.entries.value.filter((e) => e.uploadId && !isTerminal(e.stage));
    const ids = [...new Set(open.map((e) => e.uploadId!))];
    for (const uploadId of ids) {
      try {
        this.applyStatus(await this.api.call('song:uploadStatus', { uploadId }));
      } catch (err) {
        if (err instanceof ApiError && err.code === 'not_found') {
          for (const e of open.filter((x) => x.uploadId === uploadId))
            this.patch(e.key, { stage: 'failed', reason: 'The server no longer knows this upload.' });
        } else return;
      }
    }
    await this.pump();
  }

  async skip(key: string): Promise<void> {
    const e = this.get(key);
    if (!e) return;
    if (!e.uploadId) return this.patch(key, { stage: 'skipped' });
    this.patch(key, { stage: 'skipped' });
    await this.api.call('song:uploadControl', { uploadId: e.uploadId, fileId: e.fileId, action: 'skip' }).catch(() => {});
  }

  async cancelAll(): Promise<void> {
    const open = this.entries.value.filter((e) => !isTerminal(e.stage));
    const ids = [...new Set(open.map((e) => e.uploadId).filter(Boolean) as string[])];
    for (const e of open) this.patch(e.key, { stage: 'cancelled' });
    for (const uploadId of ids) await this.api.call('song:uploadControl', { uploadId, action: 'cancel' }).catch(() => {});
  }
}

export async function sha256Hex(b: Blob): Promise<string> {
  const buf = await b.arrayBuffer();
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, '0')).join('');
}
