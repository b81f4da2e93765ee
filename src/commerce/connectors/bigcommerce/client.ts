import { setTimeout as sleep } from 'node:timers/promises';
import { PushcdcError, messageWithCause } from '../../../errors.ts';
import type { Logger } from '../../../log.ts';

/**
 * A small client for the BigCommerce REST API (`<baseUrl>/v3/...`, `<baseUrl>/v2/...`, auth by the
 * `X-Auth-Token` header). A 429 answer is the store's rate limit, not a failure: the client waits the
 * time the store asks for (`X-Rate-Limit-Time-Reset-Ms`, else `Retry-After` in seconds) and retries.
 * Any other non-2xx answer is a StorefrontHttpError carrying the status and the store's message.
 */
export class StorefrontHttpError extends PushcdcError {
  readonly status: number;

  constructor(method: string, path: string, status: number, detail: string) {
    super('STOREFRONT', `${method} ${path} answered ${status}${detail ? `: ${detail}` : ''}`);
    this.status = status;
  }
}

export interface BigCommerceClientOptions {
  baseUrl: string;
  accessToken: string | undefined;
  timeoutMs: number;
  logger: Logger;
  /** How many 429 answers in a row one request waits out before it fails. */
  maxRateLimitWaits?: number;
  /** Longest single wait a 429 may ask for; a store asking for longer is treated as failing. */
  maxRateLimitWaitMs?: number;
}

export type Query = Record<string, string | number | undefined>;

/** v3 list and single answers: `{data, meta}`. */
export interface V3Envelope<T> {
  data: T;
  meta?: Record<string, unknown>;
}

export class BigCommerceClient {
  private readonly base: string;

  constructor(private readonly options: BigCommerceClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  delete(path: string): Promise<unknown> {
    return this.request<unknown>('DELETE', path, {});
  }

  async request<T>(method: string, path: string, options: { query?: Query | undefined; body?: unknown }): Promise<T> {
    const url = new URL(`${this.base}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const maxWaits = this.options.maxRateLimitWaits ?? 20;
    const maxWaitMs = this.options.maxRateLimitWaitMs ?? 120_000;
    for (let waits = 0; ; waits++) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            Accept: 'application/json',
            ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
            ...(this.options.accessToken ? { 'X-Auth-Token': this.options.accessToken } : {}),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (err) {
        throw new PushcdcError('STOREFRONT', `${method} ${url.href}: ${messageWithCause(err)}`, { cause: err });
      }
      if (response.status === 429) {
        const waitMs = rateLimitWait(response.headers);
        await response.body?.cancel();
        if (waits >= maxWaits || waitMs > maxWaitMs) {
          throw new StorefrontHttpError(method, path, 429, `still rate limited after ${waits} waits (store asks for ${waitMs} ms)`);
        }
        this.options.logger.info({ method, path, waitMs }, 'storefront rate limit: waiting');
        await sleep(waitMs);
        continue;
      }
      const text = await response.text();
      if (!response.ok) throw new StorefrontHttpError(method, path, response.status, errorDetail(text));
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new PushcdcError('STOREFRONT', `${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, { cause: err });
      }
    }
  }
}

/** Milliseconds a 429 answer asks us to wait; a small default when it names none. */
export function rateLimitWait(headers: Headers): number {
  const resetMs = Number(headers.get('x-rate-limit-time-reset-ms'));
  if (Number.isFinite(resetMs) && resetMs > 0) return resetMs;
  const retryAfter = headers.get('retry-after');
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  return 1000;
}

/** The store's error message: BigCommerce answers `{status, title, errors}` (v3) or `[{message}]` (v2). */
function errorDetail(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text.slice(0, 300); // not JSON (a proxy's HTML page, say): the raw text is all there is
  }
  const first = Array.isArray(body) ? (body[0] as unknown) : body;
  if (first && typeof first === 'object') {
    const record = first as Record<string, unknown>;
    const title = record.title ?? record.message;
    const errors =
      record.errors && typeof record.errors === 'object' && Object.keys(record.errors).length > 0 ? ` ${JSON.stringify(record.errors)}` : '';
    if (typeof title === 'string') return `${title}${errors}`;
  }
  return text.slice(0, 300);
}
