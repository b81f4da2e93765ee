-- Sales orders with their lines: one row per order line (one row with empty line columns for an
-- order without lines), so a change to any line changes the order's result. Quotes (QT) and other
-- order types are not storefront orders and are left out.
SELECT
  so.order_type       AS "OrderType",
  so.order_nbr        AS "OrderNbr",
  so.status           AS "Status",
  so.order_date       AS "Date",
  c.customer_cd       AS "CustomerID",
  so.currency_id      AS "CurrencyID",
  so.order_total      AS "OrderTotal",
  so.extern_ref       AS "ExternalRef",
  l.line_nbr          AS "LineNbr",
  i.inventory_cd      AS "InventoryID",
  l.order_qty         AS "OrderQty",
  l.unit_price        AS "UnitPrice",
  l.line_amount       AS "ExtAmount",
  so.last_modified_at AS "LastModified"
FROM sales_order so
JOIN customer c ON c.customer_id = so.customer_id
LEFT JOIN sales_order_line l ON l.order_type = so.order_type AND l.order_nbr = so.order_nbr
LEFT JOIN inventory_item i ON i.inventory_id = l.inventory_id
WHERE so.order_type = 'SO';
