-- Sales categories with their parent (self-join, LEFT: top-level categories have none). The
-- parent's description is in the row, so renaming a category also re-sends its subcategories.
SELECT
  c.category_id      AS "CategoryID",
  c.description      AS "Description",
  c.sort_order       AS "SortOrder",
  p.category_id      AS "ParentCategoryID",
  p.description      AS "ParentDescription",
  c.last_modified_at AS "LastModified"
FROM sales_category c
LEFT JOIN sales_category p ON p.category_id = c.parent_id;
