import { describe, expect, it, vi } from 'vitest';
import { Api } from '../src/api/api';
import { ApiError, fieldErrors, isUnknownEvent, transportError, unwrap, userMessage } from '../src/api/envelope';

describe('unwrap', () => {
  it('returns data of an ok envelope', () => {
    expect(unwrap({ ok: true, data: { a: 1 } })).toEqual({ a: 1 });
    expect(unwrap({ ok: true })).toEqual({});
  });
  it('maps an error envelope to ApiError with field and retryAfter', () => {
    try {
      unwrap({ ok: false, error: { code: 'invalid', message: 'too long', field: 'title' } }, 'song:update');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      const a = e as ApiError;
      expect([a.code, a.message, a.field, a.event]).toEqual(['invalid', 'too long', 'title', 'song:update']);
    }
    const r = (() => {
      try {
        unwrap({ ok: false, error: { code: 'rate_limited', message: 'x', retryAfter: 120 } });
      } catch (e) {
        return e as ApiError;
      }
    })()!;
    expect(r.retryAfter).toBe(120);
    expect(userMessage(r)).toBe('Too many attempts. Try again in 2 min.');
  });
  it('treats unknown codes as internal and hides internal details', () => {
    const e = (() => {
      try {
        unwrap({ ok: false, error: { code: 'weird', message: '/etc/passwd' } });
      } catch (e) {
        return e as ApiError;
      }
    })()!;
    expect(e.code).toBe('internal');
    expect(e.userMessage).toBe('Something went wrong on the server.');
  });
  it('rejects malformed answers', () => {
    for (const bad of [null, 'x', 42, [], { data: 1 }]) expect(() => unwrap(bad)).toThrow(/does not understand/);
  });
});

describe('helpers', () => {
  it('maps transport failures', () => {
    expect(transportError(new Error('operation has timed out')).code).toBe('timeout');
    expect(transportError(new Error('socket closed')).code).toBe('offline');
  });
  it('spreads errors over a form', () => {
    const e = new ApiError('invalid', 'a display name has 1 to 64 characters', { field: 'displayName' });
    expect(fieldErrors(e, ['displayName', 'bio'])).toEqual({ fields: { displayName: 'A display name has 1 to 64 characters.' } });
    expect(fieldErrors(e, ['bio'])).toEqual({ form: 'A display name has 1 to 64 characters.', fields: {} });
  });
  it('puts a nested field (song:update metadata.year) on the form field', () => {
    const e = new ApiError('invalid', 'year is 1000 to 9999 or null', { field: 'metadata.year' });
    const human = 'The year must be a whole number from 1000 to 9999, or left empty.';
    expect(fieldErrors(e, ['title', 'year'])).toEqual({ fields: { year: human } });
    expect(fieldErrors(e, ['title'])).toEqual({ form: human, fields: {} });
  });
  it('turns server validation texts into sentences for people, keeping unknown ones', () => {
    const h = (message: string, field?: string) => new ApiError('invalid', message, { field }).userMessage;
    expect(h('cannot be empty', 'metadata.title')).toBe('The title cannot be empty.');
    expect(h('a tag is one line', 'metadata.genre')).toBe('The genre must be a single line of text.');
    expect(h('at most 256 characters', 'metadata.album')).toBe('The album can be at most 256 characters long.');
    expect(h('track is 0 to 999 or null', 'metadata.track')).toBe('The track number must be a whole number from 0 to 999, or left empty.');
    expect(h('a password needs at least 8 characters', 'newPassword')).toBe('Use a password of at least 8 characters.');
    expect(h('the current password is wrong', 'currentPassword')).toBe('The current password is not right.');
    expect(h("no user named 'bob'", 'usernames')).toBe('There is no user named “bob”.');
    expect(h('maxPlays is 1 to 1000000', 'maxPlays')).toBe('The play limit is a number from 1 to 1000000.');
    expect(h('something new the UI does not know', 'x')).toBe('Something new the UI does not know.');
    expect(h('Already a sentence!')).toBe('Already a sentence!');
    // an unknown event stays as the server said it (the screens look for it)
    expect(h("unknown event 'x:y'")).toBe("unknown event 'x:y'");
    // other codes keep their text, as a sentence
    expect(new ApiError('conflict', 'that username is taken').userMessage).toBe('That username is taken.');
  });
  it('recognises unknown events', () => {
    expect(isUnknownEvent(new ApiError('invalid', "unknown event 'song:list'"))).toBe(true);
    expect(isUnknownEvent(new ApiError('invalid', 'bad title'))).toBe(false);
  });
});

describe('Api.call', () => {
  const fake = (answer: unknown, connected = true) => {
    const emitWithAck = vi.fn(async () => answer);
    return { t: { connected, timeout: vi.fn(() => ({ emitWithAck })) }, emitWithAck };
  };
  it('emits with {} when there is no payload and unwraps', async () => {
    const { t, emitWithAck } = fake({ ok: true, data: { name: 'x', version: '1', hasUsers: true, user: null } });
    const api = new Api(() => t);
    expect((await api.call('server:info')).name).toBe('x');
    expect(emitWithAck).toHaveBeenCalledWith('server:info', {});
  });
  it('reports errors to onError, including offline', async () => {
    const seen: string[] = [];
    const { t } = fake({ ok: false, error: { code: 'unauthenticated', message: 'sign in' } });
    const api = new Api(() => t);
    api.onError = (e) => seen.push(e.code);
    await expect(api.call('user:list')).rejects.toMatchObject({ code: 'unauthenticated' });
    const off = new Api(() => fake({}, false).t);
    off.onError = (e) => seen.push(e.code);
    await expect(off.call('user:list')).rejects.toMatchObject({ code: 'offline' });
    expect(seen).toEqual(['unauthenticated', 'offline']);
  });
  it('maps an ack timeout', async () => {
    const t = { connected: true, timeout: () => ({ emitWithAck: async () => Promise.reject(new Error('operation has timed out')) }) };
    await expect(new Api(() => t).call('server:info')).rejects.toMatchObject({ code: 'timeout' });
  });
});
