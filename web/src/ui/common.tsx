// Small shared pieces: fields, dialogs, covers, formatting.
import type { ComponentChildren } from 'preact';
import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { Icon } from './icons';

export function fmtTime(sec: number): string {
  if (!isFinite(sec) || sec < 0) sec = 0;
  const s = Math.floor(sec % 60);
  const m = Math.floor(sec / 60) % 60;
  const h = Math.floor(sec / 3600);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}` : `${m}:${String(s).padStart(2, '0')}`;
}

export function fmtDuration(ms: number): string {
  return fmtTime((ms ?? 0) / 1000);
}

export function fmtLong(ms: number): string {
  if ((ms ?? 0) < 60000) return `${Math.round((ms ?? 0) / 1000)} s`;
  const min = Math.round(ms / 60000);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return `${h} h ${min % 60} min`;
}

export function fmtDate(unixSecs: number | null | undefined): string {
  if (!unixSecs) return '—';
  return new Date(unixSecs * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

let fieldSeq = 0;
export function useId(prefix = 'f'): string {
  const r = useRef<string | null>(null);
  if (!r.current) r.current = `${prefix}${++fieldSeq}`;
  return r.current;
}

export function Field(props: {
  label: string;
  error?: string;
  hint?: ComponentChildren;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
}) {
  const id = useId();
  const errId = props.error ? `${id}-err` : undefined;
  return (
    <div class={`field ${props.error ? 'has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, errId)}
      {props.hint && !props.error && <div class="hint">{props.hint}</div>}
      {props.error && (
        <div class="field-error" id={errId} role="alert">
          {props.error}
        </div>
      )}
    </div>
  );
}

export function FormError({ text }: { text?: string | null }) {
  if (!text) return null;
  return (
    <div class="form-error" role="alert">
      {text}
    </div>
  );
}

/** The one modal at a time. */
export const dialogContent = signal<ComponentChildren | null>(null);
export function openDialog(c: ComponentChildren): void {
  dialogContent.value = c;
}
export function closeDialog(): void {
  dialogContent.value = null;
}

export function DialogHost() {
  const ref = useRef<HTMLDialogElement>(null);
  const content = dialogContent.value;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (content && !d.open) d.showModal();
    if (!content && d.open) d.close();
  }, [content]);
  return (
    <dialog
      ref={ref}
      class="dialog"
      // The close event is queued: if another dialog opened meanwhile, it is not this one's.
      onClose={() => {
        if (!ref.current?.open) dialogContent.value = null;
      }}
      onClick={(e) => {
        if (e.target === ref.current) closeDialog();
      }}
    >
      {content}
    </dialog>
  );
}

export function DialogFrame(props: { title: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <div class={`dialog-body ${props.wide ? 'wide' : ''}`}>
      <header class="dialog-head">
        <h2>{props.title}</h2>
        <button type="button" class="icon-btn" aria-label="Close" onClick={closeDialog}>
          <Icon name="close" />
        </button>
      </header>
      {props.children}
    </div>
  );
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A cover image, or a calm generated tile when there is none (or it fails). */
export function Cover(props: { url?: string | null; seed: string; size?: 'sm' | 'md' | 'lg' | 'xl'; label?: string }) {
  const g = hash(props.seed || '?') % 8;
  const failed = useRef(false);
  const imgRef = useRef<HTMLImageElement>(null);
  return (
    <div class={`cover cover-${props.size ?? 'md'} cover-g${g}`} role={props.label ? 'img' : undefined} aria-label={props.label}>
      <Icon name="disc" class="cover-glyph" />
      {props.url && !failed.current && (
        <img
          ref={imgRef}
          src={props.url}
          alt=""
          loading="lazy"
          decoding="async"
          onError={() => {
            failed.current = true;
            imgRef.current?.remove();
          }}
        />
      )}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren; icon?: string }) {
  return (
    <div class="empty">
      <div class="empty-icon">
        <Icon name={props.icon ?? 'note'} size={28} />
      </div>
      <h3>{props.title}</h3>
      {props.children && <div class="empty-text">{props.children}</div>}
    </div>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return <span class="spinner" role="status" aria-label={label} />;
}

export function PageHead(props: { title: string; sub?: ComponentChildren; children?: ComponentChildren }) {
  return (
    <header class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.sub && <p class="sub">{props.sub}</p>}
      </div>
      {props.children && <div class="page-actions">{props.children}</div>}
    </header>
  );
}

/** Infinite scroll: calls `onMore` when the sentinel comes into view. */
export function LoadMore(props: { onMore: () => void; loading: boolean; done: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const cb = useRef(props.onMore);
  cb.current = props.onMore;
  useEffect(() => {
    const el = ref.current;
    if (!el || props.done || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && cb.current(), { rootMargin: '400px' });
    io.observe(el);
    return () => io.disconnect();
  }, [props.done]);
  if (props.done) return null;
  return (
    <div ref={ref} class="load-more">
      {props.loading ? (
        <Spinner />
      ) : (
        <button type="button" class="btn ghost" onClick={() => cb.current()}>
          Load more
        </button>
      )}
    </div>
  );
}

/** Copies text; falls back to selecting an input. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export const val = (e: Event) => (e.currentTarget as HTMLInputElement).value;
