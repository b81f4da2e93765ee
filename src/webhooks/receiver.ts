import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker } from '../broker/broker.ts';
import type { StoreConfig } from '../config/stores.ts';
import type { CommerceMessage } from '../commerce/message.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { authenticateBigCommerce, parseBigCommerceHook } from './bigcommerce.ts';
import type { EventThrottle } from './event-throttle.ts';
import { parseJsonExact } from './exact-json.ts';
import type { ParsedHook } from './hook-types.ts';
import { isJsonContentType, readBody, sendJson, singleHeader } from './http-io.ts';
import type { Ignored, ImportGate } from './import-gate.ts';
import { webhookRequests, type ConnectorLabel, type WebhookOutcome } from './metrics.ts';
import { authenticateShopify, parseShopifyHook, shopifySignatureValid } from './shopify.ts';

/**
 * `POST /commerce/webhook` (SPEC section 7): storefront callbacks → commerceQueue.<instance>.
 *
 *   405  not a POST
 *   401  validation failed: `type` unknown or missing (it is one of the three values that say the
 *        callback is ours, so a request without a known one is unauthenticated, not malformed),
 *        `company` not PUSHCDC_COMPANY, `validation` not a store's webhookSecret, Shopify HMAC wrong.
 *        Checked before the body is read, except the HMAC, which needs it; and before anything about
 *        the body's form, so an unauthenticated request gets 401, never 400.
 *   400  content type not JSON, body not JSON, or not the storefront's format (missing scope,
 *        data.id, topic, id); the body's `error` says what is wrong. Only to an authenticated caller.
 *   413  body over maxBodyBytes (default 1 MiB; BigCommerce bodies are a few hundred bytes, Shopify
 *        sends whole orders): reading stops at the limit and the connection is closed.
 *   503  the real-time status cannot be read or the broker does not confirm the message: the
 *        storefront retries later (Retry-After).
 *   200  `{"status":"queued"}`: the broker confirmed the message (persistent, durable queue).
 *   200  `{"status":"ignored","queued":false}`: authentic and well-formed, but the ERP would ignore
 *        it (store or entity inactive, export-only, real-time import not running, a scope/topic no
 *        entity imports). Not queued. A storefront retries anything non-2xx and in the end disables
 *        the hook, so refusing would only make it try again for nothing and then break the hook; the
 *        answer says it was not queued, the log has each one, and a system event (information, at
 *        most one per cause per window) tells the operator it happens.
 * Nothing is deduplicated here: the commerce pipeline debounces per record.
 */
export interface ReceiverDeps {
  stores: readonly StoreConfig[];
  company: string;
  broker: Broker;
  queue: string;
  gate: ImportGate;
  events: EventThrottle;
  logger: Logger;
  maxBodyBytes: number;
  publishTimeoutMs: number;
}

interface Reply {
  status: number;
  outcome: WebhookOutcome;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** For our log only (why validation failed, the underlying error). */
  detail?: string;
}

/** What the log line and metric say about the request, filled in as it is learnt. */
interface RequestScope {
  connector: ConnectorLabel;
  store?: string;
  scope?: string;
  entity?: string;
  externId?: string;
  id?: string;
  bodyRead: boolean;
}

type Caller =
  | { connector: 'bigcommerce'; store: StoreConfig }
  /** `secret`: the HMAC key, never empty (authenticateShopify refuses a store without one). */
  | { connector: 'shopify'; store: StoreConfig; signature: Buffer; secret: string };

const rejected = (status: number, error: string, detail?: string): Reply => ({
  status,
  outcome: 'rejected',
  body: { status: 'rejected', error },
  ...(detail ? { detail } : {}),
});

export class CommerceWebhookReceiver {
  constructor(private readonly deps: ReceiverDeps) {}

  /** Answers one request; never throws. `closing`: the role is stopping, so keep-alive ends here. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, closing: boolean): Promise<void> {
    const started = performance.now();
    const scope: RequestScope = { connector: 'unknown', bodyRead: false };
    let reply: Reply;
    try {
      reply = await this.decide(req, url, scope);
    } catch (err) {
      reply = { ...rejected(500, 'internal error; see the pushcdc log'), detail: errorMessage(err) };
      this.deps.logger.error({ err, ...scope }, 'webhook request failed unexpectedly');
    }
    const headers = { ...reply.headers };
    // A body not read to its end stays unread: closing is cheaper than draining what an
    // unauthenticated or oversized sender still has to send.
    if (!scope.bodyRead || closing) headers.connection = 'close';
    sendJson(res, reply.status, reply.body, headers);
    webhookRequests.inc({ connector: scope.connector, outcome: reply.outcome, status: String(reply.status) });
    this.log(scope, reply, performance.now() - started);
  }

  private async decide(req: IncomingMessage, url: URL, scope: RequestScope): Promise<Reply> {
    if (req.method !== 'POST') {
      return { ...rejected(405, `${req.method ?? 'this method'} is not allowed: storefront callbacks are POSTed`), headers: { allow: 'POST' } };
    }
    const identified = this.identify(req, url);
    scope.connector = identified.connector;
    if (!identified.ok) return this.unauthorized(scope, identified.error, identified.detail);
    const caller = identified.caller;
    scope.store = caller.store.name;

    // The Shopify HMAC is over the whole raw body, so the body is read before it is checked, and the
    // size limit comes first: no sender, authentic or not, gets more than maxBodyBytes buffered, so an
    // oversized body is a 413 whatever its signature. A body cut short cannot be authenticated either;
    // its sender is gone and hardly reads the answer.
    const read = await readBody(req, this.deps.maxBodyBytes);
    if (read.kind === 'too-large') return rejected(413, `the body is larger than ${read.limit} bytes`);
    if (read.kind === 'aborted') return rejected(400, 'the body was not received completely', read.error?.message);
    scope.bodyRead = true;
    if (caller.connector === 'shopify' && !shopifySignatureValid(caller.secret, read.body, caller.signature)) {
      return this.unauthorized(scope, 'company, binding or signature does not match', `X-Shopify-Hmac-Sha256 does not match the body (store ${caller.store.name})`);
    }

    // The body's form only once the caller is authenticated (SPEC section 7: a request that fails
    // validation gets 401, whatever else is wrong with it). Checked before the HMAC, a wrong content
    // type got a 400 that told a sender without the secret its company and binding were right.
    if (!isJsonContentType(singleHeader(req, 'content-type'))) {
      return rejected(400, 'content-type must be application/json');
    }

    let body: unknown;
    try {
      body = parseJsonExact(read.body.toString('utf8'));
    } catch (err) {
      return rejected(400, `the body is not valid JSON: ${errorMessage(err)}`);
    }
    const parsed = this.parse(caller, req, body);
    if (parsed.scope !== undefined) scope.scope = parsed.scope;
    if (parsed.kind === 'malformed') return rejected(400, parsed.error);
    if (parsed.kind === 'unmapped') {
      return this.ignored(`${caller.store.name}|scope|${parsed.scope.slice(0, 120)}`, scope, `no entity imports through "${parsed.scope}"`);
    }
    const message = parsed.message;
    scope.entity = message.entity;
    scope.externId = message.externId;

    let ignored: Ignored | undefined;
    try {
      ignored = await this.deps.gate.ignoredBecause(caller.store, message.entity);
    } catch (err) {
      return this.unavailable(scope, 'database', 'the real-time status cannot be read right now; retry later', err);
    }
    if (ignored) return this.ignored(ignored.key, scope, ignored.reason);

    const id = randomUUID();
    scope.id = id;
    try {
      await this.publish(message, id);
    } catch (err) {
      return this.unavailable(scope, 'broker', 'the message broker is unavailable; retry later', err);
    }
    return {
      status: 200,
      outcome: 'accepted',
      body: { status: 'queued', queued: true, id, store: message.store, entity: message.entity, externId: message.externId },
    };
  }

  /** BigCommerce: `type` header; Shopify: `type` URL parameter (the only place each can put it). */
  private identify(
    req: IncomingMessage,
    url: URL,
  ): { ok: true; connector: ConnectorLabel; caller: Caller } | { ok: false; connector: ConnectorLabel; error: string; detail: string } {
    const { stores, company } = this.deps;
    if (url.searchParams.get('type') === 'shopify') {
      const auth = authenticateShopify(req, url.searchParams, stores, company);
      return auth.ok ? { ok: true, connector: 'shopify', caller: { connector: 'shopify', store: auth.store, signature: auth.signature, secret: auth.secret } } : { ...auth, connector: 'shopify' };
    }
    const headerType = singleHeader(req, 'type');
    if (headerType === 'bigcommerce') {
      const auth = authenticateBigCommerce(req, stores, company);
      return auth.ok ? { ok: true, connector: 'bigcommerce', caller: { connector: 'bigcommerce', store: auth.store } } : { ...auth, connector: 'bigcommerce' };
    }
    const given = url.searchParams.get('type') ?? headerType;
    return {
      ok: false,
      connector: 'unknown',
      error: 'type must be "bigcommerce" (as a header) or "shopify" (as a URL parameter)',
      detail: given === undefined ? 'no type header or URL parameter' : 'unknown type',
    };
  }

  private parse(caller: Caller, req: IncomingMessage, body: unknown): ParsedHook {
    if (caller.connector === 'bigcommerce') return parseBigCommerceHook(caller.store.name, body);
    return parseShopifyHook(caller.store.name, singleHeader(req, 'x-shopify-topic'), body, {
      triggeredAt: singleHeader(req, 'x-shopify-triggered-at'),
      webhookId: singleHeader(req, 'x-shopify-webhook-id') ?? singleHeader(req, 'x-shopify-event-id'),
    });
  }

  /**
   * Bounded by the broker's own confirm timeout too; this one is shorter because storefronts give up
   * on a callback after a few seconds anyway. A publish that still lands after the 503 is a
   * duplicate of the storefront's retry, which the per-record debounce collapses.
   */
  private async publish(message: CommerceMessage, id: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PushcdcError('BROKER', `the broker did not confirm the message within ${this.deps.publishTimeoutMs} ms`)),
        this.deps.publishTimeoutMs,
      );
    });
    try {
      await Promise.race([this.deps.broker.publish(this.deps.queue, [{ body: JSON.stringify(message), messageId: id }]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private unauthorized(scope: RequestScope, error: string, detail: string): Reply {
    this.deps.events.record(`unauthorized|${scope.connector}|${scope.store ?? ''}|${detail}`, {
      level: 'warning',
      source: 'webhooks',
      message:
        `Rejected a storefront webhook (401, connector ${scope.connector}): ${detail}. Storefronts retry and finally disable hooks that keep failing; ` +
        'if a store\'s webhookSecret changed, run `pushcdc realtime start` again for its entities so the storefront echoes the new one.',
      details: { connector: scope.connector, ...(scope.store ? { store: scope.store } : {}) },
    });
    return rejected(401, `unauthorized: ${error}`, detail);
  }

  private ignored(key: string, scope: RequestScope, reason: string): Reply {
    this.deps.events.record(key, {
      level: 'information',
      source: 'webhooks',
      message: `Ignored a storefront webhook (acknowledged, not queued): ${reason}`,
      details: { store: scope.store, scope: scope.scope, entity: scope.entity },
    });
    return { status: 200, outcome: 'ignored', body: { status: 'ignored', queued: false, reason: `${reason}; the hook was acknowledged and not queued` } };
  }

  private unavailable(scope: RequestScope, what: 'database' | 'broker', error: string, err: unknown): Reply {
    this.deps.events.record(`unavailable|${what}`, {
      level: 'error',
      source: 'webhooks',
      message: `Storefront webhooks answered 503 (the storefront will retry): ${errorMessage(err)}`,
      details: { store: scope.store, entity: scope.entity },
    });
    return { status: 503, outcome: 'rejected', body: { status: 'unavailable', error }, headers: { 'retry-after': '10' }, detail: errorMessage(err) };
  }

  private log(scope: RequestScope, reply: Reply, ms: number): void {
    const { bodyRead: _bodyRead, ...fields } = scope;
    const line = {
      ...fields,
      status: reply.status,
      outcome: reply.outcome,
      ms: Math.round(ms),
      ...(typeof reply.body.reason === 'string' ? { reason: reply.body.reason } : {}),
      ...(typeof reply.body.error === 'string' ? { error: reply.body.error } : {}),
      ...(reply.detail ? { detail: reply.detail } : {}),
    };
    if (reply.status >= 500) this.deps.logger.error(line, 'webhook request');
    else if (reply.status >= 400) this.deps.logger.warn(line, 'webhook request');
    else this.deps.logger.info(line, 'webhook request');
  }
}
