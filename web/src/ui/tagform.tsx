// The tag form: song details on the server, files before upload, several songs at once.
import { useState } from 'preact/hooks';
import { fieldErrors } from '../api/envelope';
import type { SongMetadata } from '../api/types';
import { Field, FormError, closeDialog, val } from './common';

export const TAGS: { key: keyof SongMetadata; label: string; type?: 'number' }[] = [
  { key: 'title', label: 'Title' },
  { key: 'artist', label: 'Artist' },
  { key: 'album', label: 'Album' },
  { key: 'albumArtist', label: 'Album artist' },
  { key: 'genre', label: 'Genre' },
  { key: 'year', label: 'Year', type: 'number' },
  { key: 'track', label: 'Track', type: 'number' },
  { key: 'disc', label: 'Disc', type: 'number' },
];

/**
 * Tag form used for songs on the server, for files before upload and for several songs at once
 * (`keys`: the fields shown; `placeholders`: e.g. "Several values" where the songs differ). Only
 * fields changed from `initial` are submitted.
 */
export function TagForm(props: {
  initial: SongMetadata;
  submitLabel: string;
  onSubmit: (patch: SongMetadata) => Promise<void>;
  keys?: readonly (keyof SongMetadata)[];
  placeholders?: Partial<Record<keyof SongMetadata, string>>;
}) {
  const tags = props.keys ? TAGS.filter((t) => props.keys!.includes(t.key)) : TAGS;
  const [v, setV] = useState<Record<string, string>>(() =>
    Object.fromEntries(tags.map((t) => [t.key, props.initial[t.key] == null ? '' : String(props.initial[t.key])])),
  );
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<{ form?: string; fields: Record<string, string> }>({ fields: {} });
  const submit = async (e: Event) => {
    e.preventDefault();
    const patch: SongMetadata = {};
    for (const t of tags) {
      const raw = v[t.key].trim();
      const before = props.initial[t.key] == null ? '' : String(props.initial[t.key]);
      if (raw === before) continue;
      if (t.type === 'number') {
        if (raw === '') (patch as Record<string, unknown>)[t.key] = null;
        else if (!/^\d+$/.test(raw)) return setErr({ fields: { [t.key]: 'Please enter a whole number.' } });
        else (patch as Record<string, unknown>)[t.key] = Number(raw);
      } else (patch as Record<string, unknown>)[t.key] = raw;
    }
    setBusy(true);
    setErr({ fields: {} });
    try {
      await props.onSubmit(patch);
      closeDialog();
    } catch (ex) {
      setErr(fieldErrors(ex, tags.map((t) => t.key)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form tag-form" onSubmit={submit} novalidate>
      <div class="grid-2">
        {tags.map((t) => (
          <Field key={t.key} label={t.label} error={err.fields[t.key]}>
            {(id, d) => (
              <input
                id={id}
                aria-describedby={d}
                name={t.key}
                inputMode={t.type === 'number' ? 'numeric' : undefined}
                value={v[t.key]}
                placeholder={props.placeholders?.[t.key]}
                aria-invalid={!!err.fields[t.key]}
                onInput={(e) => setV({ ...v, [t.key]: val(e) })}
              />
            )}
          </Field>
        ))}
      </div>
      <FormError text={err.form} />
      <div class="form-actions">
        <button type="button" class="btn ghost" onClick={closeDialog}>
          Cancel
        </button>
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Saving…' : props.submitLabel}
        </button>
      </div>
    </form>
  );
}

