"""MariaDB/MySQL side of the AISBF test harness. Run with the harness venv's python.

  python dbtool.py setup < spec.json   create databases + users, then seed AISBF data
  python dbtool.py drop  < spec.json   drop the databases and users named in spec
  python dbtool.py list-dbs PREFIX     print the databases whose name starts with PREFIX

Admin connection: AISBF_HARNESS_MYSQL_HOST/PORT/USER/PASSWORD (127.0.0.1, 3306, root, "").

setup spec: {"create": [{"db", "user", "password"}],
             "seed": [{"database": <aisbf.json "database" block>,
                       "users": [{"username", "role", "password", "tokens": [{"token", "scope", "description"}],
                                  "providers": {id: cfg}, "rotations": {id: cfg}, "autoselects": {id: cfg},
                                  "delete_providers": [id], "delete_rotations": [id],
                                  "delete_autoselects": [id]}]}]}
            (an existing username is reused: seeding it again is how the harness makes a
            dashboard-style route change, through the same DatabaseManager save/delete calls)
drop spec:  {"drop": [{"db", "user"}]}

Each harness database gets its own MySQL user with rights on that database only. This is
not cosmetic: AISBF 0.99.92's MySQL migrations look tables up in
INFORMATION_SCHEMA.TABLES by TABLE_NAME without TABLE_SCHEMA, so a user that can see another
AISBF database skips creating tables in a new one (or fails with "Unread result found").

Seeding uses AISBF's own DatabaseManager (its schema, migrations and INSERTs). Only
aisbf/database.py is executed, not the package's heavy __init__ (about 1 s instead of ~7 s).
"""
import importlib.util
import json
import os
import re
import sys
import types

NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def admin_connect():
    import mysql.connector
    return mysql.connector.connect(
        host=os.environ.get("AISBF_HARNESS_MYSQL_HOST", "127.0.0.1"),
        port=int(os.environ.get("AISBF_HARNESS_MYSQL_PORT", "3306")),
        user=os.environ.get("AISBF_HARNESS_MYSQL_USER", "root"),
        password=os.environ.get("AISBF_HARNESS_MYSQL_PASSWORD", ""),
        autocommit=True,
    )


def _check(name):
    if not NAME_RE.match(name or ""):
        raise SystemExit(f"dbtool: refusing unsafe identifier {name!r}")
    return name


def load_database_module():
    spec = importlib.util.find_spec("aisbf")
    pkg_dir = list(spec.submodule_search_locations)[0]
    pkg = types.ModuleType("aisbf")
    pkg.__path__ = [pkg_dir]
    sys.modules["aisbf"] = pkg
    mspec = importlib.util.spec_from_file_location("aisbf.database", os.path.join(pkg_dir, "database.py"))
    mod = importlib.util.module_from_spec(mspec)
    sys.modules["aisbf.database"] = mod
    mspec.loader.exec_module(mod)
    pkg.database = mod
    # Same start-up defect the nodes are patched for: __init__ never sets _mysql_pool.
    if not hasattr(mod.DatabaseManager, "_mysql_pool"):
        mod.DatabaseManager._mysql_pool = None
    return mod


def seed(dbmod, item):
    db = dbmod.DatabaseManager(dict(item["database"]), database_type="config")
    out = {"db_type": db.db_type, "users": {}}
    for u in item.get("users", []):
        existing = db.get_user_by_username(u["username"])
        if existing:
            uid = existing["id"]
        else:
            uid = db.create_user(u["username"], dbmod._hash_password(u.get("password") or os.urandom(12).hex()),
                                 role=u.get("role", "user"), created_by="aisbf-harness", email=u.get("email"))
        token_ids = [db.create_user_api_token(uid, t["token"], t.get("description"), t.get("scope", "api"))
                     for t in u.get("tokens", [])]
        for pid, cfg in (u.get("providers") or {}).items():
            db.save_user_provider(uid, pid, cfg)
        for rid, cfg in (u.get("rotations") or {}).items():
            db.save_user_rotation(uid, rid, cfg)
        for aid, cfg in (u.get("autoselects") or {}).items():
            db.save_user_autoselect(uid, aid, cfg)
        for pid in u.get("delete_providers") or []:
            db.delete_user_provider(uid, pid)
        for rid in u.get("delete_rotations") or []:
            db.delete_user_rotation(uid, rid)
        for aid in u.get("delete_autoselects") or []:
            db.delete_user_autoselect(uid, aid)
        out["users"][u["username"]] = {"id": uid, "token_ids": token_ids}
    return out


def cmd_setup(spec):
    result = {"created": [], "seeded": []}
    if spec.get("create"):
        conn = admin_connect()
        cur = conn.cursor()
        for c in spec["create"]:
            db, user = _check(c["db"]), _check(c["user"])
            cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
            result["created"].append(db)
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", (c["password"],))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'{host}'")
        conn.close()
    if spec.get("seed"):
        dbmod = load_database_module()
        for item in spec["seed"]:
            result["seeded"].append(seed(dbmod, item))
    return result


def cmd_drop(spec):
    conn = admin_connect()
    cur = conn.cursor()
    done = []
    for d in spec.get("drop", []):
        if d.get("db"):
            cur.execute(f"DROP DATABASE IF EXISTS `{_check(d['db'])}`")
            done.append(d["db"])
        if d.get("user"):
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{_check(d['user'])}'@'{host}'")
    conn.close()
    return {"dropped": done}


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd = sys.argv[1]
    if cmd == "list-dbs":
        conn = admin_connect()
        cur = conn.cursor()
        cur.execute("SHOW DATABASES")
        prefix = sys.argv[2] if len(sys.argv) > 2 else ""
        res = {"databases": [r[0] for r in cur.fetchall() if r[0].startswith(prefix)]}
    elif cmd in ("setup", "drop"):
        spec = json.load(sys.stdin)
        res = cmd_setup(spec) if cmd == "setup" else cmd_drop(spec)
    else:
        raise SystemExit(f"dbtool: unknown command {cmd!r}")
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
