import type { EntityName } from '../../config/stores.ts';
import { PushcdcError } from '../../errors.ts';
import type { WebhookTarget } from '../connector.ts';
import { ConnectorBase } from './base.ts';

/**
 * Shopify has no processors yet: every entity's real-time sync is `not-supported`, so stores can be
 * configured and validated now and nothing pretends to sync.
 */
export class ShopifyConnector extends ConnectorBase {
  constructor() {
    super('shopify', []);
  }

  startWebhooks(entity: EntityName, _target: WebhookTarget): Promise<string[]> {
    return Promise.reject(new PushcdcError('STORE', `the shopify connector cannot import ${entity} yet`));
  }

  stopWebhooks(_entity: EntityName, _target: WebhookTarget): Promise<number> {
    return Promise.resolve(0);
  }
}
