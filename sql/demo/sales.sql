-- A small synthetic sales ledger for the demo ("make run") and the
-- examples of docs/executors.md: customers, products, invoices and
-- invoice lines from 2022 to 2024.  Deterministic: every value is
-- computed from row numbers, so every load gives the same ledger.
-- Load with: sqlite3 sales.db < sql/demo/sales.sql
PRAGMA foreign_keys = ON;
BEGIN;

CREATE TABLE customer (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	country TEXT NOT NULL,
	since TEXT NOT NULL                   -- YYYY-MM-DD
);

CREATE TABLE product (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	unit_price NUMERIC(10, 2) NOT NULL
);

CREATE TABLE invoice (
	id INTEGER PRIMARY KEY,
	customer_id INTEGER NOT NULL REFERENCES customer(id),
	issued_on TEXT NOT NULL,              -- YYYY-MM-DD
	currency TEXT NOT NULL DEFAULT 'EUR',
	total NUMERIC(10, 2) NOT NULL DEFAULT 0
);

CREATE TABLE invoice_line (
	id INTEGER PRIMARY KEY,
	invoice_id INTEGER NOT NULL REFERENCES invoice(id),
	product_id INTEGER NOT NULL REFERENCES product(id),
	quantity INTEGER NOT NULL CHECK (quantity > 0),
	unit_price NUMERIC(10, 2) NOT NULL
);

CREATE INDEX invoice_customer ON invoice(customer_id);
CREATE INDEX invoice_issued ON invoice(issued_on);
CREATE INDEX invoice_line_invoice ON invoice_line(invoice_id);

-- 24 customers in 8 countries.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24)
INSERT INTO customer (id, name, country, since)
SELECT i,
       'Customer ' || printf('%02d', i),
       CASE i % 8 WHEN 0 THEN 'France' WHEN 1 THEN 'Germany'
                  WHEN 2 THEN 'Italy' WHEN 3 THEN 'Spain'
                  WHEN 4 THEN 'Netherlands' WHEN 5 THEN 'Belgium'
                  WHEN 6 THEN 'Portugal' ELSE 'Austria' END,
       date('2021-01-01', '+' || (i * 13) || ' days')
FROM n;

-- 12 products, 4.50 to 54.00 in steps of 4.50.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12)
INSERT INTO product (id, name, unit_price)
SELECT i,
       CASE i % 4 WHEN 0 THEN 'Ledger binder' WHEN 1 THEN 'Audit hours'
                  WHEN 2 THEN 'Report pack' ELSE 'Archive box' END
           || ' ' || char(64 + i),
       round(i * 4.5, 2)
FROM n;

-- 360 invoices, ten a month from January 2022 to December 2024.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 360)
INSERT INTO invoice (id, customer_id, issued_on)
SELECT i,
       1 + (i * 7) % 24,
       date('2022-01-01', '+' || ((i - 1) / 10) || ' months',
            '+' || ((i * 3) % 28) || ' days')
FROM n;

-- One to four lines an invoice.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4)
INSERT INTO invoice_line (invoice_id, product_id, quantity, unit_price)
SELECT v.id,
       1 + (v.id * 5 + n.i * 3) % 12,
       1 + (v.id + n.i * 7) % 9,
       p.unit_price
FROM invoice v
JOIN n ON n.i <= 1 + v.id % 4
JOIN product p ON p.id = 1 + (v.id * 5 + n.i * 3) % 12
ORDER BY v.id, n.i;

UPDATE invoice
SET total = (SELECT round(sum(quantity * unit_price), 2)
             FROM invoice_line l WHERE l.invoice_id = invoice.id);

COMMIT;
