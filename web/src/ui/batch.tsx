// Batch dialogs for several selected songs: edit shared details in one go (song:updateMany, all
// or nothing, the error shown on the field it names) and delete with a confirmation.
import { useState } from 'preact/hooks';
import type { Song, SongMetadata } from '../api/types';
import { cache, deleteSong, reportError, updateSongs } from '../state/library';
import { clearSelection } from '../state/selection';
import { toast, user } from '../state/session';
import { DialogFrame, closeDialog } from './common';
import { TagForm } from './tagform';

/** The fields that make sense to set on several songs at once. */
const SHARED: readonly (keyof SongMetadata)[] = ['artist', 'album', 'albumArtist', 'genre', 'year', 'disc'];

export function canEdit(s: Song | undefined): boolean {
  const u = user.value;
  return !!s && !!u && (u.isAdmin || s.uploaderId === u.id);
}

/** Every song is known and the user may edit (and delete) it. */
export function canEditAll(ids: readonly string[]): boolean {
  return ids.length > 0 && ids.every((id) => canEdit(cache.get(id)));
}

export function BatchEdit({ songIds }: { songIds: readonly string[] }) {
  const songs = songIds.map((id) => cache.get(id)).filter((s): s is Song => !!s);
  // A field the songs agree on starts with that value; one they differ on starts empty.
  const initial: SongMetadata = {};
  const placeholders: Partial<Record<keyof SongMetadata, string>> = {};
  for (const k of SHARED) {
    const values = new Set(songs.map((s) => (s[k] == null ? '' : String(s[k]))));
    if (values.size === 1) (initial as Record<string, unknown>)[k] = songs[0]?.[k] ?? null;
    else placeholders[k] = 'Several values (unchanged)';
  }
  return (
    <DialogFrame title={`Edit ${songs.length} songs`}>
      <p class="muted">Fields left as they are keep each song’s own value.</p>
      <TagForm
        keys={SHARED}
        initial={initial}
        placeholders={placeholders}
        submitLabel={`Save ${songs.length} songs`}
        onSubmit={async (patch) => {
          if (Object.keys(patch).length) await updateSongs(songs.map((s) => s.id), patch);
          toast(`Saved ${songs.length} songs`, 'success', 2500);
        }}
      />
    </DialogFrame>
  );
}

export function ConfirmDeleteMany({ songIds }: { songIds: readonly string[] }) {
  const [busy, setBusy] = useState(false);
  const songs = songIds.map((id) => cache.get(id)).filter((s): s is Song => !!s);
  return (
    <DialogFrame title={`Delete ${songs.length} songs?`}>
      <p>These songs will be removed from the library for everyone:</p>
      <ul class="confirm-list">
        {songs.slice(0, 8).map((s) => (
          <li key={s.id}>
            <span class="strong">{s.title || 'Untitled'}</span> · {s.artist || 'Unknown artist'}
          </li>
        ))}
        {songs.length > 8 && <li class="muted">and {songs.length - 8} more</li>}
      </ul>
      <div class="form-actions">
        <button type="button" class="btn ghost" onClick={closeDialog}>
          Cancel
        </button>
        <button
          type="button"
          class="btn danger"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            let done = 0;
            try {
              for (const s of songs) {
                await deleteSong(s.id);
                done++;
              }
              closeDialog();
              clearSelection();
              toast(`Deleted ${done} songs`, 'success', 2500);
            } catch (e) {
              reportError(e);
              if (done) toast(`Deleted ${done} of ${songs.length} songs`, 'info', 5000);
              setBusy(false);
            }
          }}
        >
          {busy ? 'Deleting…' : `Delete ${songs.length} songs`}
        </button>
      </div>
    </DialogFrame>
  );
}
