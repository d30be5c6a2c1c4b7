"""Start one real AISBF 0.99.92 node with the harness's start-up workarounds.

Run with the venv's python:  python launch_node.py --port P
Runs <site-packages>/aisbf/_share/main.py (cwd = that folder, like `python main.py`)
after monkeypatching, in this process only, the known 0.99.92 defects. Nothing in the
venv is modified on disk.

Environment knobs (all optional, set by cluster.py):
  AISBF_HARNESS_SKIP_WORKAROUNDS=a,b  leave these defects in place (to reproduce them):
      tiktoken, mysql_pool, tier, openai_logging, user_rotations, or "all"
  AISBF_HARNESS_FAKE_VERSION=X     report version X (fault node-version-drift)
  AISBF_HARNESS_REDIS_DOWN_AT_START=1  every Redis TCP connect is refused (ECONNREFUSED, as with
      a Redis that is down) until uvicorn has finished start-up, then works again (fault
      node-cache-fallback): aisbf.json stays identical to the other nodes'.
  AISBF_HARNESS_LATENCY_S=S        every HTTP request waits S seconds before the app sees it
      (ASGI wrapper around AISBF's app; fault node-latency)
  AISBF_HARNESS_CLOCK_SKEW_S=S     time.time() (and so the HTTP Date header and every `created`)
      runs S seconds ahead in this process (fault node-clock-skew); datetime.now() and the
      monotonic clocks asyncio uses are untouched
Logs: setup_logging() is made to use the non-root location $HOME/.local/var/log/aisbf
(HOME is the node's own home), instead of the shared /var/log/aisbf.
"""
import importlib.util
import logging
import os
import runpy
import sys


def _share_dir():
    spec = importlib.util.find_spec("aisbf")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("launch_node: aisbf is not installed in this interpreter")
    return os.path.join(list(spec.submodule_search_locations)[0], "_share")


class _FakeEncoding:
    """Stand-in for a tiktoken Encoding: ~4 characters a token, no download."""
    name = "harness-approx"

    def encode(self, text, *args, **kwargs):
        return list(range(max(1, (len(text) + 3) // 4))) if text else []

    def encode_ordinary(self, text, *args, **kwargs):
        return self.encode(text)

    def encode_batch(self, texts, *args, **kwargs):
        return [self.encode(t) for t in texts]

    def decode(self, tokens, *args, **kwargs):
        return ""


class _AttrDict(dict):
    """A user rotation row's config (a dict) that also answers attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


WORKAROUNDS = ("tiktoken", "mysql_pool", "tier", "openai_logging", "user_rotations")


def _apply_workarounds(notes, skip):
    # 1. tiktoken downloads its BPE files on first use (no internet here).
    if "tiktoken" not in skip:
        import tiktoken
        fake = _FakeEncoding()
        tiktoken.get_encoding = lambda name, *a, **k: fake
        tiktoken.encoding_for_model = lambda model, *a, **k: fake
        notes.append("tiktoken: offline approximate encoding")

    # 2. DatabaseManager.__init__ (replaced at the end of database.py) never sets
    #    _mysql_pool, so any MySQL config fails in _get_connection.
    import aisbf.database as dbm
    DM = dbm.DatabaseManager
    if "mysql_pool" not in skip and not hasattr(DM, "_mysql_pool"):
        DM._mysql_pool = None
        notes.append("DatabaseManager._mysql_pool = None")

    # 3. The tier middleware calls methods that 0.99.92 lacks.
    if "tier" not in skip and not hasattr(DM, "get_user_usage"):
        def get_user_usage(self, user_id):
            return {"requests_today": 0, "requests_month": 0}
        DM.get_user_usage = get_user_usage
        notes.append("DatabaseManager.get_user_usage")
    if "tier" not in skip and not hasattr(DM, "increment_user_request_count"):
        async def increment_user_request_count(self, user_id):
            return None
        DM.increment_user_request_count = increment_user_request_count
        notes.append("DatabaseManager.increment_user_request_count")

    # 4. providers/openai.py uses `logging` without importing it.
    import aisbf.providers.openai as popenai
    if "openai_logging" not in skip and not hasattr(popenai, "logging"):
        popenai.logging = logging
        notes.append("providers.openai.logging")

    # 5. User rotations: the configs are dicts but handle_rotation_request uses attributes
    #    ('dict' object has no attribute 'providers'), and user_providers is a list.
    if "user_rotations" in skip:
        return
    import aisbf.handlers as handlers
    RH = handlers.RotationHandler

    def _wrap(self):
        # RotationHandler keeps user_providers as the DB's list of rows, but every use in
        # handle_rotation_request indexes it like RequestHandler's {provider_id: config}.
        up = getattr(self, "user_providers", None)
        if self.user_id and isinstance(up, list):
            self.user_providers = {p["provider_id"]: p["config"] for p in up if isinstance(p, dict)}
        rot = getattr(self, "rotations", None)
        if self.user_id and isinstance(rot, dict):
            self.rotations = {k: (_AttrDict(v) if isinstance(v, dict) and not isinstance(v, _AttrDict) else v)
                              for k, v in rot.items()}

    orig_init, orig_reload = RH.__init__, RH.reload_user_configs

    def __init__(self, *a, **k):
        orig_init(self, *a, **k)
        _wrap(self)

    def reload_user_configs(self, *a, **k):
        r = orig_reload(self, *a, **k)
        _wrap(self)
        return r
    RH.__init__, RH.reload_user_configs = __init__, reload_user_configs
    notes.append("RotationHandler: user rotations get attribute access, user_providers a dict")


def _redirect_logs(notes):
    # setup_logging() picks /var/log/aisbf when euid == 0 (shared by every node on the
    # machine); make it take its non-root branch, $HOME/.local/var/log/aisbf.
    import aisbf.app.startup as startup
    orig = startup.setup_logging

    def setup_logging():
        real = os.geteuid
        os.geteuid = lambda: 65534
        try:
            return orig()
        finally:
            os.geteuid = real
    startup.setup_logging = setup_logging
    notes.append("logs -> $HOME/.local/var/log/aisbf")


def _redis_down_at_start(notes):
    # Redis refuses connections while the node starts (service not up yet, network not
    # ready, wrong start order), then comes back: AISBF decides its backends at start-up.
    import errno
    import redis.connection as rconn
    import uvicorn.server
    state = {"down": True, "refused": 0}
    orig_connect = rconn.Connection._connect

    def _connect(self):
        if state["down"]:
            state["refused"] += 1
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return orig_connect(self)
    rconn.Connection._connect = _connect
    orig_startup = uvicorn.server.Server.startup

    async def startup(self, *a, **k):
        try:
            return await orig_startup(self, *a, **k)
        finally:
            state["down"] = False
            print(f"launch_node: start-up done, Redis reachable again "
                  f"({state['refused']} connection(s) refused during start-up)", flush=True)
    uvicorn.server.Server.startup = startup
    notes.append("Redis connections refused until start-up is done")


def _latency(notes, seconds):
    import asyncio
    import uvicorn
    orig_run = uvicorn.run

    def run(app, *a, **k):
        async def slow_app(scope, receive, send):
            if scope.get("type") == "http":
                await asyncio.sleep(seconds)
            await app(scope, receive, send)
        return orig_run(slow_app, *a, **k)
    uvicorn.run = run
    notes.append(f"every HTTP request delayed {seconds}s")


def _clock_skew(notes, seconds):
    # Installed before AISBF and uvicorn are imported, so every `time.time()` call sees it
    # (the HTTP Date header, `created`, cooldown and rate-limit windows). datetime.now() reads
    # the C clock directly and stays right: swapping the datetime class breaks isinstance()
    # on the values the MySQL driver returns.
    import time as _time
    real_time, real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: real_time() + seconds
    _time.time_ns = lambda: real_time_ns() + int(seconds * 1e9)
    notes.append(f"clock {seconds:+g}s (time.time, time.time_ns; not datetime.now)")


def main():
    share = _share_dir()
    main_py = os.path.join(share, "main.py")
    os.chdir(share)
    sys.path.insert(0, share)   # as `python main.py` would: imports resolve to _share/aisbf
    notes = []
    skew = float(os.environ.get("AISBF_HARNESS_CLOCK_SKEW_S") or 0)
    if skew:
        _clock_skew(notes, skew)
    _redirect_logs(notes)
    skip = {w.strip() for w in os.environ.get("AISBF_HARNESS_SKIP_WORKAROUNDS", "").split(",") if w.strip()}
    if "all" in skip:
        skip = set(WORKAROUNDS)
    unknown = skip - set(WORKAROUNDS)
    if unknown:
        sys.exit(f"launch_node: unknown workaround name(s) {sorted(unknown)}; known: {WORKAROUNDS}")
    _apply_workarounds(notes, skip)
    if skip:
        notes.append(f"NOT patched: {sorted(skip)}")
    fake_version = os.environ.get("AISBF_HARNESS_FAKE_VERSION")
    if fake_version:
        import aisbf
        aisbf.__version__ = fake_version
        notes.append(f"version reported as {fake_version}")
    if os.environ.get("AISBF_HARNESS_REDIS_DOWN_AT_START") == "1":
        _redis_down_at_start(notes)
    latency = float(os.environ.get("AISBF_HARNESS_LATENCY_S") or 0)
    if latency > 0:
        _latency(notes, latency)
    print(f"launch_node: pid={os.getpid()} share={share} patches: {'; '.join(notes) or 'none'}", flush=True)
    sys.argv = [main_py] + sys.argv[1:]
    runpy.run_path(main_py, run_name="__main__")


if __name__ == "__main__":
    main()
