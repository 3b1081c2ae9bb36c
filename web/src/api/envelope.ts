// The server's ack envelope and how errors map to what the UI shows.
import { humanInvalid, sentence } from './messages';

export type ErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'invalid'
  | 'conflict'
  | 'rate_limited'
  | 'too_large'
  | 'internal'
  // client-side codes (never sent by the server)
  | 'timeout'
  | 'offline'
  | 'bad_response';

export interface WireError {
  code: string;
  message: string;
  field?: string;
  retryAfter?: number;
}

export type Envelope<T> = { ok: true; data: T } | { ok: false; error: WireError };

const KNOWN: ReadonlySet<string> = new Set([
  'unauthenticated',
  'forbidden',
  'not_found',
  'invalid',
  'conflict',
  'rate_limited',
  'too_large',
  'internal',
  'timeout',
  'offline',
  'bad_response',
]);

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly retryAfter?: number;
  readonly event?: string;

  constructor(code: ErrorCode, message: string, opts: { field?: string; retryAfter?: number; event?: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = opts.field;
    this.retryAfter = opts.retryAfter;
    this.event = opts.event;
  }

  /** A sentence for a toast or a form. Server messages are shown as text, never as HTML. */
  get userMessage(): string {
    return userMessage(this);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns whatever came back in an ack into data or an ApiError. Never trusts the shape. */
export function unwrap<T>(raw: unknown, event?: string): T {
  if (!isObject(raw) || typeof raw.ok !== 'boolean') {
    throw new ApiError('bad_response', 'The server sent an answer this page does not understand.', { event });
  }
  if (raw.ok) return (raw.data ?? {}) as T;
  const err = isObject(raw.error) ? raw.error : {};
  const code = typeof err.code === 'string' && KNOWN.has(err.code) ? (err.code as ErrorCode) : 'internal';
  const message = typeof err.message === 'string' && err.message ? err.message : defaultMessage(code);
  return throwErr(
    new ApiError(code, message, {
      field: typeof err.field === 'string' ? err.field : undefined,
      retryAfter: typeof err.retryAfter === 'number' ? err.retryAfter : undefined,
      event,
    }),
  );
}

function throwErr(e: ApiError): never {
  throw e;
}

/** Maps a socket.io-client failure (ack timeout, disconnected) to an ApiError. */
export function transportError(e: unknown, event?: string): ApiError {
  if (e instanceof ApiError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (/timed? ?out/i.test(msg)) return new ApiError('timeout', 'The server did not answer in time.', { event });
  return new ApiError('offline', 'Not connected to the server.', { event });
}

export function defaultMessage(code: ErrorCode): string {
  switch (code) {
    case 'unauthenticated':
      return 'Please sign in again.';
    case 'forbidden':
      return 'You are not allowed to do that.';
    case 'not_found':
      return 'That no longer exists.';
    case 'invalid':
      return 'Please check the input.';
    case 'conflict':
      return 'That already exists.';
    case 'rate_limited':
      return 'Too many attempts. Please wait a moment.';
    case 'too_large':
      return 'That is too large for this server.';
    case 'timeout':
      return 'The server did not answer in time.';
    case 'offline':
      return 'Not connected to the server.';
    case 'bad_response':
      return 'The server sent an unexpected answer.';
    default:
      return 'Something went wrong on the server.';
  }
}

export function userMessage(e: ApiError): string {
  if (e.code === 'rate_limited' && e.retryAfter) {
    const mins = Math.ceil(e.retryAfter / 60);
    return `Too many attempts. Try again in ${e.retryAfter < 90 ? `${e.retryAfter} s` : `${mins} min`}.`;
  }
  if (e.code === 'internal') return defaultMessage('internal');
  if (!e.message) return defaultMessage(e.code);
  if (isUnknownEvent(e)) return e.message;
  if (e.code === 'invalid') return humanInvalid(e.field, e.message);
  return sentence(e.message);
}

/** Spreads an error over a form: the field it names, or the form as a whole. */
export function fieldErrors(e: unknown, fields: readonly string[]): { form?: string; fields: Record<string, string> } {
  if (!(e instanceof ApiError)) return { form: e instanceof Error ? e.message : String(e), fields: {} };
  if (e.field && fields.includes(e.field)) return { fields: { [e.field]: e.userMessage } };
  // A nested field (`metadata.year`) lands on the form's `year`.
  const leaf = e.field?.replace(/^[A-Za-z]+\./, '');
  if (leaf && fields.includes(leaf)) return { fields: { [leaf]: e.userMessage } };
  return { form: e.userMessage, fields: {} };
}

/** A server-known event the server does not implement yet answers `invalid` "unknown event". */
export function isUnknownEvent(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'invalid' && /unknown event/i.test(e.message);
}
