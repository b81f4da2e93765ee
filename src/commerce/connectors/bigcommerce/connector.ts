import type { EntityName, StoreConfig } from '../../../config/stores.ts';
import type { Logger } from '../../../log.ts';
import type { WebhookTarget } from '../../connector.ts';
import { ConnectorBase } from '../base.ts';
import { AvailabilityProcessor } from './availability.ts';
import { BigCommerceClient, type V3Envelope } from './client.ts';
import { CustomerProcessor } from './customer.ts';
import { SalesOrderProcessor } from './order.ts';
import { ProductProcessor } from './product.ts';
import { ShipmentProcessor } from './shipment.ts';

/**
 * BigCommerce: REST v3 (v2 for orders), webhooks through `/v3/hooks` whose `headers` the store echoes
 * on every callback — that is where `type`, `company` and `validation` travel (SPEC section 7).
 */
interface BcHook {
  id: number;
  scope: string;
  destination: string;
  is_active: boolean;
  headers?: Record<string, string> | null;
}

interface Pagination {
  pagination?: { current_page?: number; total_pages?: number };
}

export class BigCommerceConnector extends ConnectorBase {
  private readonly client: BigCommerceClient;

  constructor(store: StoreConfig, logger: Logger) {
    const client = new BigCommerceClient({
      baseUrl: store.baseUrl,
      accessToken: store.accessToken,
      timeoutMs: store.requestTimeoutMs,
      logger,
    });
    super('bigcommerce', [
      new CustomerProcessor(client),
      new ProductProcessor('StockItem', 'physical', client),
      new ProductProcessor('NonStockItem', 'digital', client),
      new AvailabilityProcessor(client, store.inventoryLocationId),
      new SalesOrderProcessor(client),
      new ShipmentProcessor(client),
    ]);
    this.client = client;
  }

  async startWebhooks(entity: EntityName, target: WebhookTarget): Promise<string[]> {
    const existing = await this.listHooks();
    const ids: string[] = [];
    for (const scope of this.scopes(entity)) {
      const hook = existing.find((h) => h.scope === scope && h.destination === target.destination);
      if (!hook) {
        const created = await this.client.post<V3Envelope<BcHook>>('/v3/hooks', {
          scope,
          destination: target.destination,
          is_active: true,
          headers: target.headers,
        });
        ids.push(String(created.data.id));
      } else {
        // Re-activate and refresh the headers: a changed webhookSecret must reach the store.
        if (!hook.is_active || !sameHeaders(hook.headers, target.headers)) {
          await this.client.put(`/v3/hooks/${hook.id}`, { is_active: true, headers: target.headers });
        }
        ids.push(String(hook.id));
      }
    }
    return ids;
  }

  async stopWebhooks(entity: EntityName, target: WebhookTarget): Promise<number> {
    const scopes = new Set(this.scopes(entity));
    const ours = (await this.listHooks()).filter((h) => scopes.has(h.scope) && h.destination === target.destination);
    for (const hook of ours) await this.client.delete(`/v3/hooks/${hook.id}`);
    return ours.length;
  }

  private async listHooks(): Promise<BcHook[]> {
    const hooks: BcHook[] = [];
    for (let page = 1; ; page++) {
      const answer = await this.client.get<V3Envelope<BcHook[]> & { meta?: Pagination }>('/v3/hooks', { page, limit: 250 });
      hooks.push(...answer.data);
      const total = answer.meta?.pagination?.total_pages ?? 1;
      if (page >= total || answer.data.length === 0) return hooks;
    }
  }
}

function sameHeaders(a: Record<string, string> | null | undefined, b: Record<string, string>): boolean {
  const entries = Object.entries(b);
  return Object.keys(a ?? {}).length === entries.length && entries.every(([k, v]) => a?.[k] === v);
}
