import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { register } from 'prom-client';
import { WEBHOOK_PATH } from '../commerce/webhook-target.ts';
import { loadDestinations } from '../config/destinations.ts';
import { loadStoresOrThrow } from '../config/stores.ts';
import { renderStatusPage } from '../monitor/status-page.ts';
import { instanceStatus } from '../monitor/status.ts';
import type { EngineContext, RoleStarter, RunningRole } from '../engine/role.ts';
import { EventThrottle } from './event-throttle.ts';
import { sendJson } from './http-io.ts';
import { ImportGate } from './import-gate.ts';
import { CommerceWebhookReceiver } from './receiver.ts';

/**
 * The HTTP side of the engine (PUSHCDC_HTTP_PORT): `GET /health`, `GET /metrics` (Prometheus),
 * `GET /status` (the queue monitor: JSON, or a page for browsers) and
 * the storefront webhook receiver `POST /commerce/webhook` (receiver.ts).
 *
 * Store files are read once at start, as the commerce role does; a changed store file (a new
 * webhookSecret) takes effect at the next start. The commerce queue is declared at start so that
 * callbacks are kept even when the commerce role runs in another process that has not started yet.
 */
export interface WebhooksRoleOptions {
  /** Largest accepted callback body; default 1 MiB. */
  maxBodyBytes?: number;
  /** How long a callback waits for the broker's confirm before it is answered 503; default 10 s. */
  publishTimeoutMs?: number;
  /** How long a real-time status read from the database is trusted; default 1 s. */
  realtimeTtlMs?: number;
  /** At most one system event per cause in this window; default 10 minutes. */
  eventWindowMs?: number;
}

export interface RunningWebhooks extends RunningRole {
  /** The port actually bound (PUSHCDC_HTTP_PORT=0 binds a free one). */
  readonly port: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export function createWebhooksRole(options: WebhooksRoleOptions = {}): (ctx: EngineContext) => Promise<RunningWebhooks> {
  return async (ctx) => {
    const logger = ctx.logger.child({ role: 'webhooks' });
    const stores = await loadStoresOrThrow(ctx.dir, process.env);
    const { destinations } = await loadDestinations(ctx.dir, null);
    await ctx.broker.assertQueue(ctx.names.commerceQueue);
    const events = new EventThrottle({ pool: ctx.pool, tenant: ctx.env.PUSHCDC_COMPANY, windowMs: options.eventWindowMs ?? 600_000 });
    const receiver = new CommerceWebhookReceiver({
      stores,
      company: ctx.env.PUSHCDC_COMPANY,
      broker: ctx.broker,
      queue: ctx.names.commerceQueue,
      gate: new ImportGate(ctx.pool, options.realtimeTtlMs ?? 1000),
      events,
      logger: logger.child({ component: 'webhook-receiver' }),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      publishTimeoutMs: options.publishTimeoutMs ?? 10_000,
    });
    let stopping = false;

    // A slow sender may hold a connection for at most this long (node's default is 5 minutes).
    const server = http.createServer({ requestTimeout: 30_000 }, (req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://receiver.invalid');
        if (url.pathname === WEBHOOK_PATH) {
          await receiver.handle(req, res, url, stopping);
        } else if (url.pathname === '/health' && req.method === 'GET') {
          sendJson(res, 200, { status: 'ok' });
        } else if (url.pathname === '/status' && req.method === 'GET') {
          const status = await instanceStatus(ctx.pool, ctx.broker, ctx.names, destinations, 0);
          if ((req.headers.accept ?? '').includes('text/html')) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderStatusPage(status));
          else sendJson(res, 200, status);
        } else if (url.pathname === '/metrics' && req.method === 'GET') {
          const text = await register.metrics();
          res.writeHead(200, { 'content-type': register.contentType }).end(text);
        } else {
          sendJson(res, 404, { error: 'not found' });
        }
      })().catch((err: unknown) => {
        logger.error({ err }, 'http request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ctx.env.PUSHCDC_HTTP_PORT, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listening, a socket error is one connection's problem: log it, keep serving.
    server.on('error', (err) => logger.error({ err }, 'http server error'));
    const port = (server.address() as AddressInfo).port;
    logger.info({ port, stores: stores.length }, 'http listening');

    let stopped: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      stopping = true;
      // close() waits for requests in flight (their publishes finish before the broker is closed)
      // and, on Node 19+, closes idle keep-alive connections.
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await events.flush();
      logger.info('http stopped');
    };
    return {
      name: 'webhooks',
      port,
      // Idempotent: the engine and a signal handler may both ask.
      stop: () => (stopped ??= stop()),
    };
  };
}

export const startWebhooks: RoleStarter = createWebhooksRole();
