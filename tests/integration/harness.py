"""Integration test harness for ledgerops.

Starts a real lighttpd on a free 127.0.0.1 port with a pool of built
ledgerops-fcgi responders on a fresh database, speaks HTTP to it, and
provides a minimal raw FastCGI client for talking to one responder socket
directly.  Python 3 standard library only.

Environment:
  top_builddir  where ledgerops-fcgi is (default: the repository root)
  top_srcdir    where etc/*.in are (default: the repository root)
  LIGHTTPD      the lighttpd binary (default: found in PATH or /usr/sbin)
  KEEP_RUNDIR   set to keep each service's temporary directory
"""

import atexit
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))

BASE = "/api/v1/operation/"


def srcdir():
    return os.path.abspath(os.environ.get("top_srcdir") or _ROOT)


def builddir():
    return os.path.abspath(os.environ.get("top_builddir") or _ROOT)


def find_lighttpd():
    env = os.environ.get("LIGHTTPD")
    if env:
        found = shutil.which(env) if not os.path.isabs(env) else env
        if found:
            return found
    found = shutil.which("lighttpd")
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        p = os.path.join(d, "lighttpd")
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("lighttpd not found (set LIGHTTPD)")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_until(pred, timeout=10.0, interval=0.02):
    """Polls pred() until it is truthy or timeout seconds pass; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def seg(s):
    """Percent-encodes one path segment ('/' too)."""
    from urllib.parse import quote
    return quote(s, safe="-._~")


# --- /proc helpers ---------------------------------------------------------

def proc_stat(pid):
    """(comm, state, ppid) of pid, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    lp, rp = data.index("("), data.rindex(")")
    comm = data[lp + 1:rp]
    rest = data[rp + 2:].split()
    return comm, rest[0], int(rest[1])


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def socket_inodes(pid):
    """The inodes of the sockets pid holds: a responder holds its listening
    socket and one more per connection it has accepted."""
    return _socket_inodes(pid)


def accepted_since(pid, before):
    """True once pid holds a socket that is not in the set before.  A count
    would not do: a connection of an earlier request may still be closing
    when before is taken, and the new one then only takes its place."""
    return bool(_socket_inodes(pid) - before)


def _all_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def _socket_inodes(pid):
    out = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", link)
        if m:
            out.add(int(m.group(1)))
    return out


def _unix_listen_inodes(path):
    """Inodes of unix sockets bound to path (from /proc/net/unix)."""
    out = set()
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7] == path:
                    out.add(int(parts[6]))
    except OSError:
        pass
    return out


# --- HTTP -----------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                        self.body[:300])


_ids = itertools.count(1)
_services = []


def _stop_all():
    for s in list(_services):
        try:
            s.stop()
        except Exception:
            pass


atexit.register(_stop_all)


class Service:
    """lighttpd + a pool of ledgerops-fcgi responders on a fresh database."""

    def __init__(self, pool=4, busy_timeout_ms=5000, require_headers=True,
                 max_body_bytes=1048576, extra_conf="", handlers_dir=None,
                 threads=3):
        self.pool = pool
        self.threads = threads
        self.busy_timeout_ms = busy_timeout_ms
        self.require_headers = require_headers
        self.max_body_bytes = max_body_bytes
        self.extra_conf = extra_conf
        self.handlers_dir = handlers_dir or os.path.join(srcdir(), "etc",
                                                         "handlers")
        self.port = None
        self.base = BASE
        self.rundir = None
        self.db_path = None
        self.conf_path = None
        self.proc = None
        self._log = None

    # -- configuration

    def _write_conf(self):
        with open(os.path.join(srcdir(), "etc", "ledgerops.conf.in")) as f:
            text = f.read()
        text = text.replace("@DBPATH@", self.db_path)
        text = text.replace("@HANDLERS@", self.handlers_dir)
        patches = {
            "busy_timeout_ms": str(int(self.busy_timeout_ms)),
            "require_headers": "true" if self.require_headers else "false",
            "max_body_bytes": str(int(self.max_body_bytes)),
            "threads": str(int(self.threads)),
        }
        for key, value in patches.items():
            text, n = re.subn(r"(?m)^(\s*%s\s*=\s*)[^;\n]*?(\s*(;.*)?)$"
                              % re.escape(key),
                              lambda m, v=value: m.group(1) + v + m.group(2),
                              text)
            if n != 1:
                raise RuntimeError("ledgerops.conf.in has no key %s" % key)
        if self.extra_conf:
            text = text.rstrip("\n") + "\n\n" + self.extra_conf + "\n"
        with open(self.conf_path, "w") as f:
            f.write(text)

    def _write_lighttpd_conf(self):
        with open(os.path.join(srcdir(), "etc", "lighttpd.conf.in")) as f:
            text = f.read()
        for k, v in (("@PORT@", str(self.port)), ("@RUNDIR@", self.rundir),
                     ("@POOL@", str(self.pool)), ("@BINDIR@", builddir()),
                     ("@CONF@", self.conf_path),
                     ("@ERRORS@", os.path.join(srcdir(), "etc", "errors"))):
            text = text.replace(k, v)
        self.lighttpd_conf = os.path.join(self.rundir, "lighttpd.conf")
        with open(self.lighttpd_conf, "w") as f:
            f.write(text)

    # -- life cycle

    def start(self):
        self.rundir = tempfile.mkdtemp(prefix="ledgerops-it-")
        _services.append(self)
        try:
            self._start()
        except Exception:
            self.stop()
            raise
        return self

    def _start(self):
        self.db_path = os.path.join(self.rundir, "ledgerops.db")
        self.conf_path = os.path.join(self.rundir, "ledgerops.conf")
        os.makedirs(os.path.join(self.rundir, "www"))
        self._write_conf()
        binary = os.path.join(builddir(), "ledgerops-fcgi")
        if not os.access(binary, os.X_OK):
            raise RuntimeError("%s is not built" % binary)
        r = subprocess.run([binary, "-c", self.conf_path, "-i"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("ledgerops-fcgi -i failed: %s"
                               % r.stdout.decode(errors="replace"))
        last = None
        for _attempt in range(3):
            self.port = free_port()
            self._write_lighttpd_conf()
            self._log = open(os.path.join(self.rundir, "lighttpd.log"), "ab")
            self.proc = subprocess.Popen(
                [find_lighttpd(), "-D", "-f", self.lighttpd_conf],
                stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT)
            if wait_until(self._answers, 10.0) and wait_until(
                    lambda: len(self.responder_pids()) >= self.pool, 10.0):
                return
            last = self._read_log()
            self._stop_lighttpd()
        raise RuntimeError("lighttpd did not come up: %s" % last)

    def _read_log(self):
        try:
            with open(os.path.join(self.rundir, "lighttpd.log"), "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError("lighttpd exited: %s" % self._read_log())
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _stop_lighttpd(self):
        children = self.responder_pids()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in children + self._orphans():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def _orphans(self):
        """Responders still running with our configuration."""
        out = []
        if not self.conf_path:
            return out
        needle = ("LEDGEROPS_CONF=" + self.conf_path).encode()
        for pid in _all_pids():
            st = proc_stat(pid)
            if st is None or st[0] != "ledgerops-fcgi":
                continue
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if needle in env:
                out.append(pid)
        return out

    def stop(self):
        try:
            self._stop_lighttpd()
        finally:
            self.proc = None
            if self in _services:
                _services.remove(self)
            if self.rundir and not os.environ.get("KEEP_RUNDIR"):
                shutil.rmtree(self.rundir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- processes and sockets

    def responder_pids(self):
        """Live ledgerops-fcgi processes whose parent is this lighttpd."""
        if self.proc is None:
            return []
        out = []
        for pid in _all_pids():
            st = proc_stat(pid)
            if st and st[2] == self.proc.pid and st[1] not in ("Z", "X") \
                    and st[0] == "ledgerops-fcgi":
                out.append(pid)
        return sorted(out)

    def fcgi_socket(self, i=0):
        return os.path.join(self.rundir, "fcgi.sock-%d" % i)

    def responder_for_socket(self, i=0):
        """The pid of the responder listening on fcgi_socket(i), or None."""
        inodes = _unix_listen_inodes(self.fcgi_socket(i))
        for pid in self.responder_pids():
            if _socket_inodes(pid) & inodes:
                return pid
        return None

    # -- HTTP

    def request(self, method, path, body=None, headers=None, raw=None,
                content_type="application/json", request_id=True,
                source=True):
        if not path.startswith("/"):
            path = self.base + path
        hdrs = {}
        if request_id is True:
            hdrs["request-id"] = "it-%d-%d" % (os.getpid(), next(_ids))
        elif isinstance(request_id, str):
            hdrs["request-id"] = request_id
        if source is True:
            hdrs["source"] = "tests"
        elif isinstance(source, str):
            hdrs["source"] = source
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        if data is None and method in ("PUT", "POST"):
            hdrs.setdefault("Content-Length", "0")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            payload = r.read()
            h = {}
            for k, v in r.getheaders():
                k = k.lower()
                h[k] = h[k] + ", " + v if k in h else v
            return Response(r.status, h, payload)
        finally:
            conn.close()

    # conveniences
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


# --- documents ------------------------------------------------------------

OP_INFO = "cac_ledger_schema_info_ledger_operation_info"
JOB_INFO = "cac_ledger_schema_info_ledger_job_info"


def op_info(type_, definition, backoff=None):
    d = {"@type": OP_INFO, "type": type_, "definition": definition}
    if backoff is not None:
        d["backoff"] = backoff
    return d


def job_info(name, roles=(), parameters=None, backoff=None, timeout=None):
    d = {"@type": JOB_INFO, "name": name, "roles": list(roles)}
    if parameters is not None:
        d["parameters"] = parameters
    if backoff is not None:
        d["backoff"] = backoff
    if timeout is not None:
        d["timeout_in_millis"] = timeout
    return d


# --- FastCGI --------------------------------------------------------------

FCGI_BEGIN_REQUEST = 1
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_RESPONDER = 1


def _fcgi_record(rtype, content, request_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, request_id, len(content), pad,
                       0) + content + b"\0" * pad


def _fcgi_len(n):
    if n < 128:
        return bytes([n])
    return struct.pack(">I", n | 0x80000000)


def fcgi_encode_params(params):
    out = b""
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += _fcgi_len(len(k)) + _fcgi_len(len(v)) + k + v
    return out


def fcgi_params_records(params):
    data = fcgi_encode_params(params)
    out = b""
    for i in range(0, len(data), 65535):
        out += _fcgi_record(FCGI_PARAMS, data[i:i + 65535])
    return out + _fcgi_record(FCGI_PARAMS, b"")


def fcgi_begin():
    return _fcgi_record(FCGI_BEGIN_REQUEST,
                        struct.pack(">HB5x", FCGI_RESPONDER, 0))


def fcgi_stdin(chunk):
    """One FCGI_STDIN record (b"" is the end-of-stream record)."""
    out = b""
    if not chunk:
        return _fcgi_record(FCGI_STDIN, b"")
    for i in range(0, len(chunk), 65535):
        out += _fcgi_record(FCGI_STDIN, chunk[i:i + 65535])
    return out


def parse_cgi_response(data):
    """(status, headers, body) of a CGI-style response."""
    sep = data.find(b"\r\n\r\n")
    if sep < 0:
        sep2 = data.find(b"\n\n")
        if sep2 < 0:
            raise ValueError("no header end in %r" % data[:200])
        head, body = data[:sep2], data[sep2 + 2:]
    else:
        head, body = data[:sep], data[sep + 4:]
    headers = {}
    status = 200
    for line in head.decode("latin-1").splitlines():
        if not line.strip():
            continue
        k, _, v = line.partition(":")
        k, v = k.strip().lower(), v.strip()
        headers[k] = v
        if k == "status":
            status = int(v.split()[0])
    return status, headers, body


class FcgiConnection:
    """A step-by-step FastCGI request on one connection, for tests that
    need to act between sending parts of a request."""

    def __init__(self, socket_path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(socket_path)

    def send_begin(self, params):
        self.sock.sendall(fcgi_begin() + fcgi_params_records(params))

    def send_stdin(self, chunk):
        self.sock.sendall(fcgi_stdin(chunk))

    def read_response(self):
        out = b""
        buf = b""
        while True:
            while len(buf) < 8:
                d = self.sock.recv(65536)
                if not d:
                    raise ConnectionError("connection closed before "
                                          "FCGI_END_REQUEST")
                buf += d
            _v, rtype, _rid, clen, plen, _r = struct.unpack(">BBHHBB",
                                                             buf[:8])
            while len(buf) < 8 + clen + plen:
                d = self.sock.recv(65536)
                if not d:
                    raise ConnectionError("truncated FastCGI record")
                buf += d
            content = buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == FCGI_STDOUT:
                out += content
            elif rtype == FCGI_END_REQUEST:
                return parse_cgi_response(out)

    def close(self):
        self.sock.close()


def fcgi_request(socket_path, params, stdin_chunks=(), close_stdin=True,
                 timeout=10):
    """One FastCGI responder request: params, then one FCGI_STDIN record
    per chunk (so a body can be split into records of chosen sizes), then
    the empty end-of-stdin record when close_stdin.  Returns (status,
    headers, body)."""
    c = FcgiConnection(socket_path, timeout)
    try:
        data = fcgi_begin() + fcgi_params_records(params)
        for chunk in stdin_chunks:
            if chunk:
                data += fcgi_stdin(chunk)
        if close_stdin:
            data += fcgi_stdin(b"")
        c.sock.sendall(data)
        return c.read_response()
    finally:
        c.close()


def cgi_params(method, uri, body=b"", content_type="application/json",
               request_id="fcgi-test", source="tests", content_length=None,
               extra=None):
    """The CGI variables lighttpd would pass for a request."""
    p = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "SCRIPT_NAME": "/api/v1/operation",
        "QUERY_STRING": uri.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
    }
    if request_id is not None:
        p["HTTP_REQUEST_ID"] = request_id
    if source is not None:
        p["HTTP_SOURCE"] = source
    if method in ("PUT", "POST") or body:
        p["CONTENT_LENGTH"] = (str(len(body)) if content_length is None
                               else content_length)
        if content_type is not None:
            p["CONTENT_TYPE"] = content_type
    if extra:
        p.update(extra)
    return p


def run_threads(fn, n):
    """Runs fn(i) in n threads; returns the list of results (re-raises)."""
    results = [None] * n
    errors = []

    def wrap(i):
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    if errors:
        raise errors[0]
    return results
