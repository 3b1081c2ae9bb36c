// Upload: drop or pick files and whole folders, edit tags before sending, per-file progress.
import { useRef, useState } from 'preact/hooks';
import { isTerminal, isAudioFile, fileFraction, formatBytes, stageLabel } from '../state/uploadPlan';
import { uploader } from '../state/uploads';
import { cache, cacheVersion, reportError } from '../state/library';
import { DialogFrame, Empty, PageHead, openDialog } from './common';
import { Icon } from './icons';
import { TagForm } from './menu';

interface Picked {
  file: File;
  name: string;
  path: string;
}

async function readEntry(entry: FileSystemEntry, out: Picked[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    out.push({ file, name: file.name, path: entry.fullPath.replace(/^\//, '') });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const e of batch) await readEntry(e, out);
    }
  }
}

async function fromDataTransfer(dt: DataTransfer): Promise<Picked[]> {
  const out: Picked[] = [];
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean) as FileSystemEntry[];
  if (entries.length) for (const e of entries) await readEntry(e, out);
  else for (const f of dt.files) out.push({ file: f, name: f.name, path: f.name });
  return out;
}

function addPicked(list: Picked[]): number {
  const audio = list.filter((p) => isAudioFile(p.name, p.file.type));
  if (audio.length) uploader.add(audio);
  return list.length - audio.length;
}

export function UploadView() {
  void cacheVersion.value;
  const entries = uploader.entries.value;
  const [over, setOver] = useState(false);
  const [ignored, setIgnored] = useState(0);
  const fileInput = useRef<HTMLInputElement>(null);
  const dirInput = useRef<HTMLInputElement>(null);
  const pending = entries.filter((e) => e.stage === 'pending');
  const active = entries.some((e) => !isTerminal(e.stage) && e.stage !== 'pending');
  const done = entries.filter((e) => e.stage === 'done').length;
  const dup = entries.filter((e) => e.stage === 'duplicate').length;
  const failed = entries.filter((e) => e.stage === 'failed').length;

  const onFiles = (fl: FileList | null) => {
    if (!fl) return;
    setIgnored(addPicked([...fl].map((f) => ({ file: f, name: f.name, path: f.webkitRelativePath || f.name }))));
  };

  return (
    <section class="page">
      <PageHead title="Upload" sub="FLAC, MP3, Ogg, Opus, M4A, WAV and more. Folders keep their structure.">
        {entries.some((e) => isTerminal(e.stage)) && (
          <button type="button" class="btn ghost" onClick={() => uploader.clearFinished()}>
            Clear finished
          </button>
        )}
      </PageHead>
      <div
        class={`dropzone ${over ? 'over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={async (e) => {
          e.preventDefault();
          setOver(false);
          if (e.dataTransfer) setIgnored(addPicked(await fromDataTransfer(e.dataTransfer)));
        }}
      >
        <Icon name="upload" size={34} />
        <p class="drop-title">Drop songs or folders here</p>
        <div class="drop-actions">
          <button type="button" class="btn" onClick={() => fileInput.current?.click()}>
            Choose files
          </button>
          <button type="button" class="btn" onClick={() => dirInput.current?.click()}>
            Choose a folder
          </button>
        </div>
        <input
          ref={fileInput}
          type="file"
          multiple
          accept="audio/*,.flac,.mp3,.ogg,.opus,.m4a,.wav,.aiff,.ape,.wv"
          class="sr-only"
          tabIndex={-1}
          aria-label="Choose audio files"
          data-testid="file-input"
          onChange={(e) => {
            onFiles(e.currentTarget.files);
            e.currentTarget.value = '';
          }}
        />
        <input
          ref={dirInput}
          type="file"
          class="sr-only"
          tabIndex={-1}
          aria-label="Choose a folder"
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => {
            onFiles(e.currentTarget.files);
            e.currentTarget.value = '';
          }}
        />
      </div>
      {ignored > 0 && <p class="muted small">{ignored} files were not audio and were left out.</p>}

      {entries.length > 0 && (
        <>
          <div class="toolbar upload-bar">
            <span class="muted" aria-live="polite">
              {entries.length} files · {done} added{dup ? ` · ${dup} already there` : ''}
              {failed ? ` · ${failed} failed` : ''}
              {uploader.paused.value ? ' · paused, waiting for the connection' : ''}
            </span>
            <span class="grow" />
            {active && (
              <button type="button" class="btn ghost" onClick={() => void uploader.cancelAll()}>
                Cancel all
              </button>
            )}
            <button
              type="button"
              class="btn primary"
              disabled={!pending.length}
              data-testid="start-upload"
              onClick={() => uploader.start().catch(reportError)}
            >
              Upload {pending.length || ''}
            </button>
          </div>
          <ul class="upload-list" aria-label="Uploads">
            {entries.map((e) => {
              const frac = fileFraction(e.stage, e.sent, e.size);
              const song = e.songId ? cache.get(e.songId) : undefined;
              return (
                <li key={e.key} class={`upload-row stage-${e.stage}`} data-testid="upload-row" data-stage={e.stage}>
                  <div class="upload-main">
                    {song && (e.stage === 'done' || e.stage === 'duplicate') ? (
                      <span class="upload-name" title={e.path} data-testid="upload-song">
                        {song.title || 'Untitled'}
                        <span class="upload-artist"> · {song.artist || 'Unknown artist'}</span>
                      </span>
                    ) : (
                      <span class="upload-name" title={e.path}>
                        {e.metadata?.title || e.path}
                      </span>
                    )}
                    <span class="upload-meta">
                      {formatBytes(e.size)} · <span class="stage">{stageLabel(e.stage)}</span>
                      {e.reason ? ` — ${e.reason}` : ''}
                    </span>
                    <progress max={100} value={Math.round(frac * 100)} aria-label={`Progress of ${e.name}`} />
                  </div>
                  <div class="row-actions">
                    {e.stage === 'pending' && (
                      <button
                        type="button"
                        class="btn small ghost"
                        onClick={() =>
                          openDialog(
                            <DialogFrame title="Tags before upload">
                              <TagForm
                                initial={e.metadata ?? {}}
                                submitLabel="Keep"
                                onSubmit={async (patch) => uploader.setMetadata(e.key, { ...(e.metadata ?? {}), ...patch })}
                              />
                            </DialogFrame>,
                          )
                        }
                      >
                        Edit tags
                      </button>
                    )}
                    {!isTerminal(e.stage) && (
                      <button type="button" class="btn small ghost" onClick={() => void uploader.skip(e.key)} aria-label={`Skip ${e.name}`}>
                        Skip
                      </button>
                    )}
                    {isTerminal(e.stage) && <Icon name={e.stage === 'done' || e.stage === 'duplicate' ? 'check' : 'close'} class="stage-icon" />}
                  </div>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {!entries.length && <Empty title="Nothing queued for upload" icon="upload" />}
    </section>
  );
}
