"""Input hygiene with a raw FastCGI client against one responder socket,
concurrent writers, a locked database, and SIGTERM handling."""

import json
import os
import signal
import socket
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (cgi_params, fcgi_request, job_info, op_info,  # noqa
                     wait_until)

URI = "/api/v1/operation/"


def body_of(doc):
    return json.dumps(doc).encode()


class TestFcgiHygiene(unittest.TestCase):
    """The pool must stay the same processes throughout: no request here
    may crash or kill a responder."""

    @classmethod
    def setUpClass(cls):
        cls.svc = harness.Service(pool=2).start()
        r = cls.svc.put("", op_info("REPORT", "raw"))
        assert r.status == 200, r
        cls.pids = set(cls.svc.responder_pids())
        assert len(cls.pids) == 2, cls.pids
        cls.sock = cls.svc.fcgi_socket(0)

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def tearDown(self):
        self.assertEqual(set(self.svc.responder_pids()), self.pids,
                         "a responder died or was replaced")
        # and the socket's responder still serves
        st, _h, body = fcgi_request(self.sock, cgi_params(
            "GET", URI + "REPORT/raw"))
        self.assertEqual(st, 200, body)

    def put_job(self, name, chunks, content_length=None, close=True,
                extra=None, content_type="application/json"):
        body = b"".join(chunks)
        return fcgi_request(self.sock, cgi_params(
            "PUT", URI + "REPORT/raw", body=body,
            content_length=content_length, extra=extra,
            content_type=content_type), chunks, close_stdin=close)

    def job_status(self, name):
        st, _h, _b = fcgi_request(self.sock, cgi_params(
            "GET", URI + "REPORT/raw/" + name + "?data=none"))
        return st

    def problem(self, st, headers, body, status, code=None):
        self.assertEqual(st, status, body)
        self.assertEqual(headers.get("content-type"),
                         "application/problem+json")
        p = json.loads(body)
        self.assertEqual(p["status"], status)
        if code:
            self.assertEqual(p["code"], code, p)
        return p

    def test_body_split_across_records(self):
        body = body_of(job_info("split", roles=["a", "b"],
                                parameters={"q": "x" * 300}))
        sizes = [1, 2, 3, 50, 7, 200]
        chunks, pos = [], 0
        for s in sizes:
            chunks.append(body[pos:pos + s])
            pos += s
        chunks.append(body[pos:])
        self.assertEqual(len(chunks), 7)
        self.assertTrue(all(chunks))
        st, h, out = self.put_job("split", chunks)
        self.assertEqual(st, 200, out)
        self.assertEqual(h.get("etag"), '"1"')
        self.assertEqual(json.loads(out)["info"]["parameters"]["q"],
                         "x" * 300)
        self.assertEqual(self.job_status("split"), 200)

    def test_body_many_large_records(self):
        doc = job_info("large", parameters={"q": "y" * 300000})
        body = body_of(doc)
        chunks = [body[i:i + 65535] for i in range(0, len(body), 65535)]
        self.assertGreater(len(chunks), 4)
        st, _h, out = self.put_job("large", chunks)
        self.assertEqual(st, 200, out[:300])
        self.assertEqual(self.job_status("large"), 200)

    def test_short_body(self):
        body = body_of(job_info("short"))
        for declared in (len(body) + 1, len(body) + 1000):
            with self.subTest(declared=declared):
                st, h, out = self.put_job("short", [body[:10], body[10:]],
                                          content_length=str(declared))
                p = self.problem(st, h, out, 400, "invalid_content_length")
                self.assertIn(str(declared), p["detail"])
        # only half of it
        st, h, out = self.put_job("short", [body[:len(body) // 2]],
                                  content_length=str(len(body)))
        self.problem(st, h, out, 400, "invalid_content_length")
        self.assertEqual(self.job_status("short"), 404)

    def test_bad_content_length(self):
        body = body_of(job_info("badlen"))
        for cl in ("-1", "-0", "abc", "12abc", "0x10", " 12", "1e3",
                   "99999999999999999999999", "18446744073709551616",
                   "9223372036854775808"):
            with self.subTest(content_length=cl):
                st, h, out = self.put_job("badlen", [body],
                                          content_length=cl)
                self.problem(st, h, out, 400)
        self.assertEqual(self.job_status("badlen"), 404)

    def test_too_large_without_reading(self):
        # 2 MB declared, 10 bytes sent, stdin left open: the 413 must
        # come back without the responder waiting for the rest.
        st, h, out = fcgi_request(self.sock, cgi_params(
            "PUT", URI + "REPORT/raw", body=b"x",
            content_length=str(2 * 1024 * 1024)), [b"{" * 10],
            close_stdin=False, timeout=5)
        self.problem(st, h, out, 413, "body_too_large")

    def test_missing_variables(self):
        cases = {
            "nothing": {},
            "no REQUEST_URI": {k: v for k, v in cgi_params(
                "GET", URI + "REPORT/raw").items() if k != "REQUEST_URI"},
            "no REQUEST_METHOD": {k: v for k, v in cgi_params(
                "GET", URI + "REPORT/raw").items()
                if k != "REQUEST_METHOD"},
            "empty REQUEST_URI": cgi_params("GET", ""),
            "relative REQUEST_URI": cgi_params("GET", "api/v1/operation/"),
            "no CONTENT_LENGTH": {k: v for k, v in cgi_params(
                "PUT", URI + "REPORT/raw", body=b"{}").items()
                if k != "CONTENT_LENGTH"},
            "no CONTENT_TYPE": cgi_params("PUT", URI + "REPORT/raw",
                                          body=b"{}", content_type=None),
            "no headers": cgi_params("GET", URI, request_id=None,
                                     source=None),
            "odd method": cgi_params("BREW", URI),
            "empty method": cgi_params("", URI),
        }
        for name, params in cases.items():
            with self.subTest(case=name):
                st, h, out = fcgi_request(self.sock, params,
                                          [b"{}"] if "CONTENT" in name
                                          else [])
                self.assertGreaterEqual(st, 400, out)
                self.assertLess(st, 500, out)
                self.problem(st, h, out, st)

    def test_bad_bytes_in_path_direct(self):
        for path in ("REPORT/a%00b", "REPORT/a%0Ab", "REPORT/%FF%FE",
                     "REPORT/raw/%C0%AF", "REPORT/%E2%82", "REPORT/a%"):
            with self.subTest(path=path):
                st, h, out = fcgi_request(self.sock, cgi_params(
                    "GET", URI + path))
                self.problem(st, h, out, 400, "invalid_path")

    def test_long_and_odd_headers(self):
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "REPORT/raw", request_id="x" * 5000))
        self.problem(st, h, out, 400, "invalid_header")
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "REPORT/raw", request_id="a\x01b"))
        self.problem(st, h, out, 400, "invalid_header")
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "REPORT/raw", source="caf\xe9"))
        self.problem(st, h, out, 400, "invalid_header")
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "?" + "&".join("p%d=1" % i for i in range(100))))
        self.problem(st, h, out, 400)
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "?filter=" + "(" * 3000))
        self.problem(st, h, out, 400, "invalid_filter")
        st, h, out = fcgi_request(self.sock, cgi_params(
            "GET", URI + "?filter=id==1&filter=id==2"))
        self.problem(st, h, out, 400)


class TestConcurrentWrites(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.svc = harness.Service(pool=4).start()
        r = cls.svc.put("", op_info("PUBLISH", "concurrent"))
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def test_concurrent_writes(self):
        svc = self.svc
        pids = set(svc.responder_pids())
        threads, rounds, own = 8, 25, 5
        statuses = ["PAUSED", "STOPPED", "EXECUTING"]
        path = "PUBLISH/concurrent"

        def work(t):
            shared_revs, bad = [], []
            for i in range(rounds):
                name = "t%d-j%d" % (t, i % own)
                r = svc.put(path, job_info(name, parameters={
                    "round": str(i)}))
                if r.status != 200:
                    bad.append(r)
                r = svc.put(path, job_info("shared", parameters={
                    "t": str(t), "i": str(i)}))
                if r.status != 200:
                    bad.append(r)
                else:
                    shared_revs.append(r.json()["revision"])
                    if r.headers.get("etag") != '"%d"' % \
                            r.json()["revision"]:
                        bad.append(r)
                r = svc.post("%s/%s?status=%s" % (path, name,
                                                  statuses[i % 3]))
                if r.status != 200:
                    bad.append(r)
            return shared_revs, bad

        results = harness.run_threads(work, threads)
        bad = [b for _revs, bs in results for b in bs]
        self.assertEqual(bad, [])
        revs = sorted(r for revs, _b in results for r in revs)
        n = threads * rounds
        # every PUT of the shared job changed its info: exactly one
        # revision each, no revision given twice, none skipped
        self.assertEqual(revs, list(range(1, n + 1)))
        d = svc.get(path + "/?page[size]=1000").json()
        self.assertEqual(d["page"]["total_elements"], threads * own + 1)
        jobs = {j["info"]["name"]: j for j in d["data"]}
        self.assertEqual(jobs["shared"]["revision"], n)
        for t in range(threads):
            for k in range(own):
                j = jobs["t%d-j%d" % (t, k)]
                rounds_k = [i for i in range(rounds) if i % own == k]
                self.assertEqual(j["revision"], len(rounds_k))
                self.assertEqual(j["info"]["parameters"]["round"],
                                 str(rounds_k[-1]))
                self.assertEqual(j["status"], statuses[rounds_k[-1] % 3])
        self.assertEqual(set(svc.responder_pids()), pids)


class TestBusyDatabase(unittest.TestCase):

    def test_locked_database_503(self):
        with harness.Service(pool=2, busy_timeout_ms=200) as svc:
            self.assertEqual(svc.put("", op_info("REPORT", "busy")).status,
                             200)
            self.assertEqual(svc.put("REPORT/busy", job_info("j")).status,
                             200)
            con = sqlite3.connect(svc.db_path, timeout=0,
                                  isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                for method, path, body in (
                        ("PUT", "REPORT/busy", job_info("j2")),
                        ("PUT", "", op_info("REPORT", "busy2")),
                        ("POST", "REPORT/busy/j?status=PAUSED", None),
                        ("DELETE", "REPORT/busy/j", None)):
                    with self.subTest(method=method, path=path):
                        r = svc.request(method, path, body=body)
                        self.assertEqual(r.status, 503, r)
                        self.assertEqual(r.headers.get("content-type"),
                                         "application/problem+json")
                        self.assertEqual(r.json()["code"], "database_busy")
                        self.assertTrue(r.headers.get("retry-after", "")
                                        .isdigit(), r)
                        self.assertNotIn(b"database is locked", r.body)
                        self.assertNotIn(b"SQLITE", r.body.upper())
                        self.assertNotIn(svc.rundir.encode(), r.body)
                # readers keep working under WAL
                self.assertEqual(svc.get("REPORT/busy/j").status, 200)
                self.assertEqual(svc.get("*/*/").status, 200)
                self.assertEqual(svc.get("").status, 200)
            finally:
                con.rollback()
                con.close()
            self.assertEqual(svc.put("REPORT/busy", job_info("j2")).status,
                             200)
            r = svc.get("REPORT/busy/j?data=none")
            self.assertEqual(r.json()["status"], "EXECUTING")


class TestBusyOneResponder(unittest.TestCase):

    def test_queued_writes_answer_within_one_timeout(self):
        """Writes queued behind their responder's leader count their wait
        from when they arrived: they got 503 after up to twice the busy
        timeout when each group started its own."""
        timeout_ms = 1000
        with harness.Service(pool=1, busy_timeout_ms=timeout_ms,
                             threads=4) as svc:
            self.assertEqual(svc.put("", op_info("REPORT", "q")).status, 200)
            sock = svc.fcgi_socket(0)
            con = sqlite3.connect(svc.db_path, timeout=0,
                                  isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")

                def put(i):
                    body = body_of(job_info("q%d" % i))
                    start = time.monotonic()
                    st, _, _ = fcgi_request(
                        sock, cgi_params("PUT", URI + "REPORT/q", body=body),
                        [body], timeout=20)
                    return st, time.monotonic() - start

                results = harness.run_threads(put, 4)
            finally:
                con.rollback()
                con.close()
        for st, took in results:
            self.assertEqual(st, 503)
            self.assertLess(took, 1.6 * timeout_ms / 1000.0, results)


class TestSignals(unittest.TestCase):

    def setUp(self):
        self.svc = harness.Service(pool=2).start()

    def tearDown(self):
        self.svc.stop()

    def test_sigusr1_stops_gracefully(self):
        """libfcgi's own SIGUSR1 handler left every thread spinning on a
        readable socket; SIGUSR1 is now a graceful stop."""
        pid = self.svc.responder_for_socket(0)
        os.kill(pid, signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: not harness.pid_alive(pid), 1.0),
                        "responder %d still alive after SIGUSR1 (%r)"
                        % (pid, harness.proc_stat(pid)))
        self.assertEqual(self.svc.get("").status, 200)

    def test_removed_socket_file_ends_responder(self):
        """A responder whose lighttpd was killed outlived it, and a new
        lighttpd on the same run directory sent its requests there.  run.sh
        removes the socket files first; a responder whose file is gone
        stops within about a second."""
        pid = self.svc.responder_for_socket(0)
        self.assertIsNotNone(pid)
        os.unlink(self.svc.fcgi_socket(0))
        self.assertTrue(wait_until(lambda: not harness.pid_alive(pid), 5.0),
                        "responder %d still alive without its socket file"
                        % pid)
        # The other responder still serves.
        self.assertEqual(self.svc.get("").status, 200)

    def test_sigterm_with_silent_connection(self):
        """A connection that never sends its request head held a thread in
        a blocking read past SIGTERM."""
        pid = self.svc.responder_for_socket(0)
        idle = harness.socket_inodes(pid)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(self.svc.fcgi_socket(0))
        try:
            self.assertTrue(wait_until(
                lambda: harness.accepted_since(pid, idle), 5.0))
            os.kill(pid, signal.SIGTERM)
            self.assertTrue(
                wait_until(lambda: not harness.pid_alive(pid), 1.0),
                "responder %d waited for a silent connection" % pid)
        finally:
            c.close()

    def test_stalled_heads_do_not_hold_every_thread(self):
        """As many stalled connections as threads left no thread for a
        real request; a head late by seconds is now dropped."""
        sock = self.svc.fcgi_socket(0)
        stalled = []
        try:
            for _ in range(self.svc.threads):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.connect(sock)
                c.sendall(harness.fcgi_begin()[:5])  # half a record
                stalled.append(c)
            st, _, _ = fcgi_request(sock, cgi_params("GET", URI),
                                    timeout=20)
            self.assertEqual(st, 200)
        finally:
            for c in stalled:
                c.close()


class TestStalledConnections(unittest.TestCase):
    """Requests whose body stops coming, held open on every thread of one
    responder; before, nothing but the request head had a time
    limit, so they held the threads, and SIGTERM, for ever."""

    def setUp(self):
        self.svc = harness.Service(pool=2).start()
        self.assertEqual(self.svc.put("", op_info("REPORT", "st")).status,
                         200)
        self.sock = self.svc.fcgi_socket(0)
        self.pid = self.svc.responder_for_socket(0)
        self.body = body_of(job_info("st"))
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.svc.stop()

    def half_puts(self, n):
        for _ in range(n):
            c = harness.FcgiConnection(self.sock, timeout=20)
            c.send_begin(cgi_params("PUT", URI + "REPORT/st",
                                    body=self.body))
            c.send_stdin(self.body[:10])
            self.conns.append(c)

    def test_stalled_bodies_are_dropped(self):
        self.half_puts(self.svc.threads)
        st, _, _ = fcgi_request(self.sock, cgi_params("GET", URI),
                                timeout=20)
        self.assertEqual(st, 200)

    def test_sigterm_with_stalled_body_ends(self):
        idle = harness.socket_inodes(self.pid)
        self.half_puts(1)
        self.assertTrue(wait_until(
            lambda: harness.accepted_since(self.pid, idle), 5.0))
        os.kill(self.pid, signal.SIGTERM)
        self.assertTrue(
            wait_until(lambda: not harness.pid_alive(self.pid), 10.0),
            "responder %d waited for a stalled body" % self.pid)

    def test_stop_serves_what_is_queued(self):
        """Connections queued on the socket when a stop came were reset
        at exit; they are served first now."""
        n = self.svc.threads
        self.half_puts(n)
        queued = harness.FcgiConnection(self.sock, timeout=20)
        self.conns.append(queued)
        queued.send_begin(cgi_params("GET", URI))
        queued.send_stdin(b"")
        time.sleep(0.2)  # let it reach the backlog, not for timing
        os.kill(self.pid, signal.SIGTERM)
        for c in self.conns[:n]:
            c.send_stdin(self.body[10:])
            c.send_stdin(b"")
        for c in self.conns[:n]:
            st, _, out = c.read_response()
            self.assertEqual(st, 200, out)
        st, _, out = queued.read_response()
        self.assertEqual(st, 200, out)
        self.assertTrue(wait_until(lambda: not harness.pid_alive(self.pid),
                                   3.0))


class TestSigterm(unittest.TestCase):

    def setUp(self):
        self.svc = harness.Service(pool=2).start()
        self.assertEqual(self.svc.put("", op_info("REPORT", "term")).status,
                         200)

    def tearDown(self):
        self.svc.stop()

    def test_idle_responder_exits(self):
        pid = self.svc.responder_for_socket(0)
        self.assertIsNotNone(pid)
        other = set(self.svc.responder_pids()) - {pid}
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: not harness.pid_alive(pid), 1.0),
                        "idle responder %d still alive 1 s after SIGTERM"
                        % pid)
        # the other one was not touched and still serves
        self.assertTrue(other <= set(self.svc.responder_pids()))

    def test_busy_responder_finishes_first(self):
        i = 1
        pid = self.svc.responder_for_socket(i)
        self.assertIsNotNone(pid)
        body = body_of(job_info("mid-term", parameters={"x": "z" * 1000}))
        half = len(body) // 2
        idle = harness.socket_inodes(pid)
        c = harness.FcgiConnection(self.svc.fcgi_socket(i), timeout=10)
        try:
            c.send_begin(cgi_params("PUT", URI + "REPORT/term", body=body))
            c.send_stdin(body[:half])
            # it has accepted the request once it holds one more socket
            self.assertTrue(wait_until(
                lambda: harness.accepted_since(pid, idle), 5.0),
                "responder never accepted")
            os.kill(pid, signal.SIGTERM)
            self.assertTrue(harness.pid_alive(pid))
            c.send_stdin(body[half:])
            c.send_stdin(b"")
            st, h, out = c.read_response()
        finally:
            c.close()
        self.assertEqual(st, 200, out)
        self.assertEqual(json.loads(out)["info"]["name"], "mid-term")
        self.assertTrue(wait_until(lambda: not harness.pid_alive(pid), 1.0),
                        "responder %d did not exit after its request" % pid)
        r = self.svc.get("REPORT/term/mid-term?data=none")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
