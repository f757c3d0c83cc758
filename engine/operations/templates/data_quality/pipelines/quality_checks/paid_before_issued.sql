-- Invoices recorded as paid before they were issued: a clock or data-entry problem.
SELECT invoice_id, issued_on, paid_on
FROM invoices
WHERE paid_on IS NOT NULL
  AND paid_on < issued_on
