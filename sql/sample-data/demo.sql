-- Demo data for the sample ERP schema (sql/sample/), for demos and benchmarks; not a migration.
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/sample-data/demo.sql
--
-- Deterministic: every value is a function of generate_series counters (no random(), no now()),
-- so two databases loaded with it hold the same rows, ids and timestamps. It loads into an empty
-- schema only and refuses otherwise, inside one transaction (nothing is left half-loaded).
--
-- What it makes (test/sample/schema.test.ts asserts these counts):
--   price_class           10
--   customer             200   customers 40, 80, ..., 200 are bare sign-ups with no contact,
--                               address or location (they exercise the LEFT JOINs' NULL side);
--                               every 50th has a note long enough to be TOASTed out of line
--   contact              290   a primary contact per customer with any; even customers a second
--   address              240   a billing address (also default shipping unless n % 4 = 0);
--                               customers with n % 4 = 0 a separate default shipping address
--   customer_location    230   MAIN for each customer with an address; n % 5 = 0 also BRANCH
--                               (billing address, no contact; inactive when n % 15 = 0)
--   warehouse              3
--   sales_category        30   6 top-level categories with 4 subcategories each
--   inventory_item       500   400 stock items (n % 5 <> 0), 100 non-stock services
--   item_sales_category  625   every item in its subcategory; every 4th also in the parent
--   item_warehouse      1200   every stock item in every warehouse
--   sales_order          300   280 sales orders (SO 000001-000280) and 20 quotes (QT 000001-000020)
--   sales_order_line     750   1 to 4 lines per order
--   shipment             100   one per sales order SO 000001-000100
--   shipment_line        250   one per line of the shipped order
-- Ids are assigned explicitly; identity sequences are moved past them at the end, so rows inserted
-- afterwards without an id get fresh ones.

BEGIN;

DO $$
BEGIN
  IF EXISTS (SELECT FROM price_class) OR EXISTS (SELECT FROM customer) OR EXISTS (SELECT FROM contact)
     OR EXISTS (SELECT FROM address) OR EXISTS (SELECT FROM customer_location)
     OR EXISTS (SELECT FROM warehouse) OR EXISTS (SELECT FROM sales_category)
     OR EXISTS (SELECT FROM inventory_item) OR EXISTS (SELECT FROM item_sales_category)
     OR EXISTS (SELECT FROM item_warehouse) OR EXISTS (SELECT FROM sales_order)
     OR EXISTS (SELECT FROM sales_order_line) OR EXISTS (SELECT FROM shipment)
     OR EXISTS (SELECT FROM shipment_line) THEN
    RAISE EXCEPTION 'demo.sql loads into an empty sample schema only, and this one already holds rows'
      USING HINT = 'Load it into a fresh database (with the sample schema installed).';
  END IF;
END
$$;

-- Price classes ---------------------------------------------------------------------------------

INSERT INTO price_class (price_class_id, description, sort_order, created_at, last_modified_at)
SELECT v.id, v.description, v.n * 10,
       timestamptz '2023-01-01 08:00:00+00' + v.n * interval '1 minute',
       timestamptz '2023-01-01 08:00:00+00' + v.n * interval '1 minute'
FROM (VALUES (1, 'RETAIL', 'Retail customers'),
             (2, 'WHOLESALE', 'Wholesale accounts'),
             (3, 'VIP', 'Loyalty program members'),
             (4, 'EMPLOYEE', 'Staff purchases'),
             (5, 'EDU', 'Schools and universities'),
             (6, 'GOV', 'Government agencies'),
             (7, 'DEALER', 'Authorised dealers'),
             (8, 'EXPORT', 'Export customers'),
             (9, 'ONLINE', 'Web store customers'),
             (10, 'B2B', 'Business portal accounts')) AS v (n, id, description);

-- Customers -------------------------------------------------------------------------------------

INSERT INTO customer (customer_id, customer_cd, name, status, customer_class, price_class_id,
                      credit_limit, email, created_at, last_modified_at, note)
SELECT n,
       'C' || lpad(n::text, 6, '0'),
       -- 20 x 10 distinct names.
       (ARRAY['Acme', 'Birch', 'Cobalt', 'Delta', 'Evergreen', 'Fjord', 'Granite', 'Harbor', 'Iris',
              'Juniper', 'Keystone', 'Lumen', 'Meridian', 'Northwind', 'Orchard', 'Pioneer', 'Quarry',
              'Redwood', 'Summit', 'Tidewater'])[(n - 1) % 20 + 1]
         || ' ' ||
       (ARRAY['Ltd', 'Supply Co.', 'Trading', 'Outfitters', 'Retail', 'Goods', 'Partners',
              'Wholesale', 'Market', 'Industries'])[(n - 1) / 20 + 1],
       CASE WHEN n % 25 = 0 THEN 'I' WHEN n % 10 = 3 THEN 'H' ELSE 'A' END,
       CASE WHEN n % 4 = 0 THEN 'WHOLESALE' ELSE 'RETAIL' END,
       -- Every 9th customer has no price class; the others cycle through all ten.
       CASE WHEN n % 9 = 0 THEN NULL
            ELSE (ARRAY['RETAIL', 'WHOLESALE', 'VIP', 'EMPLOYEE', 'EDU', 'GOV', 'DEALER', 'EXPORT',
                        'ONLINE', 'B2B'])[(n * 7) % 10 + 1] END,
       ((n % 10) + 1) * 2500.00,
       'ar' || n || '@customer' || n || '.example.com',
       timestamptz '2023-01-02 09:00:00+00' + (n - 1) * interval '1 day',
       timestamptz '2023-01-02 09:00:00+00' + (n - 1) * interval '1 day' + (n % 30) * interval '1 day'
         + interval '3 hours',
       CASE
         -- 6,400 characters of hex digits: too random for pglz, so stored out of line (TOAST).
         WHEN n % 50 = 0 THEN (SELECT string_agg(md5(n || ':' || k), '' ORDER BY k) FROM generate_series(1, 200) AS k)
         WHEN n % 7 = 0 THEN 'Prefers deliveries before noon.'
       END
FROM generate_series(1, 200) AS n;

-- Contacts: ids 2n-1 (primary) and 2n (second contact of even customers).
INSERT INTO contact (contact_id, customer_id, first_name, last_name, job_title, email, phone,
                     is_primary, created_at, last_modified_at)
SELECT 2 * c.n - 2 + k,
       c.n,
       (ARRAY['Anna', 'Ben', 'Carla', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas',
              'Kara', 'Liam', 'Maya', 'Nils', 'Olga', 'Pedro', 'Quinn', 'Rosa', 'Sam', 'Tara'])[(c.n + k * 7) % 20 + 1],
       (ARRAY['Andersen', 'Brown', 'Costa', 'Dubois', 'Evans', 'Fischer', 'Garcia', 'Hansen', 'Ito',
              'Jensen', 'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Olsen', 'Patel', 'Quist', 'Rossi',
              'Silva', 'Tanaka'])[(c.n * 3 + k) % 20 + 1],
       CASE k WHEN 1 THEN 'Purchasing Manager' ELSE 'Accounts Payable' END,
       'contact' || (2 * c.n - 2 + k) || '@customer' || c.n || '.example.com',
       '+1 555 ' || lpad(((c.n * 37 + k) % 10000)::text, 4, '0'),
       k = 1,
       timestamptz '2023-01-02 09:05:00+00' + (c.n - 1) * interval '1 day',
       timestamptz '2023-01-02 09:05:00+00' + (c.n - 1) * interval '1 day' + (c.n % 20) * interval '1 day'
FROM generate_series(1, 200) AS c (n)
CROSS JOIN generate_series(1, 2) AS k
WHERE c.n % 40 <> 0 AND (k = 1 OR c.n % 2 = 0);

-- Addresses: 2n-1 is the billing address, 2n a separate shipping address (n % 4 = 0).
WITH city (city_nbr, city, state, postal_code, country_cd) AS (
  VALUES (0, 'Portland', 'OR', '97201', 'US'), (1, 'Seattle', 'WA', '98101', 'US'),
         (2, 'Austin', 'TX', '73301', 'US'), (3, 'Denver', 'CO', '80202', 'US'),
         (4, 'Chicago', 'IL', '60601', 'US'), (5, 'Boston', 'MA', '02108', 'US'),
         (6, 'Toronto', 'ON', 'M5H 2N2', 'CA'), (7, 'Vancouver', 'BC', 'V6B 1A1', 'CA'),
         (8, 'London', NULL, 'SW1A 1AA', 'GB'), (9, 'Sydney', 'NSW', '2000', 'AU')
)
INSERT INTO address (address_id, customer_id, line1, line2, city, state, postal_code, country_cd,
                     is_default_billing, is_default_shipping, created_at, last_modified_at)
SELECT 2 * c.n - 2 + k,
       c.n,
       ((c.n * 13 + k * 101) % 900 + 100) || ' '
         || (ARRAY['Main Street', 'Oak Avenue', 'Harbor Road', 'Mill Lane', 'Station Road',
                   'Park Avenue', 'King Street', 'Lake Drive', 'High Street', 'Church Road'])[(c.n + k) % 10 + 1],
       CASE WHEN c.n % 6 = 0 THEN 'Suite ' || (c.n + k * 100) END,
       city.city, city.state, city.postal_code, city.country_cd,
       k = 1,
       k = 2 OR c.n % 4 <> 0,
       timestamptz '2023-01-02 09:10:00+00' + (c.n - 1) * interval '1 day',
       timestamptz '2023-01-02 09:10:00+00' + (c.n - 1) * interval '1 day' + (c.n % 25) * interval '1 day'
FROM generate_series(1, 200) AS c (n)
CROSS JOIN generate_series(1, 2) AS k
JOIN city ON city.city_nbr = (c.n + k) % 10
WHERE c.n % 40 <> 0 AND (k = 1 OR c.n % 4 = 0);

-- Locations: 2n-1 is MAIN (default shipping address, primary contact), 2n a BRANCH (n % 5 = 0).
INSERT INTO customer_location (location_id, customer_id, location_cd, description, address_id,
                               contact_id, active, ship_via, tax_zone, created_at, last_modified_at)
SELECT 2 * c.n - 2 + k,
       c.n,
       CASE k WHEN 1 THEN 'MAIN' ELSE 'BRANCH' END,
       CASE k WHEN 1 THEN 'Primary location' ELSE 'Branch office' END,
       CASE WHEN k = 1 AND c.n % 4 = 0 THEN 2 * c.n ELSE 2 * c.n - 1 END,
       CASE k WHEN 1 THEN 2 * c.n - 1 END,
       NOT (k = 2 AND c.n % 15 = 0),
       (ARRAY['UPS GROUND', 'FEDEX 2DAY', 'USPS PRIORITY', 'DHL EXPRESS'])[(c.n + k) % 4 + 1],
       a.country_cd || coalesce('-' || a.state, ''),
       timestamptz '2023-01-02 09:15:00+00' + (c.n - 1) * interval '1 day',
       timestamptz '2023-01-02 09:15:00+00' + (c.n - 1) * interval '1 day' + (c.n % 10) * interval '1 day'
FROM generate_series(1, 200) AS c (n)
CROSS JOIN generate_series(1, 2) AS k
JOIN address a ON a.address_id = CASE WHEN k = 1 AND c.n % 4 = 0 THEN 2 * c.n ELSE 2 * c.n - 1 END
WHERE c.n % 40 <> 0 AND (k = 1 OR c.n % 5 = 0);

-- Warehouses and categories ---------------------------------------------------------------------

INSERT INTO warehouse (warehouse_id, warehouse_cd, description, created_at, last_modified_at)
VALUES (1, 'MAIN', 'Main warehouse', '2023-01-01 08:00:00+00', '2023-01-01 08:00:00+00'),
       (2, 'EAST', 'East coast distribution center', '2023-01-01 08:00:00+00', '2023-01-01 08:00:00+00'),
       (3, 'WEST', 'West coast distribution center', '2023-01-01 08:00:00+00', '2023-01-01 08:00:00+00');

-- Ids 1-6 are the top-level categories, 7-30 their subcategories (4 each, in order).
INSERT INTO sales_category (category_id, parent_id, description, sort_order, created_at, last_modified_at)
SELECT r, NULL,
       (ARRAY['Apparel', 'Footwear', 'Outdoor', 'Electronics', 'Home & Kitchen', 'Services'])[r],
       r * 10,
       timestamptz '2023-01-01 10:00:00+00' + r * interval '1 minute',
       timestamptz '2023-01-01 10:00:00+00' + r * interval '1 minute'
FROM generate_series(1, 6) AS r;

INSERT INTO sales_category (category_id, parent_id, description, sort_order, created_at, last_modified_at)
SELECT 7 + k, k / 4 + 1,
       (ARRAY['Shirts', 'Jackets', 'Trousers', 'Accessories',
              'Running Shoes', 'Hiking Boots', 'Sandals', 'Socks & Laces',
              'Tents', 'Backpacks', 'Sleeping Bags', 'Camp Kitchen',
              'Headphones', 'Chargers', 'Cameras', 'Smart Home',
              'Cookware', 'Tableware', 'Storage', 'Textiles',
              'Gift Services', 'Warranties', 'Installation', 'Repairs'])[k + 1],
       (k % 4 + 1) * 10,
       timestamptz '2023-01-01 11:00:00+00' + k * interval '1 minute',
       timestamptz '2023-01-01 11:00:00+00' + k * interval '1 minute'
FROM generate_series(0, 23) AS k;

-- Items -----------------------------------------------------------------------------------------
-- Item n is a stock item unless n % 5 = 0. Stock items are spread over the 20 product
-- subcategories (7-26) by their ordinal s among stock items; non-stock items (ordinal t) over the
-- 4 service subcategories (27-30).

CREATE TEMP TABLE demo_item ON COMMIT DROP AS
SELECT n,
       n % 5 <> 0 AS stock_item,
       CASE WHEN n % 5 <> 0 THEN n - n / 5 ELSE n / 5 END AS ordinal,
       CASE WHEN n % 5 <> 0 THEN 7 + (n - n / 5 - 1) % 20 ELSE 27 + (n / 5 - 1) % 4 END AS category_id
FROM generate_series(1, 500) AS n;

INSERT INTO inventory_item (inventory_id, inventory_cd, description, item_class, stock_item, item_status,
                            base_unit, base_price, weight, default_warehouse_id, created_at, last_modified_at)
SELECT i.n,
       CASE WHEN i.stock_item THEN upper(substr(root.description, 1, 3)) ELSE 'SVC' END
         || '-' || lpad(i.n::text, 5, '0'),
       CASE WHEN i.stock_item
            THEN (ARRAY['Classic', 'Trail', 'Urban', 'Alpine', 'Coastal', 'Summit', 'Everyday', 'Pro',
                        'Lite', 'Heritage'])[i.n % 10 + 1] || ' ' || cat.description || ' M' || i.ordinal
            ELSE cat.description || ', plan ' || i.ordinal END,
       CASE WHEN i.stock_item THEN upper(regexp_replace(root.description, '[^A-Za-z]', '', 'g')) ELSE 'SERVICE' END,
       i.stock_item,
       CASE WHEN i.n % 50 = 1 THEN 'IN' WHEN i.n % 97 = 0 THEN 'NS' ELSE 'AC' END,
       CASE WHEN cat.category_id IN (29, 30) THEN 'HOUR' ELSE 'EA' END,
       CASE WHEN i.stock_item THEN ((i.n * 37) % 500) + 9.99 ELSE 5.00 + (i.ordinal % 4) * 20 END,
       CASE WHEN i.stock_item THEN (i.n % 40 + 1) * 0.25 ELSE 0 END,
       CASE WHEN i.stock_item THEN (i.ordinal - 1) % 3 + 1 END,
       timestamptz '2023-03-01 08:00:00+00' + i.n * interval '2 hours',
       timestamptz '2023-03-01 08:00:00+00' + i.n * interval '2 hours' + (i.n % 60) * interval '1 day'
FROM demo_item i
JOIN sales_category cat ON cat.category_id = i.category_id
JOIN sales_category root ON root.category_id = cat.parent_id;

INSERT INTO item_sales_category (inventory_id, category_id)
SELECT i.n, i.category_id FROM demo_item i
UNION ALL
SELECT i.n, cat.parent_id
FROM demo_item i
JOIN sales_category cat ON cat.category_id = i.category_id
WHERE i.n % 4 = 0;

-- On hand less an allocation that can exceed it (overselling gives a negative availability).
INSERT INTO item_warehouse (inventory_id, warehouse_id, qty_on_hand, qty_available, qty_on_order,
                            created_at, last_modified_at)
SELECT i.n, w,
       (i.n * 13 + w * 29) % 250,
       (i.n * 13 + w * 29) % 250 - (i.n * w) % 15,
       ((i.n + w) % 7) * 10,
       timestamptz '2023-06-01 06:00:00+00' + i.n * interval '1 minute',
       timestamptz '2023-06-01 06:00:00+00' + i.n * interval '1 minute' + ((i.n + w) % 90) * interval '1 day'
FROM demo_item i
CROSS JOIN generate_series(1, 3) AS w
WHERE i.stock_item;

-- Orders ----------------------------------------------------------------------------------------
-- Order n (1-300): SO n for n <= 280, else QT n - 280. Lines are computed first so each order's
-- total is the sum of its lines (the stamp trigger would otherwise move last_modified_at to now()
-- on an UPDATE of the totals).

CREATE TEMP TABLE demo_order ON COMMIT DROP AS
SELECT n,
       (CASE WHEN n <= 280 THEN 'SO' ELSE 'QT' END)::char(2) AS order_type,
       lpad((CASE WHEN n <= 280 THEN n ELSE n - 280 END)::text, 6, '0') AS order_nbr
FROM generate_series(1, 300) AS n;

CREATE TEMP TABLE demo_order_line ON COMMIT DROP AS
SELECT o.n, o.order_type, o.order_nbr, l AS line_nbr, it.inventory_id, it.default_warehouse_id AS warehouse_id,
       it.description, ((o.n + l) % 5 + 1)::numeric AS order_qty, it.base_price AS unit_price,
       ((o.n + l) % 5 + 1) * it.base_price AS line_amount
FROM demo_order o
CROSS JOIN LATERAL generate_series(1, o.n % 4 + 1) AS l
JOIN inventory_item it ON it.inventory_id = (o.n * 11 + l * 17) % 500 + 1;

INSERT INTO sales_order (order_type, order_nbr, customer_id, status, order_date, currency_id, order_total,
                         extern_ref, created_at, last_modified_at)
SELECT o.order_type, o.order_nbr,
       (o.n * 7) % 200 + 1,
       CASE WHEN o.order_type = 'QT' THEN 'N'
            WHEN o.n <= 90 THEN 'C'
            WHEN o.n <= 100 THEN 'S'
            ELSE (ARRAY['H', 'B', 'L', 'N', 'N'])[o.n % 5 + 1] END,
       date '2024-01-01' + (o.n - 1),
       CASE WHEN o.n % 6 = 0 THEN 'CAD' ELSE 'USD' END,
       (SELECT sum(dl.line_amount) FROM demo_order_line dl WHERE dl.n = o.n),
       -- Even sales orders came from the storefront.
       CASE WHEN o.order_type = 'SO' AND o.n % 2 = 0 THEN (500000 + o.n)::text END,
       timestamptz '2024-01-01 09:00:00+00' + (o.n - 1) * interval '1 day',
       timestamptz '2024-01-01 09:00:00+00' + (o.n - 1) * interval '1 day' + (o.n % 4) * interval '1 day'
         + interval '30 minutes'
FROM demo_order o;

INSERT INTO sales_order_line (order_type, order_nbr, line_nbr, inventory_id, warehouse_id, description,
                              order_qty, unit_price, line_amount)
SELECT order_type, order_nbr, line_nbr, inventory_id, warehouse_id, description, order_qty, unit_price, line_amount
FROM demo_order_line;

-- Shipments: shipment n ships all of SO n (n = 1-100): completed up to 90, confirmed 91-95, open after.
INSERT INTO shipment (shipment_nbr, customer_id, warehouse_id, status, shipment_date, carrier, tracking_nbr,
                      created_at, last_modified_at)
SELECT lpad(n::text, 6, '0'),
       (n * 7) % 200 + 1,
       n % 3 + 1,
       CASE WHEN n <= 90 THEN 'C' WHEN n <= 95 THEN 'F' ELSE 'N' END,
       date '2024-01-03' + (n - 1),
       (ARRAY['UPS', 'FEDEX', 'USPS', 'DHL'])[n % 4 + 1],
       CASE WHEN n <= 95 THEN upper(substr(md5('shipment ' || n), 1, 18)) END,
       timestamptz '2024-01-03 14:00:00+00' + (n - 1) * interval '1 day',
       timestamptz '2024-01-03 14:00:00+00' + (n - 1) * interval '1 day' + interval '4 hours'
FROM generate_series(1, 100) AS n;

INSERT INTO shipment_line (shipment_nbr, line_nbr, order_type, order_nbr, order_line_nbr, inventory_id, shipped_qty)
SELECT lpad(dl.n::text, 6, '0'), dl.line_nbr, dl.order_type, dl.order_nbr, dl.line_nbr, dl.inventory_id, dl.order_qty
FROM demo_order_line dl
WHERE dl.order_type = 'SO' AND dl.n <= 100;

-- Move identity sequences past the explicit ids.
SELECT setval(pg_get_serial_sequence('customer', 'customer_id'), (SELECT max(customer_id) FROM customer)) AS customer,
       setval(pg_get_serial_sequence('contact', 'contact_id'), (SELECT max(contact_id) FROM contact)) AS contact,
       setval(pg_get_serial_sequence('address', 'address_id'), (SELECT max(address_id) FROM address)) AS address,
       setval(pg_get_serial_sequence('customer_location', 'location_id'),
              (SELECT max(location_id) FROM customer_location)) AS customer_location,
       setval(pg_get_serial_sequence('warehouse', 'warehouse_id'), (SELECT max(warehouse_id) FROM warehouse)) AS warehouse,
       setval(pg_get_serial_sequence('sales_category', 'category_id'),
              (SELECT max(category_id) FROM sales_category)) AS sales_category,
       setval(pg_get_serial_sequence('inventory_item', 'inventory_id'),
              (SELECT max(inventory_id) FROM inventory_item)) AS inventory_item;

COMMIT;

-- Fresh statistics, so the first queries over the demo data plan as they will later.
ANALYZE price_class, customer, contact, address, customer_location, warehouse, sales_category,
        inventory_item, item_sales_category, item_warehouse, sales_order, sales_order_line, shipment,
        shipment_line;
