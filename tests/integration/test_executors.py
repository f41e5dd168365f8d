"""The built-in executors end to end on real data: the Chinook sales
ledger (../shared/data/chinook.sqlite, copied to a temporary directory
first), a real scheduler behind the shared harness, jobs created and
results read through the HTTP API.  Expected values come from independent
queries made here with Python's sqlite3."""

import csv
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from harness import Service, builddir, srcdir, wait_until
from harness import op_info, job_info
from test_scheduler import set_conf, backoff

CHINOOK = os.environ.get("CHINOOK") or os.path.join(
    os.path.dirname(srcdir()), "shared", "data", "chinook.sqlite")
if not os.path.exists(CHINOOK):
    CHINOOK = "/work/shared/data/chinook.sqlite"

FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "ABANDONED")

# A first run soon, after a success again 50 ms later (until the test
# stops the job), and never again after a failure in the life of a test.
ONCE = backoff(50, 50, 3600000, inc=100000, dec=1)

# A query that returns no row until it is stopped.
ENDLESS = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
           "SELECT count(*) FROM c")

REVENUE = ("SELECT c.Country AS country, "
           "strftime('%Y-%m', i.InvoiceDate) AS month, "
           "round(sum(i.Total), 2) AS revenue "
           "FROM Invoice i JOIN Customer c ON c.CustomerId = i.CustomerId "
           "GROUP BY 1, 2 ORDER BY 1, 2")
TOTALS = "SELECT InvoiceId, Total FROM Invoice"
LINES = ("SELECT InvoiceId, sum(UnitPrice * Quantity) AS lines "
         "FROM InvoiceLine GROUP BY InvoiceId")

WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    n = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        for _ in range(20):
            db.execute("INSERT INTO Genre (Name) VALUES (?)",
                       ("written %d" % n,))
            n += 1
        db.execute("COMMIT")
        if n == 200:
            open(sys.argv[2], "w").close()
""")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@unittest.skipUnless(os.path.exists(CHINOOK), "no chinook.sqlite")
class TestExecutors(unittest.TestCase):
    """One service and one scheduler for the whole class; every test
    makes jobs of its own."""

    @classmethod
    def setUpClass(cls):
        cls.data = tempfile.mkdtemp(prefix="ledgerops-exec-")
        d = cls.data
        for name in ("chinook", "edited", "badfk", "live"):
            shutil.copyfile(CHINOOK, os.path.join(d, name + ".db"))
        os.mkdir(os.path.join(d, "reports"))
        os.mkdir(os.path.join(d, "backups"))
        cls.prepare_copies()
        extra = textwrap.dedent("""
            [source.chinook]
            path = {d}/chinook.db
            roles = reporting, audit

            [source.edited]
            path = {d}/edited.db
            roles = audit

            [source.badfk]
            path = {d}/badfk.db
            roles = audit

            [source.live]
            path = {d}/live.db
            roles = operations

            [source.live_copy]
            path = {d}/backups/live-copy.db
            roles = audit

            [target.it_reports]
            path = {d}/reports
            roles = reporting

            [target.it_backups]
            path = {d}/backups
            roles = operations
            """).format(d=d)
        cls.svc = Service(pool=2, extra_conf=extra).start()
        set_conf(cls.svc.conf_path, poll_interval_ms=50, lease_ms=5000)
        cls.log = open(os.path.join(cls.svc.rundir, "sched.log"), "wb")
        cls.sched = subprocess.Popen(
            [os.path.join(builddir(), "ledgerops-scheduler"), "-c",
             cls.svc.conf_path], stdin=subprocess.DEVNULL, stdout=cls.log,
            stderr=subprocess.STDOUT)

    @classmethod
    def prepare_copies(cls):
        # Two totals altered and one line deleted (of an invoice with
        # several, so that it still has lines).
        db = sqlite3.connect(os.path.join(cls.data, "edited.db"))
        db.execute("UPDATE Invoice SET Total = Total + 1 "
                   "WHERE InvoiceId IN (5, 100)")
        line = db.execute("SELECT min(InvoiceLineId) FROM InvoiceLine "
                          "WHERE InvoiceId = 200").fetchone()[0]
        db.execute("DELETE FROM InvoiceLine WHERE InvoiceLineId = ?",
                   (line,))
        db.commit()
        db.close()

        # A line of an invoice that does not exist (foreign keys are off
        # by default in sqlite3, as in most writers).
        db = sqlite3.connect(os.path.join(cls.data, "badfk.db"))
        db.execute("INSERT INTO InvoiceLine (InvoiceLineId, InvoiceId, "
                   "TrackId, UnitPrice, Quantity) "
                   "VALUES (99999, 77777, 1, 0.99, 1)")
        db.commit()
        db.close()

        # The live ledger is in WAL mode: writers go on during a backup.
        db = sqlite3.connect(os.path.join(cls.data, "live.db"))
        db.execute("PRAGMA journal_mode = WAL")
        db.close()

    @classmethod
    def tearDownClass(cls):
        if cls.sched.poll() is None:
            cls.sched.send_signal(signal.SIGTERM)
            try:
                cls.sched.wait(15)
            except subprocess.TimeoutExpired:
                cls.sched.kill()
                cls.sched.wait(5)
        cls.log.close()
        with open(os.path.join(cls.svc.rundir, "sched.log")) as f:
            log = f.read()
        cls.svc.stop()
        shutil.rmtree(cls.data, ignore_errors=True)
        if "Sanitizer" in log or "runtime error" in log:
            raise AssertionError("scheduler log: %s" % log[-3000:])

    # -- jobs through the API

    def run_job(self, type_, definition, name, params, roles, timeout=60):
        """Creates the job and returns its first finished execution."""
        r = self.svc.put("", op_info(type_, definition))
        self.assertIn(r.status, (200,), r)
        r = self.svc.put("%s/%s" % (type_, definition),
                         job_info(name, roles, params, ONCE))
        self.assertEqual(r.status, 200, r)
        address = "%s/%s/%s" % (type_, definition, name)

        def first():
            r = self.svc.get(address + "/")
            if r.status != 200:
                return None
            for e in r.json()["data"]:
                if e["ordinal"] == 1 and e["status"] in FINAL:
                    return e
            return None
        e = wait_until(first, timeout, 0.05)
        self.assertIsNotNone(e, "%s never finished" % address)
        # One execution is enough; a stopped job is left alone, and one
        # that started meanwhile is cancelled: the tests look at the
        # target directories once it has ended.
        self.svc.post("%s?status=STOPPED" % address)

        def all_ended():
            r = self.svc.get(address + "/?filter=status==STARTED")
            return r.status == 200 and r.json()["data"] == []
        self.assertTrue(wait_until(all_ended, timeout, 0.05),
                        "%s: a run never ended" % address)
        return e

    def chinook(self, name="chinook.db"):
        return sqlite3.connect(os.path.join(self.data, name))

    # -- REPORT/sql

    def test_report_revenue_per_country_and_month(self):
        e = self.run_job("REPORT", "sql", "revenue",
                         {"source": "chinook", "query": REVENUE,
                          "target": "it_reports"}, ["reporting"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("SUCCEEDED", "0"), e)
        res = e["result"]
        self.assertEqual(res["columns"], ["country", "month", "revenue"])
        self.assertFalse(res["truncated"])

        # Independently: from the lines, summed here in Python.
        want = {}
        db = self.chinook()
        for country, month, amount in db.execute(
                "SELECT c.Country, substr(i.InvoiceDate, 1, 7), "
                "l.UnitPrice * l.Quantity FROM InvoiceLine l "
                "JOIN Invoice i ON i.InvoiceId = l.InvoiceId "
                "JOIN Customer c ON c.CustomerId = i.CustomerId"):
            want[(country, month)] = want.get((country, month), 0) + amount
        db.close()
        got = {(c, m): v for c, m, v in res["rows"]}
        self.assertEqual(res["row_count"], len(want))
        self.assertEqual(sorted(got), sorted(want))
        for k in want:
            self.assertAlmostEqual(got[k], want[k], places=6, msg=k)

        # The CSV file holds the same rows.
        self.assertEqual(res["csv"]["target"], "it_reports")
        self.assertEqual(res["csv"]["file"], "REPORT_sql_revenue.1.csv")
        path = os.path.join(self.data, "reports", res["csv"]["file"])
        self.assertEqual(os.path.getsize(path), res["csv"]["bytes"])
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], res["columns"])
        self.assertEqual(len(rows) - 1, len(want))
        for c, m, v in rows[1:]:
            self.assertAlmostEqual(float(v), want[(c, m)], places=6)
        leftovers = [n for n in os.listdir(os.path.join(self.data,
                                                        "reports"))
                     if n.startswith(".")]
        self.assertEqual(leftovers, [])

    def test_report_cancelled_leaves_no_file(self):
        """STOPPED cancels a running report with SIGTERM: the CSV file it
        had created under its temporary name goes with it."""
        reports = os.path.join(self.data, "reports")
        self.assertEqual(self.svc.put("", op_info("REPORT", "sql")).status,
                         200)
        r = self.svc.put("REPORT/sql",
                         job_info("endless", ["reporting"],
                                  {"source": "chinook", "query": ENDLESS,
                                   "target": "it_reports"}, ONCE))
        self.assertEqual(r.status, 200, r)

        def its_files():
            return [n for n in os.listdir(reports)
                    if "REPORT_sql_endless." in n]
        self.assertTrue(wait_until(its_files, 30, 0.05),
                        "the report never created its file")
        self.svc.post("REPORT/sql/endless?status=STOPPED")

        def ended():
            r = self.svc.get("REPORT/sql/endless/")
            data = r.json()["data"] if r.status == 200 else []
            return data if data and data[0]["status"] in FINAL else None
        runs = wait_until(ended, 30, 0.05)
        self.assertIsNotNone(runs, "the run was never cancelled")
        self.assertEqual([x["status"] for x in runs], ["CANCELLED"])
        self.assertEqual(its_files(), [])

    def test_report_row_limit(self):
        e = self.run_job("REPORT", "sql", "tracks",
                         {"source": "chinook", "row_limit": "10",
                          "query": "SELECT TrackId, Name FROM Track "
                                   "ORDER BY TrackId"}, ["audit"])
        self.assertEqual(e["status"], "SUCCEEDED", e)
        res = e["result"]
        self.assertEqual(len(res["rows"]), 10)
        self.assertEqual(res["row_count"], 3503)
        self.assertTrue(res["truncated"])

    # -- RECONCILE/sql

    def test_reconcile_all_invoices_match(self):
        e = self.run_job("RECONCILE", "sql", "totals",
                         {"left_source": "chinook", "left_query": TOTALS,
                          "right_query": LINES, "tolerance": "0.005"},
                         ["audit"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("SUCCEEDED", "MATCHED"), e)
        res = e["result"]
        self.assertEqual(res["matched"], 412)
        self.assertEqual(res["left"]["rows"], 412)
        self.assertEqual(res["right"]["rows"], 412)
        for k in ("missing_left", "missing_right", "differing",
                  "duplicates"):
            self.assertEqual(res[k], 0, k)

    def test_reconcile_reports_exactly_the_three_changed(self):
        e = self.run_job("RECONCILE", "sql", "edited",
                         {"left_source": "edited", "left_query": TOTALS,
                          "right_source": "edited", "right_query": LINES,
                          "tolerance": "0.005"}, ["audit"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("FAILED", "MISMATCH"), e)
        res = e["result"]
        self.assertEqual(res["differing"], 3)
        self.assertEqual(res["matched"], 409)
        self.assertEqual(res["missing_left"] + res["missing_right"], 0)
        self.assertEqual(sorted(d["key"] for d in res["differing_rows"]),
                         [5, 100, 200])
        db = self.chinook("edited.db")
        for d in res["differing_rows"]:
            total, = db.execute("SELECT Total FROM Invoice WHERE "
                                "InvoiceId = ?", (d["key"],)).fetchone()
            self.assertAlmostEqual(d["left"]["Total"], total)
            self.assertEqual(d["columns"], ["Total"])
        db.close()

    # -- REPLICATE/sqlite-backup

    def test_backup_while_another_process_writes(self):
        live = os.path.join(self.data, "live.db")
        flag = os.path.join(self.data, "writer-started")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, live, flag])
        try:
            self.assertTrue(wait_until(lambda: os.path.exists(flag), 20))
            e = self.run_job("REPLICATE", "sqlite-backup", "live",
                             {"source": "live", "target": "it_backups",
                              "file_name": "live-copy.db",
                              "pages_per_step": "5"}, ["operations"])
            time.sleep(0.3)
            self.assertIsNone(writer.poll(), "the writer stopped")
        finally:
            writer.kill()
            writer.wait(10)
        self.assertEqual((e["status"], e["response_code"]),
                         ("SUCCEEDED", "0"), e)
        res = e["result"]
        copy = os.path.join(self.data, "backups", "live-copy.db")
        self.assertEqual(res["file"], "live-copy.db")
        self.assertEqual(res["bytes"], os.path.getsize(copy))
        self.assertEqual(res["bytes"], res["pages"] * res["page_size"])
        self.assertGreater(res["steps"], 1)
        db = sqlite3.connect(copy)
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(),
                         [("ok",)])
        copied, = db.execute("SELECT count(*) FROM Genre "
                             "WHERE Name LIKE 'written %'").fetchone()
        db.close()
        db = sqlite3.connect(live)
        now, = db.execute("SELECT count(*) FROM Genre "
                          "WHERE Name LIKE 'written %'").fetchone()
        db.close()
        # A snapshot: whole transactions of the writer, and not the last.
        self.assertEqual(copied % 20, 0)
        self.assertGreaterEqual(copied, 200)
        self.assertGreater(now, copied)

        # The copy checks out with the validator too.
        e = self.run_job("VALIDATE", "sqlite-check", "copy",
                         {"source": "live_copy"}, ["audit"])
        self.assertEqual(e["status"], "SUCCEEDED", e)
        self.assertTrue(e["result"]["passed"])

    # -- VALIDATE/sqlite-check

    def test_validate_clean_ledger(self):
        e = self.run_job("VALIDATE", "sqlite-check", "clean",
                         {"source": "chinook",
                          "assert.positive_totals":
                              "SELECT InvoiceId FROM Invoice "
                              "WHERE Total < 0"}, ["audit"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("SUCCEEDED", "0"), e)
        self.assertEqual([c["name"] for c in e["result"]["checks"]],
                         ["integrity_check", "foreign_key_check",
                          "assert.positive_totals"])

    def test_validate_finds_planted_foreign_key_violation(self):
        e = self.run_job("VALIDATE", "sqlite-check", "badfk",
                         {"source": "badfk", "check": "quick",
                          "assert.lines_have_invoices":
                              "SELECT l.InvoiceLineId FROM InvoiceLine l "
                              "LEFT JOIN Invoice i USING (InvoiceId) "
                              "WHERE i.InvoiceId IS NULL"}, ["audit"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("FAILED", "CHECK_FAILED"), e)
        res = e["result"]
        self.assertEqual(res["failed"], ["foreign_key_check",
                                         "assert.lines_have_invoices"])
        fk = res["checks"][1]
        self.assertEqual(fk["count"], 1)
        self.assertEqual(fk["rows"], [["InvoiceLine", 99999, "Invoice", 1]])
        self.assertEqual(res["checks"][2]["rows"], [[99999]])
        self.assertTrue(res["checks"][0]["passed"])

    # -- safety

    def test_job_without_the_role_is_refused(self):
        before = sha256(os.path.join(self.data, "chinook.db"))
        e = self.run_job("REPORT", "sql", "norole",
                         {"source": "chinook", "query": "SELECT 1"},
                         ["marketing"])
        self.assertEqual((e["status"], e["response_code"]),
                         ("FAILED", "FORBIDDEN"), e)
        self.assertIn('source "chinook"', e["result"]["error"])
        self.assertNotIn(self.data, e["result"]["error"])
        e = self.run_job("REPLICATE", "sqlite-backup", "norole",
                         {"source": "chinook", "target": "it_backups"},
                         ["reporting"])
        self.assertEqual(e["response_code"], "FORBIDDEN", e)
        self.assertIn('target "it_backups"', e["result"]["error"])
        self.assertEqual(sha256(os.path.join(self.data, "chinook.db")),
                         before)

    def test_writing_queries_are_refused_and_source_unchanged(self):
        path = os.path.join(self.data, "chinook.db")
        before = sha256(path)
        attach = os.path.join(self.data, "attached.db")
        queries = {
            "delete": "DELETE FROM InvoiceLine",
            "update": "UPDATE Invoice SET Total = 0",
            "attach": "ATTACH '%s' AS x" % attach,
            "two": "SELECT 1; DELETE FROM Invoice",
            "two-selects": "SELECT 1; SELECT 2",
            "pragma": "PRAGMA user_version = 7",
            "journal": "PRAGMA journal_mode = WAL",
            "vacuum": "VACUUM INTO '%s'" % attach,
        }
        for name, q in sorted(queries.items()):
            with self.subTest(name=name):
                e = self.run_job("REPORT", "sql", "w-" + name,
                                 {"source": "chinook", "query": q},
                                 ["reporting"])
                self.assertEqual((e["status"], e["response_code"]),
                                 ("FAILED", "REFUSED"), e)
                self.assertIn("query", e["result"]["error"])
        e = self.run_job("VALIDATE", "sqlite-check", "w-assert",
                         {"source": "chinook",
                          "assert.x": "DROP TABLE InvoiceLine"}, ["audit"])
        self.assertEqual(e["response_code"], "REFUSED", e)
        e = self.run_job("RECONCILE", "sql", "w-two",
                         {"left_source": "chinook", "left_query": TOTALS,
                          "right_query": LINES + "; DELETE FROM Invoice"},
                         ["audit"])
        self.assertEqual(e["response_code"], "REFUSED", e)
        self.assertEqual(sha256(path), before)
        self.assertFalse(os.path.exists(attach))
        self.assertFalse(os.path.exists(path + "-journal"))

    def test_bad_parameters_fail_clearly(self):
        cases = [
            ({"query": "SELECT 1"}, 'missing parameter "source"'),
            ({"source": "nowhere", "query": "SELECT 1"},
             'no source named "nowhere"'),
            ({"source": "chinook"}, 'missing parameter "query"'),
            ({"source": "chinook", "query": "SELECT 1", "path": "/etc"},
             'unknown parameter "path"'),
        ]
        for i, (params, msg) in enumerate(cases):
            with self.subTest(params=params):
                e = self.run_job("REPORT", "sql", "bad-%d" % i, params,
                                 ["reporting"])
                self.assertEqual((e["status"], e["response_code"]),
                                 ("FAILED", "BAD_PARAMETERS"), e)
                self.assertIn(msg, e["result"]["error"])


if __name__ == "__main__":
    unittest.main()
