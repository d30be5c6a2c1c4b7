#!/usr/bin/env python3
"""Ask a running harness cluster the facts-file questions and print what the real nodes
answered, as a Markdown table with the tokens redacted (stdlib only).

  python3 tests/aisbf-cluster/observe.py --state-dir DIR [--node N] [--all-nodes | --cluster]

Every request goes to one node (default aisbf-1) unless --all-nodes or --cluster; chat requests
are kept to a handful (tier quota and rate limits count them).
--cluster: the cross-node questions the faults are about, on every node: auth-free /health,
alice's route lists, the same chat twice per node (same prompt, temperature 0: a shared response
cache gives every node the same `id`), dashboard cookies of nodes 1 and 2 on every node, the
routes a node-stale-routes change touched, and the time of GET /.
"""
import argparse
import json
import socket
import sys
import time
from pathlib import Path


def raw_request(port, method, path, headers=None, body=None, timeout=20):
    """Exact bytes on the wire (no header trimming by a client library)."""
    data = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    t0 = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return None, f"connect failed: {e.strerror or e}", {}, time.time() - t0
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        chunks.append(b)
    s.close()
    raw = b"".join(chunks)
    head, _, payload = raw.partition(b"\r\n\r\n")
    hl = head.decode(errors="replace").split("\r\n")
    status = int(hl[0].split()[1]) if hl and len(hl[0].split()) > 1 else None
    hdrs = {}
    for h in hl[1:]:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16) if size.strip() else 0
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        payload = out
    return status, payload.decode(errors="replace"), hdrs, time.time() - t0


def summarize(body, limit=150):
    try:
        j = json.loads(body)
    except ValueError:
        if body.lstrip()[:15].lower().startswith(("<!doctype", "<html", "<!--")):
            return f"HTML page ({len(body)} bytes)"
        return body.strip()[:limit]
    if isinstance(j, dict) and j.get("object") == "list" and isinstance(j.get("data"), list):
        return "list ids=" + json.dumps(sorted(f"{m.get('id')}({m.get('type')})" for m in j["data"]))
    if isinstance(j, dict) and j.get("object") == "chat.completion":
        return f"chat.completion id={j.get('id')} model={j.get('model')}"
    if (isinstance(j, dict) and len(j) == 1 and next(iter(j)) in ("providers", "rotations", "autoselects")
            and isinstance(next(iter(j.values())), dict)):
        k, v = next(iter(j.items()))
        return f"{k} keys=" + json.dumps(sorted(v))
    if isinstance(j, dict) and "tools" in j and isinstance(j["tools"], list):
        return f"{{\"tools\": [{len(j['tools'])} tools]}}"
    s = json.dumps(j, separators=(",", ":"))
    return s if len(s) <= limit else s[:limit] + "..."


def dashboard_cookie(node, env):
    from urllib.parse import urlencode
    if not env.get("AISBF_DASHBOARD_PASSWORD"):
        return None, "no AISBF_DASHBOARD_PASSWORD in state.json"
    body = urlencode({"username": env["AISBF_DASHBOARD_USER"], "password": env["AISBF_DASHBOARD_PASSWORD"]})
    s = socket.create_connection(("127.0.0.1", node["port"]), timeout=20)
    req = (f"POST /dashboard/login HTTP/1.1\r\nHost: 127.0.0.1:{node['port']}\r\nConnection: close\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    s.sendall(req.encode())
    raw = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        raw += b
    s.close()
    head = raw.partition(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "set-cookie" and v.strip().startswith("session="):
            return v.strip().split(";", 1)[0], head[0]
    return None, head[0] if head else "no answer"


def cluster_rows(st, env, nodes, ask, chat, rows, redact):
    up = [n for n in nodes if n.get("expected", "up") == "up"]
    ok = st["routes"]["ok"][0]
    for n in up:
        ask(n, "root", "GET", "/")
        ask(n, "health", "GET", "/health", "none")
        ask(n, "alice models", "GET", "/api/u/alice/models", "alice(both)")
        ask(n, "alice providers", "GET", "/api/u/alice/providers", "alice(both)")
        ask(n, "alice rotations", "GET", "/api/u/alice/rotations", "alice(both)")
    for attempt in ("1st", "2nd"):
        for n in up:
            ask(n, f"chat {ok} ({attempt})", "POST", "/api/u/alice/chat/completions", "alice(both)", chat(ok))
    rc = st.get("route_changes")
    if rc:
        for n in up:
            for p in rc["deleted"]["providers"]:
                ask(n, f"chat deleted user-provider/{p}", "POST", "/api/u/alice/chat/completions", "alice(both)",
                    chat(f"user-provider/{p}"))
            for r in rc["added"]["rotations"]:
                ask(n, f"chat added user-rotation/{r}", "POST", "/api/u/alice/chat/completions", "alice(both)",
                    chat(f"user-rotation/{r}"))
    for src in up[:2]:
        cookie, how = dashboard_cookie(src, env)
        if not cookie:
            rows.append((src["name"], "dashboard login", "POST", "/dashboard/login", "alice password", None, how, ""))
            continue
        for n in up:
            ask(n, f"GET /dashboard with {src['name']}'s cookie", "GET", "/dashboard", raw_auth=None,
                extra={"Cookie": cookie})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--node", default="aisbf-1")
    ap.add_argument("--all-nodes", action="store_true", help="only the token/auth rows, on every node")
    ap.add_argument("--cluster", action="store_true", help="cross-node rows (cache ids, cookies, routes)")
    a = ap.parse_args()
    st = json.loads((Path(a.state_dir) / "state.json").read_text())
    env = st["env"]
    toks = {"none": None, "alice(both)": env["AISBF_TOKEN"], "alice(api)": env["AISBF_API_TOKEN"],
            "alice(mcp)": env["AISBF_MCP_TOKEN"], "bob": env["AISBF_BOB_TOKEN"], "global": env["AISBF_GLOBAL_TOKEN"],
            "unknown": "aisbf-not-a-token"}
    secrets = {v: k for k, v in toks.items() if v}

    def redact(s):
        for v, k in secrets.items():
            s = s.replace(v, f"<{k}>")
        return s

    def hdr(tok, raw=None):
        if raw is not None:
            return {"Authorization": raw}
        return {"Authorization": f"Bearer {toks[tok]}"} if toks[tok] else {}

    def chat(model):
        return {"model": model, "messages": [{"role": "user", "content": "smoke"}], "temperature": 0}

    rows = []

    def ask(node, label, method, path, tok="none", body=None, raw_auth=None, extra=None):
        h = dict(hdr(tok, raw_auth), **(extra or {}))
        status, payload, hdrs, dt = raw_request(node["port"], method, path, h, body)
        if status in (301, 302, 303, 307) and hdrs.get("location"):
            payload = f"-> {hdrs['location']}"
        rows.append((node["name"], label, method, path, tok if raw_auth is None else label, status,
                     redact(summarize(payload)), f"{dt:.2f}"))

    nodes = st["nodes"] if (a.all_nodes or a.cluster) else [n for n in st["nodes"] if n["name"] == a.node]
    if a.cluster:
        cluster_rows(st, env, nodes, ask, chat, rows, redact)
        nodes = []
    for n in nodes:
        if a.all_nodes:
            ask(n, "root", "GET", "/")
            ask(n, "version", "GET", "/api/version", "global")
            ask(n, "alice models", "GET", "/api/u/alice/models", "alice(both)")
            continue
        ask(n, "root", "GET", "/")
        for t in ("none", "alice(both)", "global"):
            ask(n, "health", "GET", "/health", t)
        for t in ("none", "alice(both)", "global"):
            ask(n, "version", "GET", "/api/version", t)
        for t in ("none", "alice(both)", "alice(api)", "alice(mcp)", "bob", "global", "unknown"):
            ask(n, "alice models", "GET", "/api/u/alice/models", t)
        ask(n, "trailing space", "GET", "/api/u/alice/models", raw_auth=f"Bearer {env['AISBF_TOKEN']} ")
        ask(n, "two spaces after Bearer", "GET", "/api/u/alice/models", raw_auth=f"Bearer  {env['AISBF_TOKEN']}")
        ask(n, "v1 models", "GET", "/api/v1/models", "none")
        for t in ("none", "alice(both)", "global"):
            ask(n, "providers health", "GET", "/api/v1/providers/health", t)
        ask(n, "alice providers", "GET", "/api/u/alice/providers", "alice(both)")
        ask(n, "alice rotations", "GET", "/api/u/alice/rotations", "alice(both)")
        ask(n, "alice autoselects", "GET", "/api/u/alice/autoselects", "alice(both)")
        for t in ("alice(both)", "alice(mcp)", "alice(api)", "bob", "global", "none"):
            ask(n, "mcp root", "GET", "/mcp/u/alice/", t)
        for t in ("alice(mcp)", "alice(api)"):
            ask(n, "mcp tools", "GET", "/mcp/u/alice/tools", t)
        for r in st["routes"]["ok"] + st["routes"]["provider_gone"]:
            ask(n, f"chat {r}", "POST", "/api/u/alice/chat/completions", "alice(both)", chat(r))
        ask(n, "chat again (cache)", "POST", "/api/u/alice/chat/completions", "alice(both)", chat(st["routes"]["ok"][0]))
        for r in st["routes"]["malformed"]:
            ask(n, f"chat {r}", "POST", "/api/u/alice/chat/completions", "alice(both)", chat(r))
        ask(n, "chat user-provider/NAME/MODEL", "POST", "/api/u/alice/chat/completions", "alice(both)",
            chat(f"{st['routes']['ok'][0]}/stub-model"))
        ask(n, "chat unknown user provider", "POST", "/api/u/alice/chat/completions", "alice(both)",
            chat("user-provider/nope"))
        ask(n, "chat global provider/model", "POST", "/api/u/alice/chat/completions", "alice(both)",
            chat(st["routes"]["global"][0]))
        for t in ("bob", "global", "alice(mcp)", "none"):
            ask(n, "chat as other", "POST", "/api/u/alice/chat/completions", t, chat(st["routes"]["ok"][0]))

    print("| node | what | request | token | status | body (summary) | s |")
    print("|---|---|---|---|---|---|---|")
    for node, label, method, path, tok, status, body, dt in rows:
        body = body.replace("|", "\\|")
        print(f"| {node} | {label} | {method} {path} | {tok} | {status} | `{body}` | {dt} |")


if __name__ == "__main__":
    sys.exit(main())
