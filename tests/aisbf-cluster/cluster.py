#!/usr/bin/env python3
"""Real-AISBF test cluster for aisbf-doctor (stdlib only; AISBF runs in its own venv).

  cluster.py install
      Create/refresh the cached venv (AISBF_HARNESS_VENV, default
      ~/.cache/aisbf-doctor/aisbf-venv-0.99.92) with aisbf==0.99.92 --no-deps and the
      pinned runtime deps of requirements.txt. Fast no-op when the marker says complete.
  cluster.py up --state-dir DIR [--nodes 3] [--fault NAME] [--balancer] [--timeout S]
      Start N real AISBF nodes on loopback (shared MariaDB database + Redis prefixes, all
      unique to DIR), an OpenAI-compatible upstream stub and, if asked, a round-robin
      balancer; write DIR/state.json and DIR/doctor.toml; exit 0 leaving them running.
  cluster.py down --state-dir DIR
      Kill only the process groups recorded in DIR/state.json, drop the harness's
      databases and MySQL users, UNLINK the Redis keys under its own prefixes. Idempotent.
  cluster.py faults
      List the fault names.

Internal (started detached by `up`): `cluster.py _upstream ...`, `cluster.py _balancer ...`.

Environment: AISBF_HARNESS_VENV, AISBF_HARNESS_UP_TIMEOUT (s, default 120),
AISBF_HARNESS_SKIP_WORKAROUNDS (passed to every node, see launch_node.py),
AISBF_HARNESS_MYSQL_HOST/PORT/USER/PASSWORD (admin login, default 127.0.0.1:3306 root ""),
AISBF_HARNESS_REDIS_HOST/PORT (default 127.0.0.1:6379).
"""
import argparse
import hashlib
import http.client
import http.server
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
AISBF_VERSION = "0.99.92"
REQUIREMENTS = HERE / "requirements.txt"
LAUNCHER = HERE / "launch_node.py"
DBTOOL = HERE / "dbtool.py"
MARKER = ".aisbf-harness-complete"

FAULTS = {
    "none": "healthy cluster",
    "node-stopped": "node 2 is never started; its URL is still listed (its port is held closed)",
    "node-sqlite": "node 2's aisbf.json says sqlite (its own file); the others use the shared MySQL",
    "node-other-mysql": "node 2 uses another MariaDB database (created/dropped by the harness too)",
    "node-other-redis-prefix": "node 2's cache and response-cache prefixes differ from the cluster's",
    "route-provider-gone": "routes.smoke also lists a route whose provider's URL is a closed port",
    "balancer-dead-member": "a round-robin balancer over the nodes plus one dead address",
    "node-version-drift": "node 2 reports another AISBF version (0.99.91) on /api/version",
    "node-global-config-drift": "node 2's providers.json has an extra global provider",
    "node-mysql-pool-defect": "node 2's aisbf.json says the shared MySQL, but it runs without the _mysql_pool "
                              "workaround: it silently serves from its own ~/.aisbf/aisbf.db",
    "node-own-session-key": "node 2 has its own session_secret.key; the others share one (dashboard "
                            "sessions break behind a balancer)",
}
NODE2_FAULTS = {"node-stopped", "node-sqlite", "node-other-mysql", "node-other-redis-prefix",
                "node-version-drift", "node-global-config-drift", "node-mysql-pool-defect",
                "node-own-session-key"}

UPSTREAM_MODEL = "stub-model"
OK_PROVIDER = "stub-ok"
GONE_PROVIDER = "stub-gone"
OK_ROTATION = "stub-rot"
GLOBAL_PROVIDER = "harness-upstream"
EXTRA_GLOBAL_PROVIDER = "harness-extra"


def log(msg):
    print(f"[aisbf-cluster] {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    log(f"ERROR: {msg}")
    sys.exit(code)


# --------------------------------------------------------------------------- venv

def venv_dir():
    return Path(os.environ.get("AISBF_HARNESS_VENV")
                or Path.home() / ".cache" / "aisbf-doctor" / f"aisbf-venv-{AISBF_VERSION}")


def venv_python(v=None):
    return (v or venv_dir()) / "bin" / "python"


def requirements_sha():
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_complete(v):
    try:
        m = json.loads((v / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (m.get("aisbf") == AISBF_VERSION and m.get("requirements_sha256") == requirements_sha()
            and venv_python(v).exists())


def cmd_install(_args=None):
    v = venv_dir()
    if venv_complete(v):
        log(f"venv ready (cached): {v}")
        print(v)
        return 0
    v.parent.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(str(v) + ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)   # parallel installs wait for the first one
        if venv_complete(v):
            log(f"venv ready (installed by a concurrent run): {v}")
            print(v)
            return 0
        t0 = time.time()
        if v.exists():
            log(f"removing incomplete venv {v}")
            shutil.rmtree(v)
        log(f"creating venv {v} with {sys.executable}")
        subprocess.run([sys.executable, "-m", "venv", str(v)], check=True)
        pip = [str(venv_python(v)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
        log("installing pinned runtime deps (requirements.txt)")
        subprocess.run(pip + ["-r", str(REQUIREMENTS)], check=True)
        log(f"installing aisbf=={AISBF_VERSION} --no-deps")
        subprocess.run(pip + ["--no-deps", f"aisbf=={AISBF_VERSION}"], check=True)
        # sanity: the server's share folder is there and the light imports work
        share = find_share(v)
        subprocess.run([str(venv_python(v)), "-c", "import fastapi, uvicorn, mysql.connector, redis, tiktoken"],
                       check=True)
        (v / MARKER).write_text(json.dumps({
            "aisbf": AISBF_VERSION, "requirements_sha256": requirements_sha(),
            "python": sys.version.split()[0], "share": str(share), "installed_at": time.time(),
            "seconds": round(time.time() - t0, 1)}) + "\n")
        log(f"venv complete in {time.time() - t0:.1f}s: {v}")
    print(v)
    return 0


def find_share(v=None):
    hits = sorted((v or venv_dir()).glob("lib/python*/site-packages/aisbf/_share/main.py"))
    if not hits:
        die(f"aisbf _share/main.py not found in {v or venv_dir()}")
    return hits[0].parent


# --------------------------------------------------------------------------- helpers

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=2.0):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # noqa: BLE001 - connection refused, timeout...
        return None, str(e).encode()


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    return "\n".join(lines[-n:])


def write_json(path, data):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def spawn(argv, out_path, env, cwd=None):
    """Start a detached process in its own session (pgid == pid)."""
    out = open(out_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         cwd=cwd, env=env, start_new_session=True, close_fds=True)
    out.close()
    return p


def run_dbtool(state_dir, cmd, spec):
    py = venv_python()
    if not py.exists():
        raise RuntimeError(f"venv python missing: {py}")
    r = subprocess.run([str(py), str(DBTOOL), cmd], input=json.dumps(spec).encode(),
                       capture_output=True, env=dict(os.environ), timeout=120)
    err = r.stderr.decode(errors="replace")
    if state_dir:
        with open(Path(state_dir) / "dbtool.log", "a") as f:
            f.write(f"--- dbtool {cmd} rc={r.returncode}\n{err}\n")
    if r.returncode != 0:
        raise RuntimeError(f"dbtool {cmd} failed (rc={r.returncode}):\n{err[-3000:]}")
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


# ------------------------------------------------------------------ minimal Redis client

class Redis:
    def __init__(self, host=None, port=None):
        self.sock = socket.create_connection(
            (host or os.environ.get("AISBF_HARNESS_REDIS_HOST", "127.0.0.1"),
             int(port or os.environ.get("AISBF_HARNESS_REDIS_PORT", "6379"))), timeout=10)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad redis reply {line!r}")

    def unlink_prefix(self, prefix):
        if not prefix or any(c in prefix for c in "*?[]\\") or len(prefix) < 8:
            raise ValueError(f"refusing to delete under unsafe prefix {prefix!r}")
        cursor, n = b"0", 0
        while True:
            cursor, keys = self.cmd("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 500)
            keys = [k for k in keys if k.startswith(prefix.encode())]
            if keys:
                n += self.cmd("UNLINK", *keys)
            if cursor in (b"0", "0"):
                return n

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------- upstream stub (internal)

def cmd_upstream(args):
    """OpenAI-compatible stub: GET /v1/models, POST /v1/chat/completions.
    Also binds `--hold N` sockets on free ports without listening: connections to them are
    refused for as long as this process lives (dead addresses nobody else can take)."""
    held = []
    for _ in range(args.hold):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        held.append(s)
    stats = {"requests": 0, "chat": 0, "models": {}}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stdout.write("%s %s\n" % (self.log_date_time_string(), fmt % a))
            sys.stdout.flush()

        def _send(self, code, obj, ctype="application/json"):
            body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with lock:
                stats["requests"] += 1
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [
                    {"id": UPSTREAM_MODEL, "object": "model", "created": 1700000000, "owned_by": "harness"}]})
            elif self.path.startswith("/_harness/stats"):
                with lock:
                    self._send(200, stats)
            else:
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b"{}"
            with lock:
                stats["requests"] += 1
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            try:
                req = json.loads(raw or b"{}")
            except ValueError:
                return self._send(400, {"error": {"message": "invalid json", "type": "invalid_request_error"}})
            model = req.get("model") or UPSTREAM_MODEL
            with lock:
                stats["chat"] += 1
                stats["models"][model] = stats["models"].get(model, 0) + 1
            cid = "chatcmpl-harness-" + uuid.uuid4().hex[:16]
            text = "pong from the aisbf-harness upstream"
            if req.get("stream"):
                chunks = [
                    {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
                    {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                ]
                body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
                return self._send(200, body, "text/event-stream")
            self._send(200, {
                "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_harness",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10}})

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    info = {"port": srv.server_address[1], "held_ports": [s.getsockname()[1] for s in held], "pid": os.getpid()}
    write_json(args.port_file, info)
    print(f"upstream stub on 127.0.0.1:{info['port']}, holding closed ports {info['held_ports']}", flush=True)
    srv.serve_forever()


# --------------------------------------------------------------- balancer (internal)

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
       "transfer-encoding", "upgrade", "content-length"}


def cmd_balancer(args):
    """Naive round-robin HTTP balancer: no health checks, no retries; a dead member
    answers 502 for its share of requests. X-Harness-Backend names the member used."""
    members = [m.rstrip("/") for m in args.member]
    rr = itertools.cycle(range(len(members)))
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stdout.write("%s %s\n" % (self.log_date_time_string(), fmt % a))
            sys.stdout.flush()

        def _proxy(self):
            with lock:
                member = members[next(rr)]
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            hostport = member.split("://", 1)[1]
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
            headers["Host"] = hostport
            xff = self.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = (xff + ", " if xff else "") + self.client_address[0]
            try:
                c = http.client.HTTPConnection(hostport, timeout=60)
                c.request(self.command, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                status, rh = r.status, r.getheaders()
                c.close()
            except OSError as e:
                data = json.dumps({"error": f"harness balancer: member {member} unreachable: {e}"}).encode()
                status, rh = 502, [("Content-Type", "application/json")]
            self.send_response(status)
            for k, v in rh:
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("X-Harness-Backend", member)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _proxy

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    write_json(args.port_file, {"port": srv.server_address[1], "pid": os.getpid(), "members": members})
    print(f"balancer on 127.0.0.1:{srv.server_address[1]} -> {members}", flush=True)
    srv.serve_forever()


def wait_port_file(path, proc, what, timeout=15):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start (see {path.parent})")


# --------------------------------------------------------------------------- up

def aisbf_json_for(base, *, port, global_token, database, cache_prefix, response_prefix):
    c = json.loads(json.dumps(base))
    c["server"] = dict(c.get("server") or {}, host="127.0.0.1", port=port, protocol="http")
    c["auth"] = {"enabled": True, "tokens": [global_token]}
    c["database"] = database
    redis_host = os.environ.get("AISBF_HARNESS_REDIS_HOST", "127.0.0.1")
    redis_port = int(os.environ.get("AISBF_HARNESS_REDIS_PORT", "6379"))
    c["cache"] = dict(c.get("cache") or {}, type="redis", redis_host=redis_host, redis_port=redis_port,
                      redis_db=0, redis_password=None, redis_key_prefix=cache_prefix)
    c["response_cache"] = dict(c.get("response_cache") or {}, enabled=True, backend="redis", ttl=600,
                               redis_host=redis_host, redis_port=redis_port, redis_db=0,
                               redis_password=None, redis_key_prefix=response_prefix)
    c.setdefault("client_rate_limiting", {})["enabled"] = False
    c.setdefault("tor", {})["enabled"] = False
    return c


def mysql_block(db, user, password):
    return {"type": "mysql",
            "mysql_host": os.environ.get("AISBF_HARNESS_MYSQL_HOST", "127.0.0.1"),
            "mysql_port": int(os.environ.get("AISBF_HARNESS_MYSQL_PORT", "3306")),
            "mysql_user": user, "mysql_password": password, "mysql_database": db}


def mysql_url(block):
    auth = block["mysql_user"] + (":" + block["mysql_password"] if block["mysql_password"] else "")
    return f"mysql://{auth}@{block['mysql_host']}:{block['mysql_port']}/{block['mysql_database']}"


def provider_cfg(pid, endpoint, name=None):
    return {"id": pid, "name": name or pid, "endpoint": endpoint, "type": "openai",
            "api_key_required": False, "api_key": "sk-aisbf-harness", "rate_limit": 0,
            "models": [{"name": UPSTREAM_MODEL, "context_length": 8192}]}


def toml_str(s):
    return json.dumps(s)   # a JSON string is a valid TOML basic string


def write_doctor_toml(path, st):
    L = ["# aisbf-doctor config for the harness cluster (generated by tests/aisbf-cluster/cluster.py).",
         f"# fault: {st['fault']}  -- secrets are ${{ENV}} references, values in state.json \"env\".",
         "[cluster]", 'name = "harness"', 'user = "alice"', 'token = "${AISBF_TOKEN}"',
         'global_token = "${AISBF_GLOBAL_TOKEN}"']
    if st.get("balancer"):
        L.append(f"balancer = {toml_str(st['balancer']['url'])}")
    L.append("timeout_ms = 5000")
    for n in st["nodes"]:
        L += ["", "[[cluster.nodes]]", f"name = {toml_str(n['name'])}", f"url = {toml_str(n['url'])}",
              f"aisbf_json = {toml_str(n['aisbf_json'])}"]
    L += ["", "[database]", 'url = "${AISBF_MYSQL_URL}"',
          "", "[cache]", f"url = {toml_str(st['redis']['url'])}", f"prefix = {toml_str(st['redis_prefix'])}",
          f"response_prefix = {toml_str(st['response_prefix'])}",
          "", "[[cache.other_environments]]", 'name = "staging"', f"prefix = {toml_str(st['staging_prefix'])}",
          "", "[routes]", "smoke = [" + ", ".join(toml_str(r) for r in st["routes"]["smoke"]) + "]",
          'prompt = "smoke"', "concurrency = 4", ""]
    Path(path).write_text("\n".join(L))


def cmd_up(args):
    t0 = time.time()
    sd = Path(args.state_dir).resolve()
    fault = args.fault
    if fault not in FAULTS:
        die(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}", 2)
    if fault in NODE2_FAULTS and args.nodes < 2:
        die(f"fault {fault} needs --nodes >= 2", 2)
    if args.nodes < 1:
        die("--nodes must be >= 1", 2)
    sd.mkdir(parents=True, exist_ok=True)
    state_path = sd / "state.json"
    if state_path.exists():
        old = json.loads(state_path.read_text())
        if old.get("status") != "down" and any(pid_is_ours(p, sd) for p in state_pids(old)):
            die(f"{sd} already has a running cluster; run `down --state-dir {sd}` first", 2)
        if old.get("status") != "down":
            log("previous state.json not marked down: cleaning it up first")
            do_down(sd, old)
        for sub in ("nodes", "upstream", "balancer"):
            shutil.rmtree(sd / sub, ignore_errors=True)
        for f in ("state.json", "doctor.toml", "dbtool.log"):
            (sd / f).unlink(missing_ok=True)

    try:  # fail clearly now rather than have every node silently fall back to per-node caches
        r = Redis()
        r.cmd("PING")
        r.close()
    except Exception as e:  # noqa: BLE001
        die(f"Redis not reachable ({e}); set AISBF_HARNESS_REDIS_HOST/PORT", 1)
    if not venv_complete(venv_dir()):
        log("venv not installed yet: running install")
        cmd_install()
    share = find_share()
    base_cfg = json.loads((share / "config" / "aisbf.json").read_text())
    autoselect_default = (share / "config" / "autoselect.json").read_text()

    rid = secrets.token_hex(4)
    db_name = f"aisbf_h_{rid}"
    prefix = f"aisbf:h{rid}:"
    response_prefix = f"aisbf:h{rid}:response:"
    staging_prefix = f"aisbf:h{rid}staging:"
    global_token = "aisbf-global-" + secrets.token_urlsafe(18)
    tokens = {"alice_both": "aisbf-alice-" + secrets.token_urlsafe(18),
              "alice_mcp": "aisbf-alice-mcp-" + secrets.token_urlsafe(18),
              "alice_api": "aisbf-alice-api-" + secrets.token_urlsafe(18),
              "bob": "aisbf-bob-" + secrets.token_urlsafe(18)}
    shared_db = mysql_block(db_name, db_name, secrets.token_urlsafe(12))
    dbs = [{"db": db_name, "user": db_name, "password": shared_db["mysql_password"], "role": "shared"}]
    other_db = None
    if fault == "node-other-mysql":
        other_db = mysql_block(db_name + "_b", db_name + "_b", secrets.token_urlsafe(12))
        dbs.append({"db": other_db["mysql_database"], "user": other_db["mysql_user"],
                    "password": other_db["mysql_password"], "role": "node-2"})
    prefixes = [prefix, staging_prefix]
    node2_prefix = node2_response_prefix = None
    if fault == "node-other-redis-prefix":
        node2_prefix = f"aisbf:h{rid}x:"
        node2_response_prefix = f"aisbf:h{rid}x:response:"
        prefixes.append(node2_prefix)

    env_base = dict(os.environ)
    env_base["AISBF_HARNESS_STATE_DIR"] = str(sd)
    env_base.pop("PYTHONPATH", None)
    env_base.pop("AISBF_CONFIG_DIR", None)
    env_base.pop("AISBF_DEBUG", None)

    st = {
        "status": "starting", "created_at": time.time(), "state_dir": str(sd), "fault": fault,
        "fault_description": FAULTS[fault], "aisbf_version": AISBF_VERSION, "venv": str(venv_dir()),
        "share_dir": str(share), "harness_id": rid,
        "nodes": [], "balancer": None, "upstream": None,
        "db": {"name": db_name, "user": db_name, "url": mysql_url(shared_db)},
        "databases": [{"db": d["db"], "user": d["user"], "role": d["role"]} for d in dbs],
        "redis": {"url": "redis://{}:{}/0".format(os.environ.get("AISBF_HARNESS_REDIS_HOST", "127.0.0.1"),
                                                   os.environ.get("AISBF_HARNESS_REDIS_PORT", "6379")),
                  "prefixes": prefixes},
        "redis_prefix": prefix, "response_prefix": response_prefix, "staging_prefix": staging_prefix,
        "env": {"AISBF_TOKEN": tokens["alice_both"], "AISBF_GLOBAL_TOKEN": global_token,
                "AISBF_MYSQL_URL": mysql_url(shared_db), "AISBF_MCP_TOKEN": tokens["alice_mcp"],
                "AISBF_API_TOKEN": tokens["alice_api"], "AISBF_BOB_TOKEN": tokens["bob"],
                "AISBF_MYSQL_ADMIN_URL": "mysql://{}@{}:{}/{}".format(
                    os.environ.get("AISBF_HARNESS_MYSQL_USER", "root"), shared_db["mysql_host"],
                    shared_db["mysql_port"], db_name)},
        "processes": [],
    }
    write_json(state_path, st)   # written early: `down` can clean up a half-started cluster

    def save():
        write_json(state_path, st)

    try:
        # 1. upstream stub (+ the closed ports it holds)
        up_dir = sd / "upstream"
        up_dir.mkdir(exist_ok=True)
        pf = up_dir / "port.json"
        p = spawn([sys.executable, str(Path(__file__).resolve()), "_upstream", "--port-file", str(pf), "--hold", "3"],
                  up_dir / "upstream.log", env_base)
        st["processes"].append({"role": "upstream", "pid": p.pid, "pgid": p.pid})
        save()
        info = wait_port_file(pf, p, "upstream stub")
        dead_provider_port, dead_member_port, dead_node_port = info["held_ports"]
        upstream_url = f"http://127.0.0.1:{info['port']}"
        st["upstream"] = {"url": upstream_url, "port": info["port"], "pid": p.pid,
                          "openai_base": upstream_url + "/v1", "model": UPSTREAM_MODEL,
                          "stats_url": upstream_url + "/_harness/stats",
                          "dead_ports": info["held_ports"],
                          "dead_provider_url": f"http://127.0.0.1:{dead_provider_port}/v1"}
        save()

        # 2. databases, users, tokens, user providers
        alice = {"username": "alice", "tokens": [
            {"token": tokens["alice_both"], "scope": "both", "description": "harness both"},
            {"token": tokens["alice_mcp"], "scope": "mcp", "description": "harness mcp"},
            {"token": tokens["alice_api"], "scope": "api", "description": "harness api"}],
            "providers": {OK_PROVIDER: provider_cfg(OK_PROVIDER, upstream_url + "/v1"),
                          GONE_PROVIDER: provider_cfg(GONE_PROVIDER, st["upstream"]["dead_provider_url"])},
            "rotations": {OK_ROTATION: {"model_name": OK_ROTATION, "notifyerrors": False,
                                        "providers": [{"provider_id": OK_PROVIDER,
                                                       "models": [{"name": UPSTREAM_MODEL, "weight": 1,
                                                                   "rate_limit": 0}]}]}}}
        bob = {"username": "bob", "tokens": [{"token": tokens["bob"], "scope": "both", "description": "harness"}]}
        res = run_dbtool(sd, "setup", {
            "create": [{"db": d["db"], "user": d["user"], "password": d["password"]} for d in dbs],
            "seed": [{"database": shared_db, "users": [alice, bob]}]})
        st["users"] = res["seeded"][0]["users"]
        save()

        # 3. node homes and configs; one dashboard session key for the cluster,
        # copied to every node as a correct deployment does
        session_key = secrets.token_urlsafe(32)
        ports = []
        for i in range(args.nodes):
            ports.append(dead_node_port if (fault == "node-stopped" and i == 1) else free_port())
        for i in range(args.nodes):
            name = f"aisbf-{i + 1}"
            nd = sd / "nodes" / name
            home = nd / "home"
            cfgdir = home / ".aisbf"
            cfgdir.mkdir(parents=True, exist_ok=True)
            database, cp, rp, db_role = shared_db, prefix, response_prefix, "shared-mysql"
            if i == 1 and fault == "node-sqlite":
                database, db_role = {"type": "sqlite", "sqlite_path": str(cfgdir / "aisbf.db")}, "own-sqlite"
            if i == 1 and fault == "node-other-mysql":
                database, db_role = other_db, "other-mysql"
            if i == 1 and fault == "node-other-redis-prefix":
                cp, rp = node2_prefix, node2_response_prefix
            if i == 1 and fault == "node-mysql-pool-defect":
                db_role = "shared-mysql-in-config-but-local-sqlite"
            cfg = aisbf_json_for(base_cfg, port=ports[i], global_token=global_token, database=database,
                                 cache_prefix=cp, response_prefix=rp)
            (cfgdir / "aisbf.json").write_text(json.dumps(cfg, indent=2) + "\n")
            key_file = cfgdir / "session_secret.key"
            key_file.write_text(secrets.token_urlsafe(32) if (i == 1 and fault == "node-own-session-key")
                                else session_key)
            key_file.chmod(0o600)
            providers = {GLOBAL_PROVIDER: provider_cfg(GLOBAL_PROVIDER, upstream_url + "/v1", "Harness upstream")}
            if i == 1 and fault == "node-global-config-drift":
                providers[EXTRA_GLOBAL_PROVIDER] = provider_cfg(EXTRA_GLOBAL_PROVIDER, upstream_url + "/v1",
                                                                "Only on node 2")
            (cfgdir / "providers.json").write_text(json.dumps({"providers": providers}, indent=2) + "\n")
            (cfgdir / "rotations.json").write_text(json.dumps({"notifyerrors": False, "rotations": {}}, indent=2) + "\n")
            (cfgdir / "autoselect.json").write_text(autoselect_default)
            st["nodes"].append({
                "name": name, "url": f"http://127.0.0.1:{ports[i]}", "port": ports[i], "pid": None, "pgid": None,
                "home": str(home), "aisbf_json": str(cfgdir / "aisbf.json"),
                "log_dir": str(home / ".local" / "var" / "log" / "aisbf"), "stdout": str(nd / "node.out"),
                "expected": "stopped" if (fault == "node-stopped" and i == 1) else "up",
                "database": db_role, "cache_prefix": cp, "response_prefix": rp,
                "version": "0.99.91" if (fault == "node-version-drift" and i == 1) else AISBF_VERSION,
                "skip_workarounds": ["mysql_pool"] if (fault == "node-mysql-pool-defect" and i == 1) else []})
        save()

        # 4. start the nodes, all at once
        for n in st["nodes"]:
            if n["expected"] != "up":
                continue
            env = dict(env_base, HOME=n["home"], PYTHONUNBUFFERED="1")
            if n["version"] != AISBF_VERSION:
                env["AISBF_HARNESS_FAKE_VERSION"] = n["version"]
            if n["skip_workarounds"]:
                env["AISBF_HARNESS_SKIP_WORKAROUNDS"] = ",".join(
                    [w for w in env.get("AISBF_HARNESS_SKIP_WORKAROUNDS", "").split(",") if w] + n["skip_workarounds"])
            p = spawn([str(venv_python()), str(LAUNCHER), "--port", str(n["port"])], n["stdout"], env, cwd=str(share))
            n["pid"] = n["pgid"] = p.pid
            n["_proc"] = p
            st["processes"].append({"role": n["name"], "pid": p.pid, "pgid": p.pid})
        write_json(state_path, strip_private(st))

        # 5. balancer
        if args.balancer or fault == "balancer-dead-member":
            bdir = sd / "balancer"
            bdir.mkdir(exist_ok=True)
            members = [n["url"] for n in st["nodes"]]
            dead = []
            if fault == "balancer-dead-member":
                dead = [f"http://127.0.0.1:{dead_member_port}"]
            bpf = bdir / "port.json"
            argv = [sys.executable, str(Path(__file__).resolve()), "_balancer", "--port-file", str(bpf)]
            for m in members + dead:
                argv += ["--member", m]
            p = spawn(argv, bdir / "balancer.log", env_base)
            st["processes"].append({"role": "balancer", "pid": p.pid, "pgid": p.pid})
            binfo = wait_port_file(bpf, p, "balancer")
            st["balancer"] = {"url": f"http://127.0.0.1:{binfo['port']}", "port": binfo["port"], "pid": p.pid,
                              "members": members + dead, "dead_members": dead}
        write_json(state_path, strip_private(st))

        # 6. wait for every node that should be up
        timeout = float(args.timeout or os.environ.get("AISBF_HARNESS_UP_TIMEOUT", "120"))
        wait_nodes(st, t0 + timeout, timeout)

        # 7. a quick sanity check of auth through the shared database (one GET per node)
        checks = {}
        for n in st["nodes"]:
            if n["expected"] != "up":
                continue
            code, body = http_get(n["url"] + "/api/u/alice/models",
                                  {"Authorization": "Bearer " + tokens["alice_both"]}, timeout=10)
            checks[n["name"]] = {"alice_models": code}
            if n["database"] == "shared-mysql" and code != 200:
                raise RuntimeError(f"{n['name']} answered {code} to alice's token on /api/u/alice/models "
                                   f"(expected 200): {body[:300]!r}\n--- {n['name']} aisbf.log tail:\n"
                                   + tail(Path(n["log_dir"]) / "aisbf.log", 30))
        st["checks"] = checks

        # 8. routes + doctor.toml
        ok_routes = [f"user-provider/{OK_PROVIDER}", f"user-rotation/{OK_ROTATION}"]
        gone = [f"user-provider/{GONE_PROVIDER}"]
        st["routes"] = {"ok": ok_routes, "provider_gone": gone,
                        "smoke": ok_routes + (gone if fault == "route-provider-gone" else []),
                        "malformed": ["autoselect:chat-default", "rotation:support-private-rotation"],
                        "global": [f"{GLOBAL_PROVIDER}/{UPSTREAM_MODEL}"]}
        st["status"] = "up"
        st["up_seconds"] = round(time.time() - t0, 2)
        write_json(state_path, strip_private(st))
        write_doctor_toml(sd / "doctor.toml", st)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001
        log(f"up failed: {e}")
        st["status"] = "failed"
        st["error"] = str(e)
        write_json(state_path, strip_private(st))
        log("cleaning up what was started (logs stay in the state dir)")
        do_down(sd, json.loads(state_path.read_text()))
        return 1

    log(f"cluster up in {st['up_seconds']}s (fault={fault}): " +
        ", ".join(f"{n['name']}={n['url']}{'' if n['expected'] == 'up' else ' (stopped)'}" for n in st["nodes"]) +
        (f", balancer={st['balancer']['url']}" if st["balancer"] else ""))
    print(str(sd / "state.json"))
    return 0


def strip_private(st):
    out = dict(st)
    out["nodes"] = [{k: v for k, v in n.items() if not k.startswith("_")} for n in st["nodes"]]
    return out


def wait_nodes(st, deadline, timeout):
    pending = [n for n in st["nodes"] if n["expected"] == "up"]
    while pending:
        still = []
        for n in pending:
            proc = n.get("_proc")
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{n['name']} exited with code {proc.returncode} before answering\n"
                                   + node_log_report(n))
            code, _ = http_get(n["url"] + "/", timeout=1.0)
            if code != 200:
                still.append(n)
        pending = still
        if not pending:
            return
        if time.time() > deadline:
            raise RuntimeError(f"nodes not answering GET / 200 after {timeout:.0f}s: "
                               + ", ".join(n["name"] for n in pending) + "\n"
                               + "\n".join(node_log_report(n) for n in pending))
        time.sleep(0.2)


def node_log_report(n):
    return (f"--- {n['name']} stdout ({n['stdout']}) tail:\n{tail(n['stdout'], 30)}\n"
            f"--- {n['name']} {n['log_dir']}/aisbf_error.log tail:\n{tail(Path(n['log_dir']) / 'aisbf_error.log', 15)}\n"
            f"--- {n['name']} aisbf_stderr.log tail:\n{tail(Path(n['log_dir']) / 'aisbf_stderr.log', 20)}")


# --------------------------------------------------------------------------- down

def state_pids(st):
    return [p["pid"] for p in st.get("processes", []) if p.get("pid")]


def pid_is_ours(pid, sd):
    """True only if pid is alive and was started by the harness for this state dir."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"AISBF_HARNESS_STATE_DIR={sd}".encode() in env


def do_down(sd, st):
    errors = []
    # 1. processes: only the process groups we created, only if they still carry our marker
    groups = []
    for p in st.get("processes", []):
        pid, pgid = p.get("pid"), p.get("pgid")
        if pid and pid_is_ours(pid, sd):
            groups.append((p.get("role"), pid, pgid or pid))
    for _role, pid, pgid in groups:
        try:
            if os.getpgid(pid) == pgid:
                os.killpg(pgid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    t_end = time.time() + 5
    while time.time() < t_end and any(pid_alive(pid) or group_alive(pgid) for _, pid, pgid in groups):
        time.sleep(0.1)
    for role, pid, pgid in groups:
        if pid_alive(pid) or group_alive(pgid):
            log(f"{role} (pid {pid}) still alive after SIGTERM: SIGKILL")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    # reap if we are the parent (failed `up` in this very process)
    for _role, pid, _ in groups:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    # 2. databases and their users
    drops = [{"db": d["db"], "user": d["user"]} for d in st.get("databases", [])
             if str(d.get("db", "")).startswith("aisbf_h_")]
    if drops:
        try:
            run_dbtool(sd, "drop", {"drop": drops})
        except Exception as e:  # noqa: BLE001
            if shutil.which("mysql"):
                sql = "".join(f"DROP DATABASE IF EXISTS `{d['db']}`; DROP USER IF EXISTS '{d['user']}'@'127.0.0.1'; "
                              f"DROP USER IF EXISTS '{d['user']}'@'localhost'; " for d in drops)
                r = subprocess.run(["mysql", "-h", os.environ.get("AISBF_HARNESS_MYSQL_HOST", "127.0.0.1"),
                                    "-P", os.environ.get("AISBF_HARNESS_MYSQL_PORT", "3306"),
                                    "-u", os.environ.get("AISBF_HARNESS_MYSQL_USER", "root"), "-e", sql],
                                   capture_output=True)
                if r.returncode != 0:
                    errors.append(f"drop databases: {e}; mysql cli: {r.stderr.decode()[-500:]}")
            else:
                errors.append(f"drop databases: {e}")
    # 3. Redis keys under our own prefixes only
    prefixes = [p for p in (st.get("redis") or {}).get("prefixes", []) if p.startswith("aisbf:h")]
    if prefixes:
        try:
            r = Redis()
            n = sum(r.unlink_prefix(p) for p in prefixes)
            r.close()
            log(f"unlinked {n} redis keys under {prefixes}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"redis cleanup: {e}")
    return errors


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def group_alive(pgid):
    """True if some non-zombie process is still in process group pgid."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def cmd_down(args):
    sd = Path(args.state_dir).resolve()
    sp = sd / "state.json"
    if not sp.exists():
        log(f"no {sp}: nothing to do")
        return 0
    st = json.loads(sp.read_text())
    t0 = time.time()
    errors = do_down(sd, st)
    st["status"] = "down" if not errors else "down-with-errors"
    st["down_errors"] = errors
    st["down_at"] = time.time()
    write_json(sp, st)
    for e in errors:
        log(f"ERROR: {e}")
    log(f"down in {time.time() - t0:.2f}s")
    return 1 if errors else 0


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description="Real AISBF 0.99.92 test cluster for aisbf-doctor")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="create the cached venv (idempotent)")
    u = sub.add_parser("up", help="start a cluster")
    u.add_argument("--state-dir", required=True)
    u.add_argument("--nodes", type=int, default=3)
    u.add_argument("--fault", default="none", help="one of: " + ", ".join(FAULTS))
    u.add_argument("--balancer", action="store_true", help="also start a healthy round-robin balancer")
    u.add_argument("--timeout", type=float, default=None, help="overall wait for the nodes (s)")
    d = sub.add_parser("down", help="stop a cluster and remove its DB/Redis data")
    d.add_argument("--state-dir", required=True)
    sub.add_parser("faults", help="list fault names")
    s = sub.add_parser("_upstream")
    s.add_argument("--port-file", required=True)
    s.add_argument("--hold", type=int, default=0)
    b = sub.add_parser("_balancer")
    b.add_argument("--port-file", required=True)
    b.add_argument("--member", action="append", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "install":
        return cmd_install(a)
    if a.cmd == "up":
        return cmd_up(a)
    if a.cmd == "down":
        return cmd_down(a)
    if a.cmd == "faults":
        for k, v in FAULTS.items():
            print(f"{k:26} {v}")
        return 0
    if a.cmd == "_upstream":
        return cmd_upstream(a)
    if a.cmd == "_balancer":
        return cmd_balancer(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
