import { describe, expect, it, vi } from 'vitest';
import { Api } from '../src/api/api';
import {
  chunkCount,
  chunkRange,
  fileFraction,
  isAudioFile,
  missingChunks,
  nextStage,
  receivedBytes,
  resumeChunks,
  stageFromProgress,
  stageFromState,
} from '../src/state/uploadPlan';
import { Uploader } from '../src/state/uploader';

const MiB = 1024 * 1024;

describe('chunk planning', () => {
  it('splits into ~1 MiB chunks', () => {
    expect(chunkCount(0)).toBe(0);
    expect(chunkCount(1)).toBe(1);
    expect(chunkCount(MiB)).toBe(1);
    expect(chunkCount(MiB + 1)).toBe(2);
    expect(chunkRange(1, 2.5 * MiB, MiB)).toEqual([MiB, 2 * MiB]);
    expect(chunkRange(2, 2.5 * MiB, MiB)).toEqual([2 * MiB, 2.5 * MiB]);
  });
  it('resumes from what the server has', () => {
    expect(missingChunks(5 * MiB, MiB, [0, 2, 2, 9])).toEqual([1, 3, 4]);
    expect(receivedBytes(2.5 * MiB, MiB, [2, 0, 0])).toBe(1.5 * MiB);
  });
  it('stages only move forward; terminal is final', () => {
    expect(nextStage('converting', 'uploading')).toBe('converting');
    expect(stageFromProgress('transfer')).toBe('uploading');
    expect(stageFromProgress('indexing')).toBe('indexing');
    expect(stageFromProgress('weird')).toBe(null);
    expect(stageFromState('added')).toBe('done');
    expect(stageFromState('receiving')).toBe('uploading');
    expect(resumeChunks(5, 2, [3])).toEqual([2, 4]);
    expect(resumeChunks(5, null)).toEqual([]);
    expect(nextStage('uploading', 'storing')).toBe('storing');
    expect(nextStage('done', 'failed')).toBe('done');
    expect(nextStage('probing', 'failed')).toBe('failed');
    expect(fileFraction('uploading', 50, 100)).toBeCloseTo(0.4);
    expect(fileFraction('duplicate', 0, 100)).toBe(1);
  });
  it('recognises audio files', () => {
    expect(isAudioFile('a/b/Song.FLAC')).toBe(true);
    expect(isAudioFile('cover.jpg')).toBe(false);
    expect(isAudioFile('x', 'audio/mpeg')).toBe(true);
  });
});

/** A fake server speaking docs/protocol.md "Uploads" (chunkSize 4 for small test files). */
function fakeServer(opts: { dropAfter?: number; duplicateIndex?: number } = {}) {
  const got = new Map<string, Set<number>>();
  const files = new Map<string, { size: number; chunks: number; name: string; state: string }>();
  let chunkCalls = 0;
  const state = { connected: true, dropped: false };
  const CS = 4;
  const status = () => ({
    uploadId: 'up1',
    chunkSize: CS,
    files: [...files].map(([fileId, f]) => {
      const r = got.get(fileId) ?? new Set<number>();
      let firstMissing: number | null = null;
      for (let i = 0; i < f.chunks; i++) if (!r.has(i)) { firstMissing = i; break; }
      return { fileId, name: f.name, size: f.size, chunks: f.chunks, state: f.state, receivedChunks: r.size, firstMissing: f.state === 'receiving' ? firstMissing : null, coverFor: null, coverFileId: null, result: null };
    }),
  });
  const handle = async (event: string, p: any): Promise<unknown> => {
    switch (event) {
      case 'song:uploadInit':
        p.files.forEach((f: any, i: number) =>
          files.set(`f${i}`, { size: f.size, chunks: Math.ceil(f.size / CS), name: f.name, state: i === opts.duplicateIndex ? 'duplicate' : 'receiving' }),
        );
        return { ok: true, data: status() };
      case 'song:uploadChunk': {
        chunkCalls++;
        if (opts.dropAfter != null && chunkCalls > opts.dropAfter && !state.dropped) {
          state.connected = false;
          state.dropped = true;
          throw new Error('socket has been disconnected');
        }
        expect(p.data).toBeInstanceOf(ArrayBuffer);
        const f = files.get(p.fileId)!;
        if (f.state !== 'receiving') return { ok: true, data: { index: p.index, state: f.state, complete: true } };
        const s = got.get(p.fileId) ?? new Set();
        s.add(p.index);
        got.set(p.fileId, s);
        const complete = s.size === f.chunks;
        if (complete) f.state = 'queued';
        return { ok: true, data: { index: p.index, receivedChunks: s.size, nextMissing: null, complete } };
      }
      case 'song:uploadStatus':
        return { ok: true, data: status() };
      case 'song:uploadControl':
        if (p.fileId) files.get(p.fileId)!.state = p.action === 'skip' ? 'skipped' : 'cancelled';
        return { ok: true, data: status() };
    }
    return { ok: false, error: { code: 'invalid', message: `unknown event '${event}'` } };
  };
  const emitWithAck = vi.fn(handle);
  const transport = {
    get connected() {
      return state.connected;
    },
    timeout: () => ({ emitWithAck: (e: string, p: unknown) => emitWithAck(e, p) }),
  };
  return { api: new Api(() => transport), got, state, emitWithAck, files };
}

const blob = (s: string) => new Blob([s]);

describe('Uploader', () => {
  it('sends every chunk once and marks duplicates', async () => {
    const srv = fakeServer({ duplicateIndex: 1 });
    const u = new Uploader(srv.api, async () => 'abc');
    u.add([
      { file: blob('0123456789'), name: 'a.flac', path: 'x/a.flac' },
      { file: blob('zz'), name: 'b.mp3', path: 'b.mp3' },
    ]);
    await u.start();
    expect([...srv.got.get('f0')!].sort()).toEqual([0, 1, 2]);
    expect(srv.got.has('f1')).toBe(false);
    const [a, b] = u.entries.value;
    expect(a.stage).toBe('queued');
    expect(a.sent).toBe(10);
    expect(b.stage).toBe('duplicate');
    const init = srv.emitWithAck.mock.calls.find((c) => c[0] === 'song:uploadInit')![1] as any;
    expect(init.files[0]).toMatchObject({ name: 'x/a.flac', size: 10, sha256: 'abc' });
  });

  it('pauses on disconnect and resumes from song:uploadStatus', async () => {
    const srv = fakeServer({ dropAfter: 2 });
    const u = new Uploader(srv.api, async () => 'h');
    u.add([{ file: blob('0123456789abcdef'), name: 'a.flac', path: 'a.flac' }]); // 4 chunks of 4
    await u.start();
    expect(u.paused.value).toBe(true);
    expect(u.entries.value[0].stage).toBe('uploading');
    srv.state.connected = true;
    await u.resume();
    const chunks = srv.emitWithAck.mock.calls.filter((c) => c[0] === 'song:uploadChunk').map((c) => (c[1] as any).index);
    // chunks 0 and 1 were acked before the drop; 2 failed and is resent; none is sent twice after resume
    expect(chunks).toEqual([0, 1, 2, 2, 3]);
    expect(u.entries.value[0].stage).toBe('queued');
    expect(u.paused.value).toBe(false);
  });

  it('follows progress pushes to done, and skip tells the server', async () => {
    const srv = fakeServer();
    const u = new Uploader(srv.api, async () => 'h');
    u.add([{ file: blob('01234567'), name: 'a.flac', path: 'a.flac' }, { file: blob('xx'), name: 'b.flac', path: 'b.flac' }]);
    await u.start();
    u.onProgress({ uploadId: 'up1', fileId: 'f0', stage: 'converting', bytes: 8, total: 8 });
    expect(u.entries.value[0].stage).toBe('converting');
    u.onProgress({ uploadId: 'up1', fileId: 'f0', stage: 'probing', bytes: 8, total: 8 }); // late push: no step back
    expect(u.entries.value[0].stage).toBe('converting');
    u.onResult({ uploadId: 'up1', fileId: 'f0', name: 'a.flac', status: 'added', song: { id: 's1' } as never });
    expect(u.entries.value[0]).toMatchObject({ stage: 'done', songId: 's1' });
    u.onResult({ uploadId: 'up1', fileId: 'f1', name: 'b.flac', status: 'failed', reason: 'not audio' });
    expect(u.entries.value[1]).toMatchObject({ stage: 'failed', reason: 'not audio' });
    u.onProgress({ uploadId: 'up1', fileId: 'f1', stage: 'storing', bytes: 2, total: 2 });
    expect(u.entries.value[1].stage).toBe('failed');
    const u2 = new Uploader(srv.api, async () => 'h');
    u2.add([{ file: blob('abcd'), name: 'c', path: 'c' }]);
    await u2.start();
    await u2.skip(u2.entries.value[0].key);
    expect(srv.emitWithAck).toHaveBeenCalledWith('song:uploadControl', { uploadId: 'up1', fileId: 'f0', action: 'skip' });
  });

  it('marks empty files failed without sending them', () => {
    const u = new Uploader(fakeServer().api);
    u.add([{ file: blob(''), name: 'e.mp3', path: 'e.mp3' }]);
    expect(u.entries.value[0]).toMatchObject({ stage: 'failed', reason: 'The file is empty.' });
  });
});
