-- Quantities of stock items per warehouse: the record is an item in a warehouse, so the root is
-- item_warehouse and its key is InventoryID + WarehouseID. INNER joins: a quantity row always has
-- its item and warehouse (foreign keys), and only stock items are tracked.
SELECT
  i.inventory_cd      AS "InventoryID",
  w.warehouse_cd      AS "WarehouseID",
  iw.qty_on_hand      AS "QtyOnHand",
  iw.qty_available    AS "QtyAvailable",
  iw.qty_on_order     AS "QtyOnOrder",
  i.item_status       AS "ItemStatus",
  iw.last_modified_at AS "LastModified"
FROM item_warehouse iw
JOIN inventory_item i ON i.inventory_id = iw.inventory_id
JOIN warehouse w ON w.warehouse_id = iw.warehouse_id
WHERE i.stock_item = true;
