import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The small pieces of HTTP the receiver needs from node:http: reading a body with a size limit,
 * reading single-valued headers, and answering JSON.
 */
export type BodyResult =
  | { kind: 'complete'; body: Buffer }
  /** More than `limit` bytes were announced or sent; reading stopped there. */
  | { kind: 'too-large'; limit: number }
  /** The sender went away (or the socket failed) before the body was complete. */
  | { kind: 'aborted'; error: Error | undefined };

/**
 * Reads the whole body, up to `limit` bytes. A Content-Length over the limit is refused before a
 * byte is read; a chunked body stops being read at the chunk that crosses the limit (the stream is
 * paused, and the caller answers with `Connection: close` so the rest is never consumed).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ kind: 'too-large', limit });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        settle({ kind: 'too-large', limit });
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => settle({ kind: 'complete', body: Buffer.concat(chunks, size) });
    const onError = (err: Error): void => settle({ kind: 'aborted', error: err });
    // 'close' after 'end' is the normal finish (already settled); before it, the sender vanished.
    const onClose = (): void => settle({ kind: 'aborted', error: undefined });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** A header that must occur once; repeated or absent → undefined. Names are lower case (node's). */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** `application/json`, `application/<x>+json`, with or without parameters (`; charset=utf-8`). */
export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(value.trim());
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}
