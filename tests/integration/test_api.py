"""Every endpoint and every error row of the contract, over real HTTP
through lighttpd and a pool of responders (one service for the class)."""

import json
import os
import re
import sys
import unittest
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import job_info, op_info, seg  # noqa: E402

DEFAULT_BACKOFF = {"initial_delay_in_millis": 1000,
                   "minimum_delay_in_millis": 1000,
                   "maximum_delay_in_millis": 300000,
                   "delay_increase": 2, "delay_decrease": 2}
REPORT_BACKOFF = {"initial_delay_in_millis": 4000,
                  "minimum_delay_in_millis": 2000,
                  "maximum_delay_in_millis": 8000,
                  "delay_increase": 3, "delay_decrease": 4}
BACKOFF = {"initial_delay_in_millis": 500, "minimum_delay_in_millis": 100,
           "maximum_delay_in_millis": 60000, "delay_increase": 3,
           "delay_decrease": 2}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEAK = re.compile(r"(?i)\b(select|insert|update|delete from|sqlite|"
                  r"where \w+ *=|no such (table|column))\b|/tmp/|"
                  r"ledgerops-it-|\.db\b|\.c:\d+")


def q(s):
    return quote(s, safe="")


class ApiCase(unittest.TestCase):
    svc = None

    @classmethod
    def setUpClass(cls):
        cls.svc = harness.Service(
            pool=4, extra_conf="[backoff.REPORT]\n" + "\n".join(
                "%s = %d" % kv for kv in REPORT_BACKOFF.items()))
        cls.svc.start()
        cls.pids = set(cls.svc.responder_pids())

    @classmethod
    def tearDownClass(cls):
        if cls.svc is not None:
            cls.svc.stop()

    def tearDown(self):
        # no request may crash a responder: the pool stays the same
        self.assertEqual(set(self.svc.responder_pids()), self.pids,
                         "a responder died during the test")

    # -- helpers

    def assert422s(self, path, cases, prefix):
        """PUTs each (doc, field) of cases to path: each must be a 422
        naming field, or a field under prefix when field is None."""
        for doc, field in cases:
            with self.subTest(doc=str(doc)[:200]):
                p = self.assertProblem(self.svc.put(path, doc), 422,
                                       "validation_failed")
                self.assertIn("errors", p)
                if field is not None:
                    self.assertEqual(p["errors"][0]["field"], field)
                else:
                    self.assertTrue(
                        p["errors"][0]["field"].startswith(prefix))

    def assertProblem(self, r, status, code=None, field=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("content-type"),
                         "application/problem+json", r)
        p = r.json()
        for k in ("type", "title", "status", "detail", "code"):
            self.assertIn(k, p, r)
        self.assertEqual(p["status"], status)
        self.assertIsInstance(p["detail"], str)
        self.assertTrue(p["detail"], r)
        self.assertRegex(p["code"], r"^[a-z][a-z0-9_]*$")
        self.assertIsNone(LEAK.search(r.body.decode("utf-8", "replace")),
                          "problem leaks internals: %r" % r.body)
        if code is not None:
            self.assertEqual(p["code"], code, r)
        if field is not None:
            self.assertIn("errors", p, r)
            self.assertEqual(p["errors"][0]["field"], field, r)
            self.assertTrue(p["errors"][0]["message"])
        return p

    def ok(self, r, status=200):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.get("content-type"), "application/json",
                         r)
        return r.json()

    def mkop(self, type_, definition, backoff=None):
        return self.ok(self.svc.put("", op_info(type_, definition, backoff)))

    def mkjob(self, type_, definition, name, **kw):
        r = self.svc.put("%s/%s" % (q(type_), q(definition)),
                         job_info(name, **kw))
        return self.ok(r)

    def jobpath(self, t, d, n=None):
        p = "%s/%s" % (q(t), q(d))
        return p if n is None else p + "/" + q(n)


class TestOperations(ApiCase):

    def test_create_get_upsert(self):
        e = self.mkop("PUBLISH", "daily-events")
        self.assertEqual(e["@type"],
                         "cac_ledger_schema_element_ledger_operation_elem")
        self.assertIsInstance(e["id"], int)
        self.assertGreater(e["id"], 0)
        self.assertRegex(e["created_at"], TS)
        self.assertRegex(e["updated_at"], TS)
        self.assertEqual(e["backoff"], DEFAULT_BACKOFF)
        self.assertEqual(e["info"]["@type"], harness.OP_INFO)
        self.assertEqual(e["info"]["type"], "PUBLISH")
        self.assertEqual(e["info"]["definition"], "daily-events")
        g = self.ok(self.svc.get("PUBLISH/daily-events"))
        self.assertEqual(g, e)
        # upsert: same type+definition gives the same id, new backoff
        e2 = self.mkop("PUBLISH", "daily-events", BACKOFF)
        self.assertEqual(e2["id"], e["id"])
        self.assertEqual(e2["backoff"], BACKOFF)
        self.assertEqual(e2["created_at"], e["created_at"])
        self.assertEqual(self.ok(self.svc.get("PUBLISH/daily-events")),
                         e2)

    def test_default_backoff_per_type(self):
        e = self.mkop("REPORT", "per-type-default")
        self.assertEqual(e["backoff"], REPORT_BACKOFF)
        e = self.mkop("DETECT", "global-default")
        self.assertEqual(e["backoff"], DEFAULT_BACKOFF)

    def test_explicit_backoff(self):
        e = self.mkop("VALIDATE", "explicit", BACKOFF)
        self.assertEqual(e["backoff"], BACKOFF)
        e = self.mkop("VALIDATE", "constant", {
            "initial_delay_in_millis": 0, "minimum_delay_in_millis": 0,
            "maximum_delay_in_millis": 2147483647, "delay_increase": 1,
            "delay_decrease": 1})
        self.assertEqual(e["backoff"]["maximum_delay_in_millis"], 2147483647)

    def test_put_operation_422(self):
        good = op_info("REPORT", "v422")
        bad_backoff = dict(BACKOFF)
        cases = []

        def case(doc, field):
            cases.append((doc, field))

        d = dict(good); d["@type"] = "cac_ledger_schema_info_ledger_job_info"
        case(d, "info.@type")
        d = dict(good); del d["@type"]
        case(d, "info.@type")
        d = dict(good); d["type"] = "SEND"
        case(d, "info.type")
        d = dict(good); d["type"] = "report"
        case(d, "info.type")
        d = dict(good); del d["type"]
        case(d, "info.type")
        d = dict(good); d["type"] = 3
        case(d, "info.type")
        d = dict(good); del d["definition"]
        case(d, "info.definition")
        d = dict(good); d["definition"] = ""
        case(d, "info.definition")
        d = dict(good); d["definition"] = "a*b"
        case(d, "info.definition")
        d = dict(good); d["definition"] = "a\tb"
        case(d, "info.definition")
        d = dict(good); d["definition"] = "x" * 256
        case(d, "info.definition")
        d = dict(good); d["definition"] = 12
        case(d, "info.definition")
        d = dict(good); d["extra"] = 1
        case(d, "info.extra")
        d = dict(good); d["backoff"] = "fast"
        case(d, "info.backoff")
        for key in DEFAULT_BACKOFF:
            b = dict(bad_backoff); del b[key]
            d = dict(good); d["backoff"] = b
            case(d, "info.backoff." + key)
            for v in (-1, 1.5, "1", None, 2147483648):
                b = dict(bad_backoff); b[key] = v
                d = dict(good); d["backoff"] = b
                case(d, "info.backoff." + key)
        for key in ("delay_increase", "delay_decrease"):
            b = dict(bad_backoff); b[key] = 0
            d = dict(good); d["backoff"] = b
            case(d, "info.backoff." + key)
        b = dict(bad_backoff); b["unknown"] = 1
        d = dict(good); d["backoff"] = b
        case(d, "info.backoff.unknown")
        b = dict(bad_backoff); b["minimum_delay_in_millis"] = 70000
        d = dict(good); d["backoff"] = b
        case(d, None)  # min > max
        b = dict(bad_backoff); b["initial_delay_in_millis"] = 50
        d = dict(good); d["backoff"] = b
        case(d, "info.backoff.initial_delay_in_millis")  # initial < min
        b = dict(bad_backoff); b["initial_delay_in_millis"] = 70000
        d = dict(good); d["backoff"] = b
        case(d, "info.backoff.initial_delay_in_millis")  # initial > max
        self.assert422s("", cases, "info.backoff.")
        # nothing of it was stored
        r = self.ok(self.svc.get("?filter=" + q("info.definition==v422")))
        self.assertEqual(r["data"], [])

    def test_get_missing_404(self):
        self.assertProblem(self.svc.get("REPORT/none-such"), 404,
                           "operation_not_found")
        self.assertProblem(self.svc.get("NOTATYPE/x"), 404)
        self.assertProblem(self.svc.delete("REPORT/none-such"), 404,
                           "operation_not_found")

    def test_delete_operation(self):
        e = self.mkop("DETECT", "to-delete")
        self.mkjob("DETECT", "to-delete", "j1")
        p = self.assertProblem(self.svc.delete("DETECT/to-delete"), 409,
                               "operation_has_jobs")
        self.assertIn("to-delete", p["detail"])
        self.ok(self.svc.delete("DETECT/to-delete/j1"))
        d = self.ok(self.svc.delete("DETECT/to-delete"))
        self.assertEqual(d, e)
        self.assertProblem(self.svc.get("DETECT/to-delete"), 404,
                           "operation_not_found")

    def test_list_operations(self):
        for i in range(3):
            self.mkop("REPLICATE", "list-op-%d" % i)
        r = self.ok(self.svc.get(
            "?filter=" + q("info.definition==list-op-*") + "&sort=-id"))
        self.assertEqual([o["info"]["definition"] for o in r["data"]],
                         ["list-op-2", "list-op-1", "list-op-0"])
        self.assertEqual(r["page"], {"number": 1, "size": 20,
                                     "total_elements": 3, "total_pages": 1})
        r = self.ok(self.svc.get("/api/v1/operation"))
        self.assertIn("data", r)
        r = self.ok(self.svc.get("?filter=" + q(
            "info.type==REPLICATE;info.definition=in=(list-op-0,list-op-2)")
            + "&sort=info.definition"))
        self.assertEqual([o["info"]["definition"] for o in r["data"]],
                         ["list-op-0", "list-op-2"])

    def test_percent_2f_definition(self):
        e = self.mkop("REPORT", "a/b c%d")
        self.assertEqual(e["info"]["definition"], "a/b c%d")
        g = self.ok(self.svc.get("REPORT/" + q("a/b c%d")))
        self.assertEqual(g["id"], e["id"])
        # A bare slash is a different (absent) path: a job path below
        # operation "a".
        self.assertNotEqual(self.svc.get("REPORT/a/b").status, 200)


class TestJobs(ApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.svc.put("", op_info("REPORT", "monthly-revenue"))
        assert r.status == 200, r

    def test_put_job_and_get(self):
        j = self.mkjob("REPORT", "monthly-revenue", "eu-invoices",
                       roles=["reporting"],
                       parameters={"source": "sales", "query": "q"},
                       timeout=60000)
        self.assertEqual(j["@type"],
                         "cac_ledger_schema_element_ledger_job_elem")
        self.assertEqual(j["revision"], 1)
        self.assertEqual(j["status"], "EXECUTING")
        self.assertRegex(j["created_at"], TS)
        self.assertEqual(j["info"]["name"], "eu-invoices")
        self.assertEqual(j["info"]["roles"], ["reporting"])
        self.assertEqual(j["info"]["parameters"],
                         {"source": "sales", "query": "q"})
        self.assertEqual(j["info"]["timeout_in_millis"], 60000)
        # backoff filled in from the operation (per-type default)
        self.assertEqual(j["info"]["backoff"], REPORT_BACKOFF)
        self.assertEqual(j["operation"]["info"]["definition"],
                         "monthly-revenue")
        r = self.svc.get("REPORT/monthly-revenue/eu-invoices")
        d = self.ok(r)
        self.assertEqual(r.headers.get("etag"), '"1"')
        self.assertEqual(d["@type"], "cac_ledger_schema_data_ledger_job_data")
        self.assertEqual(d["executions"], [])
        for k in ("id", "revision", "status", "created_at", "updated_at",
                  "info", "operation"):
            self.assertEqual(d[k], j[k])

    def test_job_explicit_backoff(self):
        j = self.mkjob("REPORT", "monthly-revenue", "own-backoff",
                       backoff=BACKOFF)
        self.assertEqual(j["info"]["backoff"], BACKOFF)

    def test_job_inherits_operation_backoff(self):
        self.mkop("PUBLISH", "inherit")
        j = self.mkjob("PUBLISH", "inherit", "heir")
        self.assertEqual(j["info"]["backoff"], DEFAULT_BACKOFF)
        own = self.mkjob("PUBLISH", "inherit", "own", backoff=BACKOFF)
        self.mkop("PUBLISH", "inherit", REPORT_BACKOFF)
        g = self.ok(self.svc.get("PUBLISH/inherit/heir?data=none"))
        self.assertEqual(g["info"]["backoff"], REPORT_BACKOFF)
        # Its info changed with the operation's backoff: a new revision.
        self.assertEqual(g["revision"], 2)
        self.assertGreaterEqual(g["updated_at"], j["updated_at"])
        g = self.ok(self.svc.get("PUBLISH/inherit/own?data=none"))
        self.assertEqual(g["info"]["backoff"], BACKOFF)
        self.assertEqual(g["revision"], own["revision"])

    def test_put_job_operation_absent(self):
        self.assertProblem(self.svc.put("REPORT/absent-op", job_info("x")),
                           404, "operation_not_found")
        self.assertProblem(self.svc.put("FOO/absent-op", job_info("x")), 404)

    def test_put_job_422(self):
        good = job_info("v422", roles=["a"], parameters={"k": "v"})
        cases = []

        def case(mod, field):
            d = json.loads(json.dumps(good))
            mod(d)
            cases.append((d, field))

        case(lambda d: d.update({"unknown": 1}), "info.unknown")
        case(lambda d: d.update({"status": "PAUSED"}), "info.status")
        case(lambda d: d.pop("roles"), "info.roles")
        case(lambda d: d.update({"roles": "a"}), "info.roles")
        case(lambda d: d.update({"roles": ["a", 3]}), "info.roles[1]")
        case(lambda d: d.pop("name"), "info.name")
        case(lambda d: d.update({"name": ""}), "info.name")
        case(lambda d: d.update({"name": "a*"}), "info.name")
        case(lambda d: d.update({"name": "a\nb"}), "info.name")
        case(lambda d: d.update({"name": "é" * 128}), "info.name")
        case(lambda d: d.pop("@type"), "info.@type")
        case(lambda d: d.update({"@type": harness.OP_INFO}), "info.@type")
        case(lambda d: d.update({"parameters": {"k": 1}}),
             "info.parameters.k")
        case(lambda d: d.update({"parameters": {"k": None}}),
             "info.parameters.k")
        case(lambda d: d.update({"parameters": {"k": ["v"]}}),
             "info.parameters.k")
        case(lambda d: d.update({"parameters": {"k": {"a": "b"}}}),
             "info.parameters.k")
        case(lambda d: d.update({"parameters": ["k"]}), "info.parameters")
        case(lambda d: d.update({"parameters": {"": "v"}}), None)
        case(lambda d: d.update({"parameters": {"k" * 129: "v"}}), None)
        case(lambda d: d.update({"parameters": {
            "k%d" % i: "v" for i in range(257)}}), "info.parameters")
        case(lambda d: d.update({"roles": ["r%d" % i for i in range(257)]}),
             "info.roles")
        case(lambda d: d.update({"backoff": {"delay_increase": 2}}), None)
        case(lambda d: d.update({"backoff": dict(
            BACKOFF, delay_decrease=0)}), "info.backoff.delay_decrease")
        case(lambda d: d.update({"backoff": dict(
            BACKOFF, maximum_delay_in_millis=2 ** 31)}),
            "info.backoff.maximum_delay_in_millis")
        case(lambda d: d.update({"backoff": dict(
            BACKOFF, minimum_delay_in_millis=-5)}),
            "info.backoff.minimum_delay_in_millis")
        for t in (0, -1, 2 ** 31, 1.5, "60000", None, True):
            case(lambda d, t=t: d.update({"timeout_in_millis": t}),
                 "info.timeout_in_millis")
        self.assert422s("REPORT/monthly-revenue", cases, "info.")
        self.assertProblem(self.svc.get("REPORT/monthly-revenue/v422"), 404,
                           "job_not_found")
        # limits that are still valid
        j = self.mkjob("REPORT", "monthly-revenue", "x" * 255, roles=[],
                       parameters={"k" * 128: ""}, timeout=2 ** 31 - 1)
        self.assertEqual(j["info"]["timeout_in_millis"], 2 ** 31 - 1)
        self.mkjob("REPORT", "monthly-revenue", "p256", parameters={
            "k%d" % i: "v" for i in range(256)},
            roles=["r%d" % i for i in range(256)])

    def test_upsert_revision(self):
        path = "REPORT/monthly-revenue"
        j1 = self.mkjob("REPORT", "monthly-revenue", "rev", roles=["a"])
        self.assertEqual(j1["revision"], 1)
        # same info again: nothing changes
        r = self.svc.put(path, job_info("rev", roles=["a"]))
        j2 = self.ok(r)
        self.assertEqual(j2["id"], j1["id"])
        self.assertEqual(j2["revision"], 1)
        self.assertEqual(r.headers.get("etag"), '"1"')
        # a change of info grows the revision by one
        r = self.svc.put(path, job_info("rev", roles=["a", "b"]))
        j3 = self.ok(r)
        self.assertEqual(j3["id"], j1["id"])
        self.assertEqual(j3["revision"], 2)
        self.assertEqual(j3["info"]["roles"], ["a", "b"])
        self.assertEqual(r.headers.get("etag"), '"2"')
        r = self.svc.put(path, job_info("rev", roles=["a", "b"],
                                        parameters={"x": "y"}))
        self.assertEqual(self.ok(r)["revision"], 3)
        # a status change is not a change of info
        self.ok(self.svc.post(path + "/rev?status=PAUSED"))
        r = self.svc.get(path + "/rev?data=none")
        self.assertEqual(self.ok(r)["revision"], 3)
        self.assertEqual(r.headers.get("etag"), '"3"')
        self.assertEqual(self.ok(r)["status"], "PAUSED")
        # upsert keeps the status
        r = self.svc.put(path, job_info("rev", roles=["c"]))
        self.assertEqual(self.ok(r)["status"], "PAUSED")
        self.assertEqual(self.ok(r)["revision"], 4)

    def test_revision_ignores_key_order(self):
        # JSON objects are unordered: the same info sent with its members
        # in another order is not a change of info.
        path = "REPORT/monthly-revenue"
        j = self.mkjob("REPORT", "monthly-revenue", "order",
                       roles=["a"], parameters={"a": "1", "b": "2"})
        self.assertEqual(j["revision"], 1)
        raw = ('{"parameters": {"b": "2", "a": "1"}, "roles": ["a"], '
               '"name": "order", "@type": "%s"}' % harness.JOB_INFO)
        r = self.svc.put(path, raw=raw.encode())
        self.assertEqual(self.ok(r)["revision"], 1, r)
        self.assertEqual(r.headers.get("etag"), '"1"')

    def test_delete_job_etag(self):
        # DELETE answers with the job element as it was; like every
        # response carrying a job element it has its ETag.
        path = "REPORT/monthly-revenue"
        self.mkjob("REPORT", "monthly-revenue", "del-etag")
        self.ok(self.svc.put(path, job_info("del-etag", roles=["x"])))
        r = self.svc.delete(path + "/del-etag")
        self.assertEqual(self.ok(r)["revision"], 2)
        self.assertEqual(r.headers.get("etag"), '"2"')

    def test_if_match(self):
        path = "REPORT/monthly-revenue"
        self.mkjob("REPORT", "monthly-revenue", "im", roles=[])
        p = self.assertProblem(self.svc.put(
            path, job_info("im", roles=["x"]), headers={"If-Match": '"7"'}),
            412, "revision_mismatch")
        self.assertIn("7", p["detail"])
        r = self.svc.put(path, job_info("im", roles=["x"]),
                         headers={"If-Match": '"1"'})
        self.assertEqual(self.ok(r)["revision"], 2)
        self.assertEqual(r.headers.get("etag"), '"2"')
        r = self.svc.put(path, job_info("im", roles=["y"]),
                         headers={"If-Match": '"1"'})
        self.assertProblem(r, 412, "revision_mismatch")
        self.assertProblem(self.svc.delete(path + "/im",
                                           headers={"If-Match": '"1"'}),
                           412, "revision_mismatch")
        self.ok(self.svc.get(path + "/im"))
        d = self.ok(self.svc.delete(path + "/im",
                                    headers={"If-Match": '"2"'}))
        self.assertEqual(d["revision"], 2)
        self.assertProblem(self.svc.get(path + "/im"), 404, "job_not_found")
        # a list of tags and "*"
        self.ok(self.svc.put(path, job_info("im2")))
        r = self.svc.put(path, job_info("im2", roles=["a"]),
                         headers={"If-Match": '"5", "1"'})
        self.assertEqual(self.ok(r)["revision"], 2)
        r = self.svc.put(path, job_info("im2", roles=["b"]),
                         headers={"If-Match": "*"})
        self.assertEqual(self.ok(r)["revision"], 3)
        # If-Match on a job that does not exist
        for tag in ('"1"', "*"):
            self.assertProblem(self.svc.put(path, job_info("im-new"),
                                            headers={"If-Match": tag}),
                               412, "revision_mismatch")
        self.assertProblem(self.svc.get(path + "/im-new"), 404)

    def test_get_job_data(self):
        path = "REPORT/monthly-revenue/data-job"
        self.mkjob("REPORT", "monthly-revenue", "data-job")
        for query, has in (("", True), ("?data=executions", True),
                           ("?data=none", False),
                           ("?data=none,executions", True)):
            with self.subTest(query=query):
                d = self.ok(self.svc.get(path + query))
                self.assertEqual("executions" in d, has, d)
                if has:
                    self.assertEqual(d["@type"],
                                     "cac_ledger_schema_data_ledger_job_data")
                    self.assertEqual(d["executions"], [])
        for bad in ("?data=bogus", "?data=", "?data=executions,x",
                    "?other=1"):
            with self.subTest(query=bad):
                self.assertProblem(self.svc.get(path + bad), 400)
        self.assertProblem(self.svc.get("REPORT/monthly-revenue/absent"),
                           404, "job_not_found")
        self.assertProblem(self.svc.get("REPORT/absent-op/absent"), 404)

    def test_status_changes(self):
        path = "REPORT/monthly-revenue/st"
        self.mkjob("REPORT", "monthly-revenue", "st")
        current = "EXECUTING"
        order = ["PAUSED", "STOPPED", "EXECUTING", "STOPPED", "PAUSED",
                 "EXECUTING", "EXECUTING", "PAUSED", "PAUSED", "STOPPED",
                 "STOPPED"]
        for s in order:
            with self.subTest(frm=current, to=s):
                before = self.ok(self.svc.get(path + "?data=none"))
                a = self.ok(self.svc.post(path + "?status=" + s))
                self.assertEqual(a, {
                    "address": "REPORT/monthly-revenue/st",
                    "previous_status": current, "current_status": s})
                after = self.ok(self.svc.get(path + "?data=none"))
                self.assertEqual(after["status"], s)
                self.assertEqual(after["revision"], before["revision"])
                if s == current:
                    self.assertEqual(after, before)
                current = s
        for bad in ("?status=RUNNING", "?status=paused", "?status=", ""):
            with self.subTest(bad=bad):
                self.assertProblem(self.svc.post(path + bad), 400,
                                   "invalid_status")
        self.assertProblem(self.svc.post(
            "REPORT/monthly-revenue/absent?status=PAUSED"), 404,
            "job_not_found")

    def test_status_address_encoding(self):
        self.mkop("REPORT", "enc/def")
        self.mkjob("REPORT", "enc/def", "n a/m%e")
        a = self.ok(self.svc.post(self.jobpath("REPORT", "enc/def",
                                               "n a/m%e")
                                  + "?status=STOPPED"))
        self.assertEqual(a["address"], "REPORT/enc%2Fdef/n%20a%2Fm%25e")
        self.assertEqual(a["current_status"], "STOPPED")

    def test_delete_job(self):
        j = self.mkjob("REPORT", "monthly-revenue", "del", roles=["r"])
        self.ok(self.svc.post("REPORT/monthly-revenue/del?status=PAUSED"))
        before = self.ok(self.svc.get("REPORT/monthly-revenue/del"
                                      "?data=none"))
        d = self.ok(self.svc.delete("REPORT/monthly-revenue/del"))
        self.assertEqual(d["@type"],
                         "cac_ledger_schema_element_ledger_job_elem")
        self.assertEqual(d, before)
        self.assertEqual(d["id"], j["id"])
        self.assertProblem(self.svc.delete("REPORT/monthly-revenue/del"),
                           404, "job_not_found")
        self.assertProblem(self.svc.get("REPORT/monthly-revenue/del"), 404,
                           "job_not_found")

    def test_percent_2f_round_trip(self):
        self.mkop("RECONCILE", "ledger/bank")
        name = "eu/invoices 2025"
        j = self.mkjob("RECONCILE", "ledger/bank", name)
        path = self.jobpath("RECONCILE", "ledger/bank", name)
        g = self.ok(self.svc.get(path))
        self.assertEqual(g["id"], j["id"])
        self.assertEqual(g["info"]["name"], name)
        self.assertEqual(g["operation"]["info"]["definition"], "ledger/bank")
        lst = self.ok(self.svc.get(self.jobpath("RECONCILE", "ledger/bank")
                                   + "/"))
        self.assertEqual([x["info"]["name"] for x in lst["data"]], [name])
        lst = self.ok(self.svc.get("*/*/?filter=" + q(
            "info.name==\"eu/invoices 2025\"")))
        self.assertEqual([x["id"] for x in lst["data"]], [j["id"]])
        ex = self.ok(self.svc.get(path + "/"))
        self.assertEqual(ex["data"], [])
        self.ok(self.svc.delete(path))

    def test_wildcards_only_on_get(self):
        for method, path in (("PUT", "*/monthly-revenue"),
                             ("PUT", "REPORT/*"),
                             ("DELETE", "REPORT/*"),
                             ("DELETE", "*/*/x"),
                             ("DELETE", "REPORT/monthly-revenue/*"),
                             ("POST", "REPORT/monthly-revenue/*"
                                      "?status=PAUSED"),
                             ("POST", "*/*/*?status=PAUSED")):
            with self.subTest(method=method, path=path):
                body = job_info("w") if method == "PUT" else None
                r = self.svc.request(method, path, body=body)
                self.assertProblem(r, 400, "invalid_path")
        # a wildcard operation on GET is not a list of operations
        self.assertEqual(self.svc.get("REPORT/*").status, 400)

    def test_job_lists(self):
        self.mkop("PUBLISH", "wild-a")
        self.mkop("PUBLISH", "wild-b")
        self.mkop("VALIDATE", "wild-a")
        ids = {}
        for t, d, n in (("PUBLISH", "wild-a", "j1"),
                        ("PUBLISH", "wild-a", "j2"),
                        ("PUBLISH", "wild-b", "j1"),
                        ("VALIDATE", "wild-a", "j1")):
            ids[(t, d, n)] = self.mkjob(t, d, n)["id"]

        def names(path, query="?filter=" + q(
                "operation.info.definition=in=(wild-a,wild-b)")):
            r = self.ok(self.svc.get(path + query))
            return sorted((x["operation"]["info"]["type"],
                           x["operation"]["info"]["definition"],
                           x["info"]["name"]) for x in r["data"])

        self.assertEqual(names("PUBLISH/wild-a/", ""),
                         [("PUBLISH", "wild-a", "j1"),
                          ("PUBLISH", "wild-a", "j2")])
        self.assertEqual(names("PUBLISH/*/"), [
            ("PUBLISH", "wild-a", "j1"), ("PUBLISH", "wild-a", "j2"),
            ("PUBLISH", "wild-b", "j1")])
        self.assertEqual(names("*/wild-a/"), [
            ("PUBLISH", "wild-a", "j1"), ("PUBLISH", "wild-a", "j2"),
            ("VALIDATE", "wild-a", "j1")])
        self.assertEqual(len(names("*/*/")), 4)
        self.assertEqual(names("PUBLISH/none-such/", ""), [])
        self.assertProblem(self.svc.get("BOGUS/*/"), 404)

    def test_execution_lists(self):
        self.mkjob("REPORT", "monthly-revenue", "ex")
        for path in ("REPORT/monthly-revenue/ex/", "*/*/*",
                     "REPORT/*/ex", "*/monthly-revenue/*", "*/*/*/",
                     "REPORT/monthly-revenue/*/"):
            with self.subTest(path=path):
                r = self.ok(self.svc.get(path))
                self.assertIsInstance(r["data"], list)
                self.assertEqual(set(r["page"]), {"number", "size",
                                                  "total_elements",
                                                  "total_pages"})
                self.assertEqual(r["page"]["number"], 1)
                self.assertEqual(r["page"]["size"], 20)
        r = self.ok(self.svc.get("*/*/*?filter=" + q(
            "status==SUCCEEDED;response_code==0;ordinal>1;"
            "operation.info.type==REPORT;job.info.name==ex*;"
            "created_at>=2020-01-01;info.roles==x" if False else
            "status==SUCCEEDED;response_code==\"0\";ordinal>1;"
            "operation.info.type==REPORT;job.info.name==ex*;"
            "created_at>=2020-01-01") + "&sort=-ordinal,started_at"))
        self.assertEqual(r["data"], [])
        self.assertProblem(self.svc.get("*/*/*?filter=nope==1"), 400,
                           "invalid_filter")
        self.assertProblem(self.svc.get("*/*/*?sort=nope"), 400,
                           "invalid_sort")
        self.assertProblem(self.svc.get("*/*/*?filter=status==BOGUS"), 400,
                           "invalid_filter")

    def test_executions_of_absent_job(self):
        r = self.svc.get("REPORT/monthly-revenue/absent-ex/")
        # either an empty list or 404 for the job; never a 5xx
        if r.status == 200:
            self.assertEqual(r.json()["data"], [])
        else:
            self.assertProblem(r, 404)


class TestWire(ApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for r in (cls.svc.put("", op_info("REPORT", "wire")),
                  cls.svc.put("REPORT/wire", job_info("j", roles=["r"]))):
            assert r.status == 200, r

    GET_ROUTES = ["", "REPORT/wire", "REPORT/wire/", "REPORT/wire/j",
                  "REPORT/wire/j?data=none", "REPORT/wire/j/", "*/*/*",
                  "*/*/", "REPORT/wire/absent"]

    def test_head_on_every_get_route(self):
        ignore = {"date", "accept-ranges", "request-id"}
        for path in self.GET_ROUTES:
            with self.subTest(path=path):
                g = self.svc.get(path, request_id="same-id")
                h = self.svc.request("HEAD", path, request_id="same-id")
                self.assertEqual(h.status, g.status)
                self.assertEqual(h.body, b"")
                self.assertEqual(h.headers.get("request-id"), "same-id")
                gh = {k: v for k, v in g.headers.items() if k not in ignore}
                hh = {k: v for k, v in h.headers.items() if k not in ignore}
                if "content-length" in hh and hh["content-length"] != \
                        gh.get("content-length"):
                    # a list's or element's length may only differ if
                    # the timestamps moved; they do not here.
                    self.fail("HEAD content-length %s != GET %s" % (
                        hh["content-length"], gh.get("content-length")))
                hh.pop("content-length", None)
                gh.pop("content-length", None)
                self.assertEqual(hh, gh)

    def test_405_with_allow(self):
        cases = [
            ("PATCH", "", "GET, HEAD, PUT"),
            ("DELETE", "", "GET, HEAD, PUT"),
            ("POST", "", "GET, HEAD, PUT"),
            ("POST", "REPORT/wire", "GET, HEAD, PUT, DELETE"),
            ("PATCH", "REPORT/wire", "GET, HEAD, PUT, DELETE"),
            ("PUT", "REPORT/wire/", "GET, HEAD"),
            ("DELETE", "REPORT/wire/", "GET, HEAD"),
            ("PUT", "REPORT/wire/j", "GET, HEAD, POST, DELETE"),
            ("PATCH", "REPORT/wire/j", "GET, HEAD, POST, DELETE"),
            ("POST", "REPORT/wire/j/", "GET, HEAD"),
            ("DELETE", "REPORT/wire/j/", "GET, HEAD"),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                body = {} if method in ("PUT", "PATCH") else None
                r = self.svc.request(method, path, body=body)
                self.assertProblem(r, 405, "method_not_allowed")
                got = {m.strip() for m in r.headers.get("allow",
                                                        "").split(",")}
                self.assertEqual(got, {m.strip() for m in allow.split(",")})

    def test_404_unknown_paths(self):
        for path in ("/api/v1/operation/REPORT",
                     "/api/v1/operation/REPORT/wire/j/x",
                     "/api/v1/operation/REPORT/wire/j/x/",
                     "/api/v1/operationx",
                     "/api/v1/operation/a/b/c/d/e"):
            with self.subTest(path=path):
                self.assertProblem(self.svc.get(path), 404)
        for path in ("/api/v2/operation/", "/nothing"):
            with self.subTest(path=path):
                self.assertEqual(self.svc.get(path).status, 404)

    def test_bad_path_segments(self):
        for path in ("REPORT/%ZZ", "REPORT/wire/%4", "REPORT/" + "x" * 256,
                     "REPORT/wire/a%2A", "REPORT/wire/%2A"):
            with self.subTest(path=path):
                r = self.svc.get(path)
                self.assertIn(r.status, (400, 404), r)
                self.assertProblem(r, r.status)
        # lighttpd itself refuses these before the responder sees them
        # (test_robustness sends them to a responder directly)
        for path in ("REPORT/a%00b", "REPORT/a%0Ab", "REPORT/wire/%FF%FE",
                     "REPORT/wire/%7F"):
            with self.subTest(path=path):
                self.assertEqual(self.svc.get(path).status, 400)

    def test_required_headers(self):
        cases = [dict(request_id=False), dict(source=False),
                 dict(request_id=False, source=False),
                 dict(request_id="x" * 129), dict(source="s" * 129),
                 dict(request_id=""), dict(source="")]
        for kw in cases:
            for method, path, body in (("GET", "REPORT/wire", None),
                                       ("PUT", "", op_info("REPORT", "hh"))):
                with self.subTest(kw=kw, method=method):
                    r = self.svc.request(method, path, body=body, **kw)
                    p = self.assertProblem(r, 400, "invalid_header")
                    self.assertTrue("request-id" in p["detail"] or
                                    "source" in p["detail"])
        # limits that are fine
        r = self.svc.get("REPORT/wire", request_id="x" * 128,
                         source="~ !" * 3)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("request-id"), "x" * 128)
        self.assertProblem(self.svc.get("REPORT/hh"), 404)  # not created

    def test_request_id_echo(self):
        rid = "abc-123 XYZ"
        r = self.svc.get("REPORT/wire", request_id=rid)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("request-id"), rid)
        for method, path in (("GET", "REPORT/none"), ("PATCH", ""),
                             ("GET", "REPORT/wire?filter=bad")):
            r = self.svc.request(method, path, request_id=rid)
            self.assertEqual(r.headers.get("request-id"), rid)
            self.assertEqual(r.json().get("request_id"), rid)
        r = self.svc.get("REPORT/wire", request_id=rid, source=False)
        p = self.assertProblem(r, 400, "invalid_header")
        self.assertEqual(r.headers.get("request-id"), rid)
        self.assertEqual(p.get("request_id"), rid)

    def test_415(self):
        for ct in ("text/plain", "application/x-www-form-urlencoded",
                   "application/jsonx", None):
            with self.subTest(ct=ct):
                r = self.svc.put("", op_info("REPORT", "ct"),
                                 content_type=ct)
                self.assertProblem(r, 415, "unsupported_media_type")
        r = self.svc.put("REPORT/wire", job_info("ct"),
                         content_type="text/json")
        self.assertProblem(r, 415, "unsupported_media_type")
        for ct in ("application/json; charset=utf-8", "APPLICATION/JSON",
                   "application/merge-patch+json"):
            with self.subTest(ct=ct):
                r = self.svc.put("", op_info("REPORT", "ct-ok"),
                                 content_type=ct)
                self.assertEqual(r.status, 200, r)

    def test_413(self):
        big = json.dumps(dict(op_info("REPORT", "big"),
                              pad="x" * (1048576 + 10))).encode()
        r = self.svc.put("", raw=big)
        self.assertProblem(r, 413, "body_too_large")
        # just under the limit is read (and then rejected by schema)
        doc = job_info("big")
        doc["parameters"] = {"p": ""}
        base = len(json.dumps(doc).encode())
        doc["parameters"]["p"] = "y" * (1048576 - base)
        raw = json.dumps(doc).encode()
        self.assertEqual(len(raw), 1048576)
        r = self.svc.put("REPORT/wire", raw=raw)
        self.assertEqual(r.status, 200, r)
        self.ok(self.svc.delete("REPORT/wire/big"))

    def test_bad_json(self):
        cases = {
            "empty": b"",
            "garbage": b"{nope",
            "truncated": b'{"@type": "x"',
            "trailing": json.dumps(op_info("REPORT", "tj")).encode() + b" x",
            "trailing object": json.dumps(op_info("REPORT", "tj")).encode()
            + b"{}",
            "array": b"[]",
            "array of object": b"[" + json.dumps(
                op_info("REPORT", "tj")).encode() + b"]",
            "string": b'"x"',
            "number": b"1",
            "null": b"null",
            "duplicate": b'{"@type": "%s", "type": "REPORT", '
                         b'"definition": "tj", "definition": "tj2"}'
                         % harness.OP_INFO.encode(),
            "nested duplicate": b'{"@type": "%s", "type": "REPORT", '
                                b'"definition": "tj", "backoff": '
                                b'{"delay_increase": 1, "delay_increase": 2}}'
                                % harness.OP_INFO.encode(),
            "invalid utf-8": b'{"@type": "%s", "type": "REPORT", '
                             b'"definition": "t\xff\xfej"}'
                             % harness.OP_INFO.encode(),
            "overlong utf-8": b'{"definition": "\xc0\xaf"}',
            "surrogate utf-8": b'{"definition": "\xed\xa0\x80"}',
            "deep": b'{"a":' + b"[" * 70 + b"]" * 70 + b"}",
            "very deep": b'{"a":' + b'{"a":' * 200 + b"1" + b"}" * 201,
            "nul": b'{"a": 1}\x00',
            "single quotes": b"{'a': 1}",
            "comment": b'{"a": 1 /* c */}',
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                r = self.svc.put("", raw=raw)
                self.assertProblem(r, 400, "invalid_json")
                r = self.svc.put("REPORT/wire", raw=raw)
                self.assertProblem(r, 400, "invalid_json")
        r = self.ok(self.svc.get("?filter=" + q("info.definition==tj*")))
        self.assertEqual(r["data"], [])
        # moderate nesting is JSON, so it reaches the schema check: 422
        r = self.svc.put("", raw=b'{"a":' + b"[" * 10 + b"]" * 10 + b"}")
        self.assertProblem(r, 422, "validation_failed", "info.a")


class TestLists(ApiCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        svc = cls.svc
        for d in ("list-a", "list-b"):
            assert svc.put("", op_info("REPORT", d)).status == 200
        assert svc.put("", op_info("DETECT", "list-a")).status == 200
        cls.jobs = {}
        specs = [
            ("REPORT", "list-a", "eu-invoices", ["reporting"],
             {"source": "sales", "region": "eu"}, 1000),
            ("REPORT", "list-a", "us-invoices", ["reporting", "audit"],
             {"source": "sales", "region": "us"}, 2000),
            ("REPORT", "list-a", "eu-orders", ["audit"],
             {"source": "orders", "region": "eu"}, 3000),
            ("REPORT", "list-b", "it's \"quoted\"", [],
             {"source": "o'brien"}, 4000),
            ("DETECT", "list-a", "anomalies", ["ops"], {}, 5000),
            ("DETECT", "list-a", "a,b;c", ["ops", "reporting"],
             {"source": "sales"}, 6000),
        ]
        for t, d, n, roles, params, timeout in specs:
            r = svc.put("%s/%s" % (t, d), job_info(
                n, roles=roles, parameters=params, timeout=timeout))
            assert r.status == 200, r
            cls.jobs[n] = r.json()["id"]
        for n, s in (("us-invoices", "PAUSED"), ("anomalies", "STOPPED"),
                     ("eu-orders", "PAUSED")):
            assert svc.post("%s/%s/%s?status=%s" % (
                "DETECT" if n == "anomalies" else "REPORT", "list-a", n,
                s)).status == 200

    def names(self, filt=None, sort=None, path="*/*/", extra=""):
        parts = []
        if filt is not None:
            parts.append("filter=" + q(filt))
        if sort is not None:
            parts.append("sort=" + q(sort))
        query = "&".join(parts) + extra
        r = self.svc.get(path + ("?" + query if query else ""))
        d = self.ok(r)
        return [x["info"]["name"] for x in d["data"]]

    def scoped(self, filt, sort="id"):
        f = "operation.info.definition=in=(list-a,list-b)"
        return self.names("%s;(%s)" % (f, filt) if filt else f, sort)

    def test_operators(self):
        J = self.jobs
        by_id = sorted(J, key=J.get)
        cases = {
            "info.name==eu-invoices": ["eu-invoices"],
            "info.name!=eu-invoices": [n for n in by_id
                                       if n != "eu-invoices"],
            "info.timeout_in_millis=lt=3000": ["eu-invoices", "us-invoices"],
            "info.timeout_in_millis<3000": ["eu-invoices", "us-invoices"],
            "info.timeout_in_millis=le=3000": ["eu-invoices", "us-invoices",
                                               "eu-orders"],
            "info.timeout_in_millis<=3000": ["eu-invoices", "us-invoices",
                                             "eu-orders"],
            "info.timeout_in_millis=gt=4000": ["anomalies", "a,b;c"],
            "info.timeout_in_millis>4000": ["anomalies", "a,b;c"],
            "info.timeout_in_millis=ge=5000": ["anomalies", "a,b;c"],
            "info.timeout_in_millis>=5000": ["anomalies", "a,b;c"],
            "status=in=(PAUSED,STOPPED)": ["us-invoices", "eu-orders",
                                           "anomalies"],
            "status=out=(PAUSED,STOPPED)": ["eu-invoices",
                                            "it's \"quoted\"", "a,b;c"],
            "id==%d" % J["eu-orders"]: ["eu-orders"],
            "id>%d" % J["anomalies"]: ["a,b;c"],
            "revision==1": by_id,
            "created_at>=2000-01-01T00:00:00.000Z": by_id,
            "created_at<2000-01-01": [],
            "updated_at=gt=2000-01-01": by_id,
            "operation.info.type==DETECT": ["anomalies", "a,b;c"],
            "operation.info.definition==list-b": ["it's \"quoted\""],
            "operation.id>0": by_id,
        }
        for filt, want in cases.items():
            with self.subTest(filter=filt):
                self.assertEqual(self.scoped(filt), want)

    def test_wildcards_and_quotes(self):
        cases = {
            "info.name==eu-*": ["eu-invoices", "eu-orders"],
            "info.name==*-invoices": ["eu-invoices", "us-invoices"],
            "info.name==*o*": ["eu-invoices", "us-invoices", "eu-orders",
                               "it's \"quoted\"", "anomalies"],
            "info.name!=eu-*": ["us-invoices", "it's \"quoted\"",
                                "anomalies", "a,b;c"],
            "info.name=='a,b;c'": ["a,b;c"],
            'info.name=="a,b;c"': ["a,b;c"],
            "info.name==\"it's \\\"quoted\\\"\"": ["it's \"quoted\""],
            "info.name=='it\\'s \"quoted\"'": ["it's \"quoted\""],
            "info.name=='eu-*'": ["eu-invoices", "eu-orders"],
            "info.name==e_-invoices": [],
            "info.name==EU-INVOICES": [],
            "info.name=in=(eu-orders,'a,b;c')": ["eu-orders", "a,b;c"],
        }
        for filt, want in cases.items():
            with self.subTest(filter=filt):
                self.assertEqual(self.scoped(filt), want)

    def test_and_or_precedence(self):
        cases = {
            # AND binds tighter than OR
            "info.name==anomalies,info.name==eu-*;status==PAUSED":
                ["eu-orders", "anomalies"],
            "info.name==anomalies or info.name==eu-* and status==PAUSED":
                ["eu-orders", "anomalies"],
            "(info.name==anomalies,info.name==eu-*);status==PAUSED":
                ["eu-orders"],
            "(info.name==anomalies or info.name==eu-*) and status==PAUSED":
                ["eu-orders"],
            "status==EXECUTING;info.roles==reporting":
                ["eu-invoices", "a,b;c"],
            "((status==PAUSED))": ["us-invoices", "eu-orders"],
            " status == PAUSED ; info.name == us-* ": ["us-invoices"],
        }
        for filt, want in cases.items():
            with self.subTest(filter=filt):
                self.assertEqual(self.scoped(filt), want)

    def test_roles_and_parameters(self):
        cases = {
            "info.roles==reporting": ["eu-invoices", "us-invoices",
                                      "a,b;c"],
            "info.roles==audit": ["us-invoices", "eu-orders"],
            "info.roles==nobody": [],
            "info.roles!=reporting": ["eu-orders", "it's \"quoted\"",
                                      "anomalies"],
            "info.roles=in=(ops,audit)": ["us-invoices", "eu-orders",
                                          "anomalies", "a,b;c"],
            "info.parameters.source==sales": ["eu-invoices", "us-invoices",
                                              "a,b;c"],
            "info.parameters.source==\"o'brien\"": ["it's \"quoted\""],
            "info.parameters.region==eu": ["eu-invoices", "eu-orders"],
            "info.parameters.source==s*": ["eu-invoices", "us-invoices",
                                           "a,b;c"],
            "info.parameters.region=in=(us,xx)": ["us-invoices"],
            "info.parameters.nothing==x": [],
            "info.parameters.source==sales;info.roles==audit":
                ["us-invoices"],
        }
        for filt, want in cases.items():
            with self.subTest(filter=filt):
                self.assertEqual(self.scoped(filt), want)

    def test_filter_errors(self):
        bad_syntax = ["info.name==", "info.name", "==x", "info.name==a;",
                      "(info.name==a", "info.name==a)", "info.name=x=a",
                      "info.name==a,,info.name==b", "info.name=in=a",
                      "info.name=in=()", "info.name=='unterminated",
                      "info.name==a b"]
        for f in bad_syntax:
            with self.subTest(filter=f):
                p = self.assertProblem(self.svc.get("*/*/?filter=" + q(f)),
                                       400, "invalid_filter")
                self.assertIn("position", p["detail"])
        p = self.assertProblem(self.svc.get("*/*/?filter=" + q(
            "status==PAUSED;bogus.field==1")), 400, "invalid_filter")
        self.assertIn("bogus.field", p["detail"])
        for f in ("info.nonsense==1", "info==x", "operation.info.x==1",
                  "status==RUNNING", "created_at>yesterday",
                  "id==abc", "info.timeout_in_millis>1.5",
                  "info.parameters==x"):
            with self.subTest(filter=f):
                self.assertProblem(self.svc.get("*/*/?filter=" + q(f)), 400,
                                   "invalid_filter")
        # bounds: nesting and number of terms
        deep = "(" * 40 + "status==PAUSED" + ")" * 40
        self.assertProblem(self.svc.get("*/*/?filter=" + q(deep)), 400,
                           "invalid_filter")
        ok_depth = "(" * 5 + "status==PAUSED" + ")" * 5
        self.assertEqual(self.svc.get("*/*/?filter=" + q(ok_depth)).status,
                         200)
        many = ",".join("id==%d" % i for i in range(1, 201))
        self.assertProblem(self.svc.get("*/*/?filter=" + q(many)), 400,
                           "invalid_filter")
        some = ",".join("id==%d" % i for i in range(1, 21))
        self.assertEqual(self.svc.get("*/*/?filter=" + q(some)).status, 200)
        # operations and executions lists validate too
        self.assertProblem(self.svc.get("?filter=" + q("info.name==x")),
                           400, "invalid_filter")
        self.assertProblem(self.svc.get("?filter=" + q("info.type==NOPE")),
                           400, "invalid_filter")
        # injection attempts stay values
        for f in ("info.name==\"x' OR 1=1 --\"",
                  "info.name=='); DROP TABLE job; --'"):
            with self.subTest(filter=f):
                self.assertEqual(self.scoped(f), [])
        self.assertEqual(len(self.scoped(None)), 6)

    def test_sort(self):
        J = self.jobs
        asc = sorted(J)
        self.assertEqual(self.scoped(None, "info.name"), asc)
        self.assertEqual(self.scoped(None, "-info.name"), asc[::-1])
        by_id = sorted(J, key=J.get)
        self.assertEqual(self.scoped(None, "-id"), by_id[::-1])
        self.assertEqual(self.scoped(None, None if False else "id"), by_id)
        # default order is id ascending
        self.assertEqual(self.names(
            "operation.info.definition=in=(list-a,list-b)"), by_id)
        # multiple keys, ties broken by id
        got = self.scoped(None, "status,-info.timeout_in_millis")
        self.assertEqual(got, ["a,b;c", "it's \"quoted\"", "eu-invoices",
                               "eu-orders", "us-invoices", "anomalies"])
        got = self.scoped(None, "-operation.info.type,status")
        self.assertEqual(got[:4], ["eu-invoices", "it's \"quoted\"",
                                   "us-invoices", "eu-orders"])
        self.assertEqual(got[4:], ["a,b;c", "anomalies"])
        for s in ("nope", "-nope", "info.roles", "id,", ",id", "--id",
                  "info.parameters.source", "+id ", ""):
            with self.subTest(sort=s):
                r = self.svc.get("*/*/?sort=" + q(s))
                if s == "":
                    self.assertIn(r.status, (200, 400))
                    continue
                self.assertProblem(r, 400, "invalid_sort")
        r = self.svc.get("?sort=-created_at,info.definition")
        self.assertEqual(r.status, 200, r)
        self.assertProblem(self.svc.get("?sort=info.name"), 400,
                           "invalid_sort")

    def test_page_parameters(self):
        for name in ("page[number]", "page[size]"):
            for v in ("0", "-1", "abc", "1.5", "", "1e2",
                      "99999999999999999999999"):
                with self.subTest(param=name, value=v):
                    r = self.svc.get("*/*/?%s=%s" % (q(name), q(v)))
                    self.assertProblem(r, 400, "invalid_parameter")
        self.assertProblem(self.svc.get("*/*/?page%5Bsize%5D=1001"), 400,
                           "invalid_parameter")
        self.assertProblem(self.svc.get("?page%5Bsize%5D=1001"), 400)
        self.assertProblem(self.svc.get("*/*/*?page%5Bnumber%5D=0"), 400)
        self.assertProblem(self.svc.get("*/*/?page[number]=1&foo=1"), 400,
                           "invalid_parameter")
        d = self.ok(self.svc.get("*/*/?page%5Bsize%5D=1000"))
        self.assertEqual(d["page"]["size"], 1000)
        d = self.ok(self.svc.get("*/*/?page[size]=2&page[number]=2&filter="
                                 + q("operation.info.definition=in="
                                     "(list-a,list-b)")))
        self.assertEqual(d["page"], {"number": 2, "size": 2,
                                     "total_elements": 6, "total_pages": 3})
        self.assertEqual(len(d["data"]), 2)
        d = self.ok(self.svc.get("*/*/?page[size]=2&page[number]=99&filter="
                                 + q("operation.info.definition=in="
                                     "(list-a,list-b)")))
        self.assertEqual(d["data"], [])
        self.assertEqual(d["page"]["number"], 99)
        self.assertEqual(d["page"]["total_elements"], 6)


class TestExecutions(ApiCase):
    """The scheduler is a separate program: executions are seeded straight
    into the database here so that their lists and embedding are checked
    with real rows."""

    STATUSES = ["SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED",
                "ABANDONED"]
    CODES = {"SUCCEEDED": "0", "FAILED": "3", "TIMED_OUT": "SIGKILL",
             "CANCELLED": "SIGTERM", "ABANDONED": "ABANDONED"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        svc = cls.svc
        assert svc.put("", op_info("REPORT", "execs/x")).status == 200
        cls.job = svc.put("REPORT/execs%2Fx", job_info(
            "exec job", roles=["reporting"],
            parameters={"source": "sales"})).json()
        cls.other = svc.put("REPORT/execs%2Fx", job_info("other")).json()
        import sqlite3
        con = sqlite3.connect(svc.db_path, timeout=10, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            t0 = 1764999446000  # 2025-12-06T05:37:26.000Z
            rows = []
            for i in range(1, 26):
                st = cls.STATUSES[(i - 1) % 5]
                rows.append((cls.job["id"], i, 1, st,
                             json.dumps({"source": "sales"}),
                             json.dumps(["reporting"]),
                             cls.CODES[st], json.dumps({"n": i}),
                             t0 + i * 1000, t0 + i * 1000,
                             t0 + i * 1000 + 500, t0 + i * 1000 + 500))
            for i in range(1, 4):
                rows.append((cls.other["id"], i, 1, "SUCCEEDED", "{}", "[]",
                             "0", "{}", t0 + i * 1000, t0 + i * 1000,
                             t0 + i * 1000 + 1, t0 + i * 1000 + 1))
            con.executemany(
                "INSERT INTO execution (job_id, ordinal, revision, status, "
                "parameters, roles, response_code, result, created_at, "
                "started_at, stopped_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            con.execute("UPDATE job SET last_ordinal = 25 WHERE id = ?",
                        (cls.job["id"],))
            con.execute("UPDATE job SET last_ordinal = 3 WHERE id = ?",
                        (cls.other["id"],))
            con.execute("COMMIT")
        finally:
            con.close()

    JOB = "REPORT/execs%2Fx/exec%20job"

    def test_job_embeds_20_newest(self):
        d = self.ok(self.svc.get(self.JOB))
        ex = d["executions"]
        self.assertEqual([e["ordinal"] for e in ex], list(range(25, 5, -1)))
        e = ex[1]
        for k in ("id", "ordinal", "revision", "status", "parameters",
                  "roles", "response_code", "result", "created_at",
                  "started_at", "stopped_at", "updated_at"):
            self.assertIn(k, e)
        self.assertEqual(e["status"], self.STATUSES[23 % 5])
        self.assertEqual(e["response_code"], self.CODES[e["status"]])
        self.assertEqual(e["result"], {"n": 24})
        self.assertEqual(e["parameters"], {"source": "sales"})
        self.assertEqual(e["roles"], ["reporting"])
        self.assertEqual(e["started_at"], "2025-12-06T05:37:50.000Z")
        self.assertEqual(e["stopped_at"], "2025-12-06T05:37:50.500Z")
        self.assertNotIn("executions", self.ok(self.svc.get(
            self.JOB + "?data=none")))

    def test_list_of_one_job(self):
        d = self.ok(self.svc.get(self.JOB + "/?page[size]=10&sort=-ordinal"))
        self.assertEqual(d["page"], {"number": 1, "size": 10,
                                     "total_elements": 25, "total_pages": 3})
        self.assertEqual([e["ordinal"] for e in d["data"]],
                         list(range(25, 15, -1)))
        for e in d["data"]:
            self.assertEqual(e["address"], "REPORT/execs%2Fx/exec%20job")
        d = self.ok(self.svc.get(self.JOB + "/"))
        self.assertEqual([e["ordinal"] for e in d["data"]],
                         list(range(1, 21)))  # id ascending by default

    def test_list_across_jobs(self):
        d = self.ok(self.svc.get("*/*/*?page[size]=100"))
        self.assertEqual(d["page"]["total_elements"], 28)
        addrs = {e["address"] for e in d["data"]}
        self.assertEqual(addrs, {"REPORT/execs%2Fx/exec%20job",
                                 "REPORT/execs%2Fx/other"})
        for path in ("REPORT/*/other", "*/execs%2Fx/other",
                     "REPORT/execs%2Fx/other/"):
            with self.subTest(path=path):
                d = self.ok(self.svc.get(path))
                self.assertEqual(d["page"]["total_elements"], 3)
        d = self.ok(self.svc.get("DETECT/*/*"))
        self.assertEqual(d["data"], [])

    def test_execution_filters(self):
        def ordinals(filt, sort="ordinal", path="*/*/*"):
            d = self.ok(self.svc.get(path + "?page[size]=100&filter=" +
                                     q(filt) + "&sort=" + q(sort)))
            return [(e["address"].rsplit("/", 1)[1], e["ordinal"])
                    for e in d["data"]]
        J = "exec%20job"
        self.assertEqual(ordinals("status==ABANDONED"),
                         [(J, 5), (J, 10), (J, 15), (J, 20), (J, 25)])
        self.assertEqual(ordinals("status==FAILED"),
                         [(J, 2), (J, 7), (J, 12), (J, 17), (J, 22)])
        self.assertEqual(ordinals("response_code==SIG*", "-ordinal"),
                         [(J, 24), (J, 23), (J, 19), (J, 18), (J, 14),
                          (J, 13), (J, 9), (J, 8), (J, 4), (J, 3)])
        self.assertEqual(ordinals("job.info.name==other"),
                         [("other", 1), ("other", 2), ("other", 3)])
        self.assertEqual(ordinals("roles==reporting;ordinal<=2"),
                         [(J, 1), (J, 2)])
        self.assertEqual(ordinals("parameters.source==sales;ordinal=in=(5,6)"),
                         [(J, 5), (J, 6)])
        self.assertEqual(ordinals(
            "started_at>=2025-12-06T05:37:49.000Z;job.info.name==exec*"
            ";status!=STARTED"),
            [(J, 23), (J, 24), (J, 25)])
        self.assertEqual(ordinals("stopped_at<2025-12-06T05:37:28.000Z"),
                         [(J, 1), ("other", 1)])
        self.assertEqual(len(ordinals(
            "operation.info.definition==\"execs/x\";revision==1")), 28)
        self.assertProblem(self.svc.get("*/*/*?filter=" + q(
            "status==RUNNING")), 400, "invalid_filter")

    def test_running_execution_has_null_fields(self):
        # A running execution: no stopped_at, result or response_code yet
        # (JSON null).  The scheduler writes such rows all the time.
        self.ok(self.svc.put("REPORT/execs%2Fx", job_info("running")))
        jid = self.ok(self.svc.get("REPORT/execs%2Fx/running"))["id"]
        import sqlite3
        con = sqlite3.connect(self.svc.db_path, timeout=10,
                              isolation_level=None)
        try:
            con.execute(
                "INSERT INTO execution (job_id, ordinal, revision, status, "
                "parameters, roles, response_code, result, created_at, "
                "started_at, stopped_at, updated_at) VALUES "
                "(?, 1, 1, 'STARTED', '{}', '[]', NULL, NULL, "
                "1764999446000, 1764999446000, NULL, 1764999446000)",
                (jid,))
            con.execute("UPDATE job SET last_ordinal = 1 WHERE id = ?",
                        (jid,))
        finally:
            con.close()
        try:
            d = self.ok(self.svc.get("REPORT/execs%2Fx/running"))
            e = d["executions"][0]
            self.assertEqual(e["status"], "STARTED")
            self.assertIsNone(e["stopped_at"])
            self.assertIsNone(e["result"])
            self.assertIsNone(e["response_code"])
            d = self.ok(self.svc.get("REPORT/execs%2Fx/running/"))
            self.assertIsNone(d["data"][0]["stopped_at"])
            d = self.ok(self.svc.get("*/*/*?filter=status==STARTED"))
            self.assertEqual(len(d["data"]), 1)
        finally:
            self.ok(self.svc.delete("REPORT/execs%2Fx/running"))

    def test_zz_delete_job_removes_its_executions(self):
        self.ok(self.svc.put("REPORT/execs%2Fx", job_info("gone")))
        self.ok(self.svc.delete("REPORT/execs%2Fx/other"))
        d = self.ok(self.svc.get("*/*/*"))
        self.assertEqual(d["page"]["total_elements"], 25)
        self.assertProblem(self.svc.get("REPORT/execs%2Fx/other"), 404,
                           "job_not_found")


class TestStablePaging(ApiCase):

    def test_stable_paging(self):
        svc = self.svc
        self.mkop("VALIDATE", "paging")
        ids = []
        statuses = ["EXECUTING", "PAUSED", "STOPPED"]
        for i in range(45):
            j = self.mkjob("VALIDATE", "paging", "job-%02d" % (i * 7 % 45),
                           roles=["r%d" % (i % 2)], timeout=1000 * (i % 4 + 1))
            ids.append(j["id"])
            s = statuses[i * 5 % 3]
            if s != "EXECUTING":
                self.ok(svc.post("VALIDATE/paging/job-%02d?status=%s"
                                 % (i * 7 % 45, s)))
        for sort in ("status", "-status", "info.timeout_in_millis,-status",
                     "-info.timeout_in_millis", "revision", "-revision"):
            with self.subTest(sort=sort):
                seen = []
                rows = []
                for page in range(1, 9):
                    d = self.ok(svc.get(
                        "VALIDATE/paging/?page[size]=7&page[number]=%d"
                        "&sort=%s" % (page, q(sort))))
                    self.assertEqual(d["page"]["total_elements"], 45)
                    self.assertEqual(d["page"]["total_pages"], 7)
                    if page <= 6:
                        self.assertEqual(len(d["data"]), 7)
                    elif page == 7:
                        self.assertEqual(len(d["data"]), 3)
                    else:
                        self.assertEqual(d["data"], [])
                    seen += [x["id"] for x in d["data"]]
                    rows += d["data"]
                self.assertEqual(len(seen), len(set(seen)), "overlap")
                self.assertEqual(sorted(seen), sorted(ids), "gap")

                # the order is the sort keys, then id ascending
                def key(x):
                    k = []
                    for part in sort.split(","):
                        desc = part.startswith("-")
                        f = part.lstrip("-")
                        v = x["info"]["timeout_in_millis"] if f == \
                            "info.timeout_in_millis" else x[f]
                        if isinstance(v, str):
                            v = statuses.index(v) if f == "status" else v
                        k.append(-v if desc else v)
                    return k
                keys = [key(x) for x in rows]
                for a, b, ra, rb in zip(keys, keys[1:], rows, rows[1:]):
                    self.assertLessEqual(a, b)
                    if a == b:
                        self.assertLess(ra["id"], rb["id"])


if __name__ == "__main__":
    unittest.main()
