// Drag-and-drop reordering with pointer events (mouse and touch alike) on a drag handle,
// plus the keyboard: ArrowUp/ArrowDown on the handle moves the row.
import { useRef, useState } from 'preact/hooks';
import { Icon } from './icons';

export function useReorder(onMove: (from: number, to: number) => void) {
  const [drag, setDrag] = useState<{ from: number; over: number } | null>(null);
  const listRef = useRef<HTMLElement>(null);
  const st = useRef<{ from: number; over: number } | null>(null);

  const indexAt = (y: number): number => {
    const rows = [...(listRef.current?.querySelectorAll<HTMLElement>('[data-row]') ?? [])];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i].getBoundingClientRect();
      if (y < r.top + r.height / 2) return i;
    }
    return rows.length - 1;
  };

  const handle = (index: number, label: string) => (
    <button
      type="button"
      class="drag-handle"
      aria-label={`Move ${label} (drag, or use the arrow keys)`}
      title="Drag to reorder"
      onPointerDown={(e) => {
        e.preventDefault();
        (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
        st.current = { from: index, over: index };
        setDrag(st.current);
      }}
      onPointerMove={(e) => {
        if (!st.current) return;
        const over = indexAt(e.clientY);
        if (over !== st.current.over) {
          st.current = { ...st.current, over };
          setDrag(st.current);
        }
      }}
      onPointerUp={() => {
        const s = st.current;
        st.current = null;
        setDrag(null);
        if (s && s.from !== s.over) onMove(s.from, s.over);
      }}
      onPointerCancel={() => {
        st.current = null;
        setDrag(null);
      }}
      onKeyDown={(e) => {
        if (e.key === 'ArrowUp' && index > 0) {
          e.preventDefault();
          onMove(index, index - 1);
          requestAnimationFrame(() => focusHandle(index - 1));
        } else if (e.key === 'ArrowDown') {
          e.preventDefault();
          onMove(index, index + 1);
          requestAnimationFrame(() => focusHandle(index + 1));
        }
      }}
    >
      <Icon name="drag" size={18} />
    </button>
  );

  const focusHandle = (i: number) => listRef.current?.querySelectorAll<HTMLElement>('.drag-handle')[i]?.focus();

  const rowClass = (i: number): string => {
    if (!drag) return '';
    if (i === drag.from) return 'dragging';
    if (drag.over === i) return drag.over < drag.from ? 'drop-before' : 'drop-after';
    return '';
  };

  return { listRef, handle, rowClass };
}
