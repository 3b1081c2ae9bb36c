// Selecting several songs in a list for batch actions. On a desktop: click selects one row,
// Ctrl/⌘+click adds or removes a row, Shift+click selects the range from the last clicked row.
// On a phone: "Select" turns on a select mode in which a tap adds or removes a row. The
// selection belongs to the list on screen and is cleared when the page changes.
import { signal } from '@preact/signals';

export interface Selection {
  ids: readonly string[];
  /** The row a Shift+click range starts from. */
  anchor: string | null;
  /** The phone's select mode: a plain tap toggles. */
  mode: boolean;
}

export interface ClickMods {
  shiftKey?: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
}

export const emptySelection = (): Selection => ({ ids: [], anchor: null, mode: false });

/** The selection after a click on `id` in a list showing `listIds` (pure). */
export function applyClick(s: Selection, listIds: readonly string[], id: string, m: ClickMods): Selection {
  const toggle = m.ctrlKey || m.metaKey || s.mode;
  if (m.shiftKey && s.anchor && listIds.includes(s.anchor) && listIds.includes(id)) {
    const a = listIds.indexOf(s.anchor);
    const b = listIds.indexOf(id);
    const range = listIds.slice(Math.min(a, b), Math.max(a, b) + 1);
    // Ctrl+Shift (or Shift in select mode) adds the range; Shift alone makes it the selection.
    const ids = toggle ? unique([...s.ids, ...range]) : range;
    return { ...s, ids: inListOrder(listIds, ids) };
  }
  if (toggle) {
    const ids = s.ids.includes(id) ? s.ids.filter((x) => x !== id) : inListOrder(listIds, [...s.ids, id]);
    return { ...s, ids, anchor: id };
  }
  return { ...s, ids: [id], anchor: id };
}

/** Keeps only ids still in the list (after a deletion or a new search). */
export function retain(s: Selection, listIds: readonly string[]): Selection {
  const have = new Set(listIds);
  const ids = s.ids.filter((x) => have.has(x));
  return ids.length === s.ids.length ? s : { ...s, ids, anchor: s.anchor && have.has(s.anchor) ? s.anchor : null };
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function inListOrder(listIds: readonly string[], ids: readonly string[]): string[] {
  const want = new Set(ids);
  const ordered = listIds.filter((x) => want.has(x));
  // ids not in the list (should not happen) keep their place at the end
  return [...ordered, ...ids.filter((x) => !listIds.includes(x))];
}

export const selection = signal<Selection>(emptySelection());

export function clickSelect(listIds: readonly string[], id: string, m: ClickMods): void {
  selection.value = applyClick(selection.value, listIds, id, m);
}

export function clearSelection(): void {
  if (selection.value.ids.length || selection.value.mode) selection.value = emptySelection();
}

export function setSelectMode(on: boolean): void {
  selection.value = on ? { ...selection.value, mode: true } : emptySelection();
}
