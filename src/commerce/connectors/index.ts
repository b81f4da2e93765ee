import type { StoreConfig } from '../../config/stores.ts';
import type { Logger } from '../../log.ts';
import type { Connector } from '../connector.ts';
import { BigCommerceConnector } from './bigcommerce/connector.ts';
import { ShopifyConnector } from './shopify.ts';

/** The connector for a store's storefront kind. */
export function createConnector(store: StoreConfig, logger: Logger): Connector {
  switch (store.connector) {
    case 'bigcommerce':
      return new BigCommerceConnector(store, logger.child({ store: store.name, connector: 'bigcommerce' }));
    case 'shopify':
      return new ShopifyConnector();
  }
}
