-- Customers for the storefront: one row per customer, with its primary contact and default billing
-- address. Both are LEFT joins (a customer without them is still pushed), filtered on the child in
-- ON; the partial unique indexes contact_one_primary and address_one_default_billing guarantee at
-- most one match each, so a customer is exactly one row.
SELECT
  c.customer_cd      AS "CustomerID",
  c.name             AS "CustomerName",
  c.status           AS "Status",
  c.customer_class   AS "CustomerClass",
  c.price_class_id   AS "PriceClassID",
  c.credit_limit     AS "CreditLimit",
  c.email            AS "Email",
  pc.first_name      AS "FirstName",
  pc.last_name       AS "LastName",
  pc.phone           AS "Phone",
  ba.line1           AS "AddressLine1",
  ba.line2           AS "AddressLine2",
  ba.city            AS "City",
  ba.state           AS "State",
  ba.postal_code     AS "PostalCode",
  ba.country_cd      AS "Country",
  c.last_modified_at AS "LastModified"
FROM customer c
LEFT JOIN contact pc ON pc.customer_id = c.customer_id AND pc.is_primary = true
LEFT JOIN address ba ON ba.customer_id = c.customer_id AND ba.is_default_billing = true;
