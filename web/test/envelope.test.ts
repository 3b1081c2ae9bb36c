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
    expect(fieldErrors(e, ['displayName', 'bio'])).toEqual({ fields: { displayName: e.message } });
    expect(fieldErrors(e, ['bio'])).toEqual({ form: e.message, fields: {} });
  });
  it('puts a nested field (song:update metadata.year) on the form field', () => {
    const e = new ApiError('invalid', 'a year is 1000 to 9999', { field: 'metadata.year' });
    expect(fieldErrors(e, ['title', 'year'])).toEqual({ fields: { year: e.message } });
    expect(fieldErrors(e, ['title'])).toEqual({ form: e.message, fields: {} });
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
