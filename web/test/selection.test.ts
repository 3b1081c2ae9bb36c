import { describe, expect, it } from 'vitest';
import { applyClick, emptySelection, retain } from '../src/state/selection';

const list = ['a', 'b', 'c', 'd', 'e'];

describe('selection', () => {
  it('a click selects one row, Ctrl/⌘+click adds and removes', () => {
    let s = applyClick(emptySelection(), list, 'b', {});
    expect(s.ids).toEqual(['b']);
    s = applyClick(s, list, 'd', { ctrlKey: true });
    expect(s.ids).toEqual(['b', 'd']);
    s = applyClick(s, list, 'a', { metaKey: true });
    expect(s.ids).toEqual(['a', 'b', 'd']);
    s = applyClick(s, list, 'b', { ctrlKey: true });
    expect(s.ids).toEqual(['a', 'd']);
    s = applyClick(s, list, 'c', {});
    expect(s.ids).toEqual(['c']);
  });
  it('Shift+click selects the range from the last clicked row, either direction', () => {
    let s = applyClick(emptySelection(), list, 'b', {});
    s = applyClick(s, list, 'd', { shiftKey: true });
    expect(s.ids).toEqual(['b', 'c', 'd']);
    // the anchor stays: a second Shift+click replaces the range
    s = applyClick(s, list, 'a', { shiftKey: true });
    expect(s.ids).toEqual(['a', 'b']);
    // Ctrl+Shift adds a range to what is there
    s = applyClick(s, list, 'e', { ctrlKey: true });
    s = applyClick(s, list, 'd', { ctrlKey: true, shiftKey: true });
    expect(s.ids).toEqual(['a', 'b', 'd', 'e']);
  });
  it('in select mode a plain tap toggles', () => {
    let s = { ...emptySelection(), mode: true };
    s = applyClick(s, list, 'c', {});
    s = applyClick(s, list, 'a', {});
    expect(s.ids).toEqual(['a', 'c']);
    s = applyClick(s, list, 'c', {});
    expect(s.ids).toEqual(['a']);
    expect(s.mode).toBe(true);
  });
  it('keeps only rows still in the list', () => {
    const s = retain({ ids: ['a', 'x', 'c'], anchor: 'x', mode: false }, list);
    expect(s).toEqual({ ids: ['a', 'c'], anchor: null, mode: false });
  });
});
