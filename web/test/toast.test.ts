import { describe, expect, it } from 'vitest';
import { pushToast } from '../src/state/session';

describe('toasts', () => {
  it('an identical toast replaces the one showing instead of stacking', () => {
    let l = pushToast([], { id: 1, kind: 'success', text: 'Added to queue' });
    l = pushToast(l, { id: 2, kind: 'error', text: 'Offline' });
    l = pushToast(l, { id: 3, kind: 'success', text: 'Added to queue' });
    expect(l.map((t) => [t.id, t.text])).toEqual([
      [2, 'Offline'],
      [3, 'Added to queue'],
    ]);
    // same text of another kind is another toast
    l = pushToast(l, { id: 4, kind: 'error', text: 'Added to queue' });
    expect(l).toHaveLength(3);
  });
  it('shows at most four', () => {
    let l: ReturnType<typeof pushToast> = [];
    for (let i = 1; i <= 6; i++) l = pushToast(l, { id: i, kind: 'info', text: `t${i}` });
    expect(l.map((t) => t.id)).toEqual([3, 4, 5, 6]);
  });
});
