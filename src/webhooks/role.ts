import http from 'node:http';
import { register } from 'prom-client';
import type { RoleStarter } from '../engine/role.ts';

/**
 * The HTTP side of the engine (PUSHCDC_HTTP_PORT): health and Prometheus metrics. The storefront
 * webhook receiver (`POST /commerce/webhook`) mounts here.
 */
export const startWebhooks: RoleStarter = async (ctx) => {
  const logger = ctx.logger.child({ role: 'webhooks' });
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.method === 'GET' && req.url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (req.method === 'GET' && req.url === '/metrics') {
        res.writeHead(200, { 'content-type': register.contentType }).end(await register.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      }
    })().catch((err: unknown) => {
      logger.error({ err }, 'http request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(ctx.env.PUSHCDC_HTTP_PORT, () => resolve());
  });
  const address = server.address();
  logger.info({ port: typeof address === 'object' && address ? address.port : ctx.env.PUSHCDC_HTTP_PORT }, 'http listening');
  return {
    name: 'webhooks',
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
