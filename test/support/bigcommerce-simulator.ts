import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A BigCommerce store in memory, for tests: the REST endpoints pushcdc calls, with the documented
 * request and answer shapes (v3 `{data, meta}`, v2 bare objects and arrays, `X-Auth-Token` auth,
 * 422 for missing fields), every request recorded, and failures (500) or rate limits (429 with
 * `X-Rate-Limit-Time-Reset-Ms`) on demand. Served under `/stores/<hash>` like the real API.
 */
export interface RecordedRequest {
  method: string;
  /** Path below `/stores/<hash>`, e.g. `/v3/customers`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The status the simulator answered. */
  status: number;
  at: number;
}

type Json = Record<string, unknown>;

export interface SimCustomer extends Json {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  company: string;
  phone: string;
  date_created: string;
  date_modified: string;
}

export interface SimAddress extends Json {
  id: number;
  customer_id: number;
}

export interface SimProduct extends Json {
  id: number;
  sku: string;
  name: string;
  type: string;
  price: number;
  weight: number;
  inventory_level: number;
  inventory_tracking: string;
  date_modified: string;
}

export interface SimHook extends Json {
  id: number;
  scope: string;
  destination: string;
  is_active: boolean;
  headers: Record<string, string> | null;
}

export interface SimOrder extends Json {
  id: number;
  status_id: number;
  status: string;
  date_modified: string;
}

interface Injected {
  remaining: number;
  status: number;
  resetMs: number;
  match: RegExp | undefined;
}

const ORDER_STATUSES: Record<number, string> = {
  0: 'Incomplete', 1: 'Pending', 2: 'Shipped', 3: 'Partially Shipped', 4: 'Refunded', 5: 'Cancelled', 6: 'Declined',
  7: 'Awaiting Payment', 8: 'Awaiting Pickup', 9: 'Awaiting Shipment', 10: 'Completed', 11: 'Awaiting Fulfillment',
  12: 'Manual Verification Required', 13: 'Disputed', 14: 'Partially Refunded',
};

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

const v3Error = (status: number, title: string, errors: Json = {}) =>
  new HttpAnswer(status, { status, title, type: 'https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes', errors });
const v2Error = (status: number, message: string) => new HttpAnswer(status, [{ status, message }]);

const list = <T>(data: T[]) => ({
  data,
  meta: { pagination: { total: data.length, count: data.length, per_page: 250, current_page: 1, total_pages: 1, links: {} } },
});

export class BigCommerceSimulator {
  readonly requests: RecordedRequest[] = [];
  readonly customers = new Map<number, SimCustomer>();
  readonly addresses = new Map<number, SimAddress>();
  readonly products = new Map<number, SimProduct>();
  readonly hooks = new Map<number, SimHook>();
  readonly orders = new Map<number, SimOrder>();
  readonly orderProducts = new Map<number, ({ id: number; sku: string; quantity: number } & Json)[]>();
  readonly orderAddresses = new Map<number, { id: number }[]>();
  readonly shipments = new Map<number, Json[]>();
  /** The absolute adjustments received, in order. */
  readonly inventoryAdjustments: Json[] = [];
  private injected: Injected[] = [];
  private nextId = 1;

  private constructor(
    private readonly server: Server,
    readonly storeHash: string,
    readonly token: string,
  ) {}

  static async start(options: { storeHash?: string; token?: string } = {}): Promise<BigCommerceSimulator> {
    const server = createServer();
    const sim = new BigCommerceSimulator(server, options.storeHash ?? 'sim123', options.token ?? 'sim-token');
    server.on('request', (req, res) => void sim.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sim;
  }

  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/stores/${this.storeHash}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The next `count` requests (whose `METHOD path` matches `match`, if given) are answered `status`. */
  failNext(count: number, status = 500, match?: RegExp): void {
    this.injected.push({ remaining: count, status, resetMs: 0, match });
  }

  /** The next `count` matching requests are answered 429 asking to wait `resetMs`. */
  rateLimitNext(count: number, resetMs: number, match?: RegExp): void {
    this.injected.push({ remaining: count, status: 429, resetMs, match });
  }

  /** Forgets failures and rate limits not yet answered. */
  clearInjected(): void {
    this.injected = [];
  }

  /** Recorded requests, optionally only `METHOD path` matching. Failed ones included (see `status`). */
  calls(match?: RegExp): RecordedRequest[] {
    return match ? this.requests.filter((r) => match.test(`${r.method} ${r.path}`)) : [...this.requests];
  }

  addCustomer(fields: { email: string; first_name?: string; last_name?: string }): SimCustomer {
    const now = new Date().toISOString();
    const customer: SimCustomer = {
      id: this.nextId++,
      first_name: 'Existing',
      last_name: 'Customer',
      company: '',
      phone: '',
      date_created: now,
      date_modified: now,
      ...fields,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  /** An address entered on the storefront for an existing customer (first_name, last_name, address1, city, country_code required). */
  addCustomerAddress(customerId: number, fields: Json): SimAddress {
    return this.addAddress({ ...fields, customer_id: customerId });
  }

  addProduct(fields: { sku: string; name?: string }): SimProduct {
    const product: SimProduct = {
      id: this.nextId++,
      name: `Product ${fields.sku}`,
      type: 'physical',
      price: 0,
      weight: 0,
      inventory_level: 0,
      inventory_tracking: 'product',
      date_modified: new Date().toISOString(),
      ...fields,
    };
    this.products.set(product.id, product);
    return product;
  }

  /**
   * An order placed on the storefront, with its products and one shipping address. `fields` adds or
   * overrides order fields (customer_id: 0 is a guest checkout); products may carry price_ex_tax,
   * total_ex_tax and name as the v2 API sends them.
   */
  addOrder(products: ({ sku: string; quantity: number } & Json)[], fields: Json = {}): SimOrder {
    const now = new Date().toUTCString();
    const order: SimOrder = {
      id: this.nextId++,
      status_id: 11,
      status: ORDER_STATUSES[11]!,
      customer_id: 0,
      currency_code: 'USD',
      total_inc_tax: '0.0000',
      date_created: now,
      date_modified: now,
      ...fields,
    };
    this.orders.set(order.id, order);
    this.orderProducts.set(order.id, products.map((p) => ({ id: this.nextId++, ...p })));
    this.orderAddresses.set(order.id, [{ id: this.nextId++ }]);
    return order;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://simulator');
    const prefix = `/stores/${this.storeHash}`;
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    const method = req.method ?? 'GET';
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let answer: HttpAnswer;
    const headers: Record<string, string> = {};
    try {
      body = text ? (JSON.parse(text) as unknown) : undefined;
      answer = this.answer(method, path, url.searchParams, body, req, headers, url.pathname.startsWith(prefix));
    } catch (err) {
      answer = err instanceof HttpAnswer ? err : v3Error(400, `bad request: ${(err as Error).message}`);
    }
    this.requests.push({
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      status: answer.status,
      at: Date.now(),
    });
    if (answer.body === undefined) {
      res.writeHead(answer.status, headers).end();
    } else {
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(answer.body));
    }
  }

  private answer(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    req: IncomingMessage,
    headers: Record<string, string>,
    underStore: boolean,
  ): HttpAnswer {
    if (!underStore) return v3Error(404, 'no such store');
    if (req.headers['x-auth-token'] !== this.token) return v3Error(401, 'You are not authorized to perform this action');
    const injected = this.injected.find((i) => i.remaining > 0 && (!i.match || i.match.test(`${method} ${path}`)));
    if (injected) {
      injected.remaining--;
      this.injected = this.injected.filter((i) => i.remaining > 0);
      if (injected.status === 429) {
        Object.assign(headers, {
          'X-Rate-Limit-Time-Reset-Ms': String(injected.resetMs),
          'X-Rate-Limit-Requests-Left': '0',
          'X-Rate-Limit-Time-Window-Ms': '30000',
          'X-Rate-Limit-Requests-Quota': '150',
        });
        return v3Error(429, 'Too many requests');
      }
      return v3Error(injected.status, 'Internal Server Error (injected by the simulator)');
    }
    const route = `${method} ${path.replace(/\/\d+(?=\/|$)/g, '/{id}')}`;
    const ids = [...path.matchAll(/\/(\d+)(?=\/|$)/g)].map((m) => Number(m[1]));
    switch (route) {
      case 'GET /v3/customers':
        return this.listCustomers(query);
      case 'POST /v3/customers':
        return this.createCustomers(body);
      case 'PUT /v3/customers':
        return this.updateCustomers(body);
      case 'GET /v3/customers/addresses': {
        const owners = (query.get('customer_id:in') ?? '').split(',').filter(Boolean).map(Number);
        return new HttpAnswer(200, list([...this.addresses.values()].filter((a) => owners.length === 0 || owners.includes(a.customer_id))));
      }
      case 'POST /v3/customers/addresses':
        return new HttpAnswer(200, { data: asArray(body).map((a) => this.addAddress(a)), meta: {} });
      case 'PUT /v3/customers/addresses':
        return this.updateAddresses(body);
      case 'GET /v3/catalog/products':
        return this.listProducts(query);
      case 'POST /v3/catalog/products':
        return this.createProduct(body);
      case 'GET /v3/catalog/products/{id}': {
        const product = this.products.get(ids[0]!);
        return product ? new HttpAnswer(200, { data: product, meta: {} }) : v3Error(404, 'The requested product was not found.');
      }
      case 'PUT /v3/catalog/products/{id}':
        return this.updateProduct(ids[0]!, body);
      case 'PUT /v3/inventory/adjustments/absolute':
        return this.adjustInventory(body);
      case 'GET /v2/orders/{id}': {
        const order = this.orders.get(ids[0]!);
        return order ? new HttpAnswer(200, order) : v2Error(404, 'The requested resource was not found.');
      }
      case 'PUT /v2/orders/{id}':
        return this.updateOrder(ids[0]!, body);
      case 'GET /v2/orders/{id}/shipping_addresses':
        return this.orderList(ids[0]!, this.orderAddresses.get(ids[0]!) ?? []);
      case 'GET /v2/orders/{id}/products':
        return this.orderList(ids[0]!, this.orderProducts.get(ids[0]!) ?? []);
      case 'GET /v2/orders/{id}/shipments':
        return this.orderList(ids[0]!, this.shipments.get(ids[0]!) ?? []);
      case 'POST /v2/orders/{id}/shipments':
        return this.createShipment(ids[0]!, body);
      case 'PUT /v2/orders/{id}/shipments/{id}':
        return this.updateShipment(ids[0]!, ids[1]!, body);
      case 'GET /v3/hooks':
        return new HttpAnswer(200, list([...this.hooks.values()]));
      case 'POST /v3/hooks':
        return this.createHook(body);
      case 'PUT /v3/hooks/{id}': {
        const hook = this.hooks.get(ids[0]!);
        if (!hook) return v3Error(404, 'Webhook not found');
        Object.assign(hook, pick(asObject(body), ['scope', 'destination', 'is_active', 'headers']));
        return new HttpAnswer(200, { data: hook, meta: {} });
      }
      case 'DELETE /v3/hooks/{id}': {
        const hook = this.hooks.get(ids[0]!);
        if (!hook) return v3Error(404, 'Webhook not found');
        this.hooks.delete(hook.id);
        return new HttpAnswer(200, { data: hook, meta: {} });
      }
      default:
        return v3Error(404, `the simulator has no route ${method} ${path}`);
    }
  }

  private listCustomers(query: URLSearchParams): HttpAnswer {
    const emails = query.get('email:in')?.split(',').map((e) => e.toLowerCase());
    const ids = query.get('id:in')?.split(',').map(Number);
    const found = [...this.customers.values()].filter(
      (c) => (!emails || emails.includes(c.email.toLowerCase())) && (!ids || ids.includes(c.id)),
    );
    const withAddresses = query.get('include')?.split(',').includes('addresses');
    return new HttpAnswer(
      200,
      list(found.map((c) => (withAddresses ? { ...c, addresses: [...this.addresses.values()].filter((a) => a.customer_id === c.id) } : c))),
    );
  }

  private createCustomers(body: unknown): HttpAnswer {
    const items = asArray(body);
    for (const [i, item] of items.entries()) {
      const missing = ['email', 'first_name', 'last_name'].filter((k) => typeof item[k] !== 'string' || item[k] === '');
      if (missing.length > 0) return v3Error(422, 'Input is invalid', Object.fromEntries(missing.map((k) => [`${i}.${k}`, `${k} is required`])));
      const email = String(item.email).toLowerCase();
      if ([...this.customers.values()].some((c) => c.email.toLowerCase() === email)) {
        return v3Error(422, `The email ${String(item.email)} is already in use`, { [`${i}.email`]: 'already in use' });
      }
    }
    const created = items.map((item) => {
      const { addresses, ...fields } = item;
      const customer = this.addCustomer({ email: String(fields.email) });
      Object.assign(customer, pick(fields, ['first_name', 'last_name', 'company', 'phone', 'notes']));
      for (const address of asArray(addresses ?? [])) this.addAddress({ ...address, customer_id: customer.id });
      return customer;
    });
    return new HttpAnswer(200, { data: created, meta: {} });
  }

  private updateCustomers(body: unknown): HttpAnswer {
    const items = asArray(body);
    for (const item of items) {
      if (!this.customers.has(Number(item.id))) return v3Error(422, `customer ${String(item.id)} does not exist`, { id: 'unknown' });
    }
    const updated = items.map((item) => {
      const customer = this.customers.get(Number(item.id))!;
      Object.assign(customer, pick(item, ['email', 'first_name', 'last_name', 'company', 'phone', 'notes']));
      customer.date_modified = new Date().toISOString();
      return customer;
    });
    return new HttpAnswer(200, { data: updated, meta: {} });
  }

  private addAddress(fields: Json): SimAddress {
    const customerId = Number(fields.customer_id);
    if (!this.customers.has(customerId)) throw v3Error(422, `customer ${customerId} does not exist`);
    const missing = ['first_name', 'last_name', 'address1', 'city', 'country_code'].filter((k) => typeof fields[k] !== 'string');
    if (missing.length > 0) throw v3Error(422, 'Input is invalid', Object.fromEntries(missing.map((k) => [k, `${k} is required`])));
    const address: SimAddress = { ...fields, id: this.nextId++, customer_id: customerId };
    this.addresses.set(address.id, address);
    return address;
  }

  private updateAddresses(body: unknown): HttpAnswer {
    const updated = asArray(body).map((item) => {
      const address = this.addresses.get(Number(item.id));
      if (!address) throw v3Error(422, `address ${String(item.id)} does not exist`);
      Object.assign(address, item, { id: address.id, customer_id: address.customer_id });
      return address;
    });
    return new HttpAnswer(200, { data: updated, meta: {} });
  }

  private listProducts(query: URLSearchParams): HttpAnswer {
    const sku = query.get('sku');
    const ids = query.get('id:in')?.split(',').map(Number);
    const found = [...this.products.values()].filter((p) => (sku === null || p.sku === sku) && (!ids || ids.includes(p.id)));
    return new HttpAnswer(200, list(found));
  }

  private createProduct(body: unknown): HttpAnswer {
    const fields = asObject(body);
    const missing = ['name', 'type', 'weight', 'price'].filter((k) => fields[k] === undefined);
    if (missing.length > 0) return v3Error(422, 'Input is invalid', Object.fromEntries(missing.map((k) => [k, `${k} is required`])));
    if (typeof fields.sku === 'string' && [...this.products.values()].some((p) => p.sku === fields.sku)) {
      return v3Error(409, `The product SKU ${fields.sku} is a duplicate`, { sku: 'duplicate' });
    }
    const product = this.addProduct({ sku: String(fields.sku ?? '') });
    Object.assign(product, pick(fields, ['name', 'type', 'price', 'weight', 'description', 'inventory_tracking', 'inventory_level']));
    return new HttpAnswer(200, { data: product, meta: {} });
  }

  private updateProduct(id: number, body: unknown): HttpAnswer {
    const product = this.products.get(id);
    if (!product) return v3Error(404, 'The requested product was not found.');
    Object.assign(product, pick(asObject(body), ['name', 'sku', 'type', 'price', 'weight', 'description', 'inventory_tracking', 'inventory_level']));
    product.date_modified = new Date().toISOString();
    return new HttpAnswer(200, { data: product, meta: {} });
  }

  private adjustInventory(body: unknown): HttpAnswer {
    const fields = asObject(body);
    const items = asArray(fields.items);
    for (const item of items) {
      if (typeof item.location_id !== 'number' || typeof item.quantity !== 'number') {
        return v3Error(422, 'location_id and quantity are required');
      }
      const product = this.products.get(Number(item.product_id));
      if (!product) return v3Error(422, `product ${String(item.product_id)} does not exist`);
    }
    for (const item of items) this.products.get(Number(item.product_id))!.inventory_level = Number(item.quantity);
    this.inventoryAdjustments.push(fields);
    return new HttpAnswer(200, { transaction_id: `tx-${this.nextId++}` });
  }

  private updateOrder(id: number, body: unknown): HttpAnswer {
    const order = this.orders.get(id);
    if (!order) return v2Error(404, 'The requested resource was not found.');
    const statusId = Number(asObject(body).status_id);
    if (!(statusId in ORDER_STATUSES)) return v2Error(400, `The field 'status_id' is invalid.`);
    order.status_id = statusId;
    order.status = ORDER_STATUSES[statusId]!;
    order.date_modified = new Date().toUTCString();
    return new HttpAnswer(200, order);
  }

  /** v2 answers an empty list with 204 No Content. */
  private orderList(orderId: number, rows: unknown[]): HttpAnswer {
    if (!this.orders.has(orderId)) return v2Error(404, 'The requested resource was not found.');
    return rows.length === 0 ? new HttpAnswer(204, undefined) : new HttpAnswer(200, rows);
  }

  private createShipment(orderId: number, body: unknown): HttpAnswer {
    if (!this.orders.has(orderId)) return v2Error(404, 'The requested resource was not found.');
    const fields = asObject(body);
    const addressIds = (this.orderAddresses.get(orderId) ?? []).map((a) => a.id);
    if (!addressIds.includes(Number(fields.order_address_id))) return v2Error(400, `The field 'order_address_id' is invalid.`);
    const productIds = (this.orderProducts.get(orderId) ?? []).map((p) => p.id);
    const items = asArray(fields.items);
    if (items.length === 0 || items.some((i) => !productIds.includes(Number(i.order_product_id)))) {
      return v2Error(400, `The field 'items' is invalid.`);
    }
    const shipment = { ...fields, id: this.nextId++, order_id: orderId, date_created: new Date().toUTCString() };
    this.shipments.set(orderId, [...(this.shipments.get(orderId) ?? []), shipment]);
    return new HttpAnswer(201, shipment);
  }

  private updateShipment(orderId: number, shipmentId: number, body: unknown): HttpAnswer {
    const shipment = (this.shipments.get(orderId) ?? []).find((s) => s.id === shipmentId);
    if (!shipment) return v2Error(404, 'The requested resource was not found.');
    Object.assign(shipment, pick(asObject(body), ['tracking_number', 'shipping_method', 'comments', 'tracking_carrier', 'shipping_provider']));
    return new HttpAnswer(200, shipment);
  }

  private createHook(body: unknown): HttpAnswer {
    const fields = asObject(body);
    if (typeof fields.scope !== 'string' || typeof fields.destination !== 'string') {
      return v3Error(422, 'scope and destination are required');
    }
    const hook: SimHook = {
      id: this.nextId++,
      scope: fields.scope,
      destination: fields.destination,
      is_active: fields.is_active === true,
      headers: (fields.headers as Record<string, string> | undefined) ?? null,
      created_at: Math.floor(Date.now() / 1000),
    };
    this.hooks.set(hook.id, hook);
    return new HttpAnswer(200, { data: hook, meta: {} });
  }
}

function asObject(value: unknown): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw v3Error(400, 'the body must be a JSON object');
  return value as Json;
}

function asArray(value: unknown): Json[] {
  if (!Array.isArray(value)) throw v3Error(400, 'the body must be a JSON array');
  return value.map(asObject);
}

function pick(source: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
}
