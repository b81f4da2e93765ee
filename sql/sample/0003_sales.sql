-- Sample ERP schema, part 3: sales orders and shipments (Acumatica's SOOrder, SOLine, SOShipment,
-- SOShipLine). Orders and shipments keep their customer: deleting a customer that has any is refused.

-- An order is keyed by its type and number, as in the ERP: each order type has its own numbering,
-- so 'SO' '000001' and 'QT' '000001' are different orders.
CREATE TABLE sales_order (
  order_type       char(2) NOT NULL CHECK (order_type ~ '^[A-Z0-9]{2}$'),
  order_nbr        text NOT NULL,
  customer_id      integer NOT NULL REFERENCES customer,
  -- H = On Hold, N = Open, B = Back Order, S = Shipping, C = Completed, L = Cancelled.
  status           text NOT NULL DEFAULT 'N' CHECK (status IN ('H', 'N', 'B', 'S', 'C', 'L')),
  order_date       date NOT NULL,
  currency_id      char(3) NOT NULL DEFAULT 'USD',
  order_total      numeric(19, 4) NOT NULL DEFAULT 0,
  -- The storefront's order id, for orders imported from a store (NULL for orders entered here).
  extern_ref       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_modified_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_type, order_nbr)
);
CREATE INDEX sales_order_customer_id ON sales_order (customer_id);
-- Incoming storefront webhooks look orders up by the storefront's id.
CREATE INDEX sales_order_extern_ref ON sales_order (extern_ref) WHERE extern_ref IS NOT NULL;
CREATE TRIGGER sales_order_last_modified BEFORE UPDATE ON sales_order
  FOR EACH ROW EXECUTE FUNCTION set_last_modified_at();

-- Order lines. The primary key covers the FK to the order; a non-stock line has no warehouse.
CREATE TABLE sales_order_line (
  order_type   char(2) NOT NULL,
  order_nbr    text NOT NULL,
  line_nbr     integer NOT NULL CHECK (line_nbr > 0),
  inventory_id integer NOT NULL REFERENCES inventory_item,
  warehouse_id integer REFERENCES warehouse,
  description  text,
  order_qty    numeric(25, 6) NOT NULL CHECK (order_qty >= 0),
  unit_price   numeric(19, 4) NOT NULL DEFAULT 0,
  line_amount  numeric(19, 4) NOT NULL DEFAULT 0,
  PRIMARY KEY (order_type, order_nbr, line_nbr),
  FOREIGN KEY (order_type, order_nbr) REFERENCES sales_order ON DELETE CASCADE
);
CREATE INDEX sales_order_line_inventory_id ON sales_order_line (inventory_id);
CREATE INDEX sales_order_line_warehouse_id ON sales_order_line (warehouse_id);

CREATE TABLE shipment (
  shipment_nbr     text PRIMARY KEY,
  customer_id      integer NOT NULL REFERENCES customer,
  warehouse_id     integer NOT NULL REFERENCES warehouse,
  -- H = On Hold, N = Open, F = Confirmed, C = Completed, I = Invoiced, L = Cancelled.
  status           text NOT NULL DEFAULT 'N' CHECK (status IN ('H', 'N', 'F', 'C', 'I', 'L')),
  shipment_date    date NOT NULL,
  carrier          text,
  tracking_nbr     text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipment_customer_id ON shipment (customer_id);
CREATE INDEX shipment_warehouse_id ON shipment (warehouse_id);
CREATE TRIGGER shipment_last_modified BEFORE UPDATE ON shipment
  FOR EACH ROW EXECUTE FUNCTION set_last_modified_at();

-- Shipment lines: each ships (part of) one order line. The item is repeated from the order line,
-- as the ERP does, so the shipment can be read without going through the order.
CREATE TABLE shipment_line (
  shipment_nbr   text NOT NULL REFERENCES shipment ON DELETE CASCADE,
  line_nbr       integer NOT NULL CHECK (line_nbr > 0),
  order_type     char(2) NOT NULL,
  order_nbr      text NOT NULL,
  order_line_nbr integer NOT NULL,
  inventory_id   integer NOT NULL REFERENCES inventory_item,
  shipped_qty    numeric(25, 6) NOT NULL CHECK (shipped_qty >= 0),
  PRIMARY KEY (shipment_nbr, line_nbr),
  FOREIGN KEY (order_type, order_nbr, order_line_nbr) REFERENCES sales_order_line
);
CREATE INDEX shipment_line_order_line ON shipment_line (order_type, order_nbr, order_line_nbr);
CREATE INDEX shipment_line_inventory_id ON shipment_line (inventory_id);
