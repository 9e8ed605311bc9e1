#!/usr/bin/env python3
"""A test Daytona server for the daytona plugin's tests (stdlib only, 127.0.0.1 only).

It implements the subset of the Daytona control plane and toolbox API the plugin uses, with the
shapes and status codes of ../../../shared/reference/daytona-api.md (v0.190.0):

  control plane  {base}/api/sandbox...            create, get, list (both shapes), start, stop,
                                                  delete, toolbox-proxy-url, /config
  toolbox        {base}/toolbox/<id>/...          work-dir, process/execute, sessions, files
  legacy toolbox {base}/api/toolbox/<id>/toolbox/...

Each sandbox has its own filesystem, like a container: a root directory under --root whose
/home/daytona is the work dir and /tmp its own, with the host's /usr and /etc read-only (bind
mounts in a private mount namespace, held by one small process per sandbox) and the host's /dev
and /proc. Commands run for real (/bin/sh) chrooted there, so an absolute path means the same
file to a command and to the file endpoints; the file endpoints resolve paths (and symlinks)
beneath that root, never outside it. /process/execute merges stdout and stderr into one pipe, as
the daemon does.

Test control (no auth): {base}/_admin/...
  POST /_admin/faults   {"rules": [{"method": "GET", "path": "regex", "times": 1,
                          "action": "status"|"drop"|"slow", "status": 503, "retry_after": "1",
                          "delay": 2.0, "body": "...", "after": false}]}   (appends rules; matched
                          in order). "after": true handles the request first (a sandbox is created,
                          a command runs) and then answers with the fault instead: "status" replaces
                          the answer, "drop" closes the connection without one, "slow" delays it.
  POST /_admin/config   {"ready_polls": 2, "create_outcome": "started"|"error"|"build_failed"|"stuck",
                          "error_reason": "...", "omit_toolbox_url": false,
                          "proxy_url_endpoint": true, "list_shape": "items"|"array",
                          "page_size": 100, "delete_conflicts": 0,
                          "ignore_labels": false,   (an old server that ignores ?labels=)
                          "toolbox_host": "127.0.0.1",   (the host name in toolboxProxyUrl)
                          "daemon_version": "0.190.0"}   (daemonVersion in the sandbox DTO)
  POST /_admin/sandbox/<id>/state {"state": "stopped"}
  POST /_admin/sandbox/<id>/activity {"ago_s": 86400}   (lastActivityAt that long ago; toolbox
                          calls set it to now, as Daytona's proxy does, unless they send
                          X-Daytona-Skip-Last-Activity-Update: true)
  GET  /_admin/state    {"sandboxes": [...], "requests": [{"method","path","status","bytes",
                          "host","auth"}], "auth_failures": n, "executions": n, "wrapped": n}
  POST /_admin/reset

Prints "PORT <n>" on stdout once listening (with --tls-cert also "ADMIN <m>": the admin
endpoints over plain HTTP).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.RLock()
STDOUT_MARK = b"\x01\x01\x01"
STDERR_MARK = b"\x02\x02\x02"


def now_iso(ago_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class State:
    def __init__(self, root, api_key):
        self.root = root
        self.api_key = api_key
        self.reset()

    def reset(self):
        for sb in getattr(self, "sandboxes", {}).values():
            destroy_sandbox(sb)
        self.sandboxes = {}
        self.rules = []
        self.requests = []
        self.auth_failures = 0
        self.executions = 0
        self.wrapped = 0  # /process/execute commands in the base64 wrapper for old daemons
        self.config = {
            "ready_polls": 1,
            "create_outcome": "started",
            "error_reason": "no available runners",
            "omit_toolbox_url": False,
            "proxy_url_endpoint": True,
            "list_shape": "items",
            "page_size": 100,
            "delete_conflicts": 0,
            "ignore_labels": False,
            "toolbox_host": "127.0.0.1",
            "daemon_version": "0.190.0",
        }


STATE = None


def sandbox_dto(sb, base, full=True):
    dto = {
        "id": sb["id"], "organizationId": "org-test", "name": sb["name"],
        "snapshot": sb["snapshot"], "user": "daytona", "labels": sb["labels"], "public": False,
        "target": sb["target"], "cpu": 1, "gpu": 0, "memory": 1, "disk": 3,
        "state": sb["state"], "desiredState": sb["desiredState"],
        "autoStopInterval": sb["autoStopInterval"], "autoArchiveInterval": 10080,
        "autoDeleteInterval": sb["autoDeleteInterval"], "createdAt": sb["createdAt"],
        "updatedAt": now_iso(), "lastActivityAt": sb["lastActivityAt"], "sandboxClass": "container", "daemonVersion": STATE.config["daemon_version"],
        "someFutureField": {"nested": [1, 2]},
    }
    if sb.get("errorReason"):
        dto["errorReason"] = sb["errorReason"]
    if full:
        dto["env"] = sb["env"]
        dto["networkBlockAll"] = False
    if not STATE.config["omit_toolbox_url"]:
        dto["toolboxProxyUrl"] = toolbox_base(base)
    return dto


def toolbox_base(base):
    return base.replace("127.0.0.1", STATE.config["toolbox_host"]) + "/toolbox"


def advance(sb):
    """One observation of a sandbox in a transitional state moves it along."""
    if sb["state"] in ("creating", "starting"):
        if sb["outcome"] == "stuck":
            return
        if sb["polls_left"] > 0:
            sb["polls_left"] -= 1
            return
        if sb["outcome"] in ("error", "build_failed"):
            sb["state"] = sb["outcome"]
            sb["errorReason"] = STATE.config["error_reason"]
        else:
            sb["state"] = "started"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-daytona/0.190.0"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- plumbing -------------------------------------------------------------------------
    scheme = "http"

    def base(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.server.server_address[1])

    def body(self):
        if hasattr(self, "_body"):
            return self._body
        n = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(n) if n else b""
        return self._body

    def json_body(self):
        try:
            return json.loads(self.body() or b"{}")
        except ValueError:
            return None

    def send(self, status, payload=None, ctype="application/json", headers=None):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = payload or b""
        after = getattr(self, "_after", None)
        self._after = None
        if after:
            # The request was handled; the answer is the fault's.
            action = after.get("action", "status")
            if action == "drop":
                return self.drop()
            if action == "slow":
                time.sleep(float(after.get("delay", 5)))
            else:
                return self.send_fault(after)
        # Recorded before answering: a client that reads the state right after its answer sees it.
        self.record(status, len(data))
        self.send_response(status)
        if data or ctype != "application/json":
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def record(self, status, size=0):
        if not self.path.startswith("/_admin/"):
            with LOCK:
                STATE.requests.append({
                    "method": self.command, "path": self.path, "status": status, "bytes": size,
                    "host": (self.headers.get("Host") or "").rsplit(":", 1)[0],
                    "auth": self.headers.get("Authorization") is not None})

    def drop(self):
        """Closes the connection without an answer (after reading the request)."""
        self.body()
        self.record(0)
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass

    def send_fault(self, rule):
        self.body()
        status = int(rule.get("status", 503))
        headers = {}
        if "retry_after" in rule:
            headers["Retry-After"] = str(rule["retry_after"])
        body = rule.get("body")
        if body is None:
            body = {"statusCode": status, "message": "injected fault %d" % status}
        self.send(status, body, headers=headers)

    def api_error(self, status, message, error=None):
        reasons = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
                   429: "Too Many Requests", 500: "Internal Server Error"}
        self.send(status, {"path": urlsplit(self.path).path, "timestamp": now_iso(),
                           "statusCode": status, "error": error or reasons.get(status, "Error"),
                           "message": message})

    def tb_error(self, status, message, code):
        self.send(status, {"statusCode": status, "message": message, "code": code,
                           "timestamp": now_iso(), "path": urlsplit(self.path).path,
                           "method": self.command})

    def apply_faults(self, path):
        """True when a fault answered the request; an "after" fault waits for the answer."""
        with LOCK:
            rule = None
            for r in STATE.rules:
                if r.get("times", 1) <= 0:
                    continue
                if r.get("method") and r["method"] != self.command:
                    continue
                if not re.search(r.get("path", ""), path):
                    continue
                r["times"] = r.get("times", 1) - 1
                rule = dict(r)
                break
        if not rule:
            return False
        if rule.get("after"):
            self._after = rule
            return False
        action = rule.get("action", "status")
        if action == "slow":
            time.sleep(float(rule.get("delay", 5)))
            return False  # then answer normally (the client may have given up)
        if action == "drop":
            self.drop()
            return True
        self.send_fault(rule)
        return True

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + STATE.api_key:
            return True
        with LOCK:
            STATE.auth_failures += 1
        return False

    # ---- dispatch -------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def dispatch(self):
        if hasattr(self, "_body"):
            del self._body  # the handler lives as long as the keep-alive connection
        self._after = None
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if path.startswith("/_admin/"):
                return self.admin(path, query)
            if self.apply_faults(path):
                return
            if path.startswith("/toolbox/"):
                m = re.match(r"^/toolbox/([^/]+)(/.*)?$", path)
                if not self.authorized():
                    self.body()
                    return self.tb_error(401, "unauthorized: authentication failed: invalid key",
                                         "UNAUTHORIZED")
                return self.toolbox(m.group(1), m.group(2) or "/", query)
            if path.startswith("/api/"):
                if not self.authorized():
                    self.body()
                    return self.api_error(401, "Unauthorized")
                m = re.match(r"^/api/toolbox/([^/]+)/toolbox(/.*)?$", path)
                if m:
                    return self.toolbox(m.group(1), m.group(2) or "/", query)
                return self.api(path[4:], query)
            self.body()
            self.send(404, {"statusCode": 404, "message": "not found"})
        except BrokenPipeError:
            pass

    # ---- admin ----------------------------------------------------------------------------
    def admin(self, path, query):
        body = self.json_body() or {}
        with LOCK:
            if path == "/_admin/faults":
                STATE.rules.extend(body.get("rules", []))
                return self.send(200, {"ok": True})
            if path == "/_admin/config":
                STATE.config.update(body)
                return self.send(200, STATE.config)
            if path == "/_admin/reset":
                STATE.reset()
                return self.send(200, {"ok": True})
            if path == "/_admin/state":
                sbs = [dict(sandbox_dto(sb, self.base()), rootDir=sb["root"])
                       for sb in STATE.sandboxes.values()]
                return self.send(200, {"sandboxes": sbs, "requests": STATE.requests,
                                       "auth_failures": STATE.auth_failures,
                                       "executions": STATE.executions,
                                       "wrapped": STATE.wrapped})
            m = re.match(r"^/_admin/sandbox/([^/]+)/activity$", path)
            if m and m.group(1) in STATE.sandboxes:
                sb = STATE.sandboxes[m.group(1)]
                sb["lastActivityAt"] = now_iso(float(body.get("ago_s", 0)))
                return self.send(200, sandbox_dto(sb, self.base()))
            m = re.match(r"^/_admin/sandbox/([^/]+)/state$", path)
            if m and m.group(1) in STATE.sandboxes:
                sb = STATE.sandboxes[m.group(1)]
                sb["state"] = body["state"]
                sb["desiredState"] = body.get("desiredState", body["state"])
                return self.send(200, sandbox_dto(sb, self.base()))
        self.send(404, {"message": "unknown admin path"})

    # ---- control plane --------------------------------------------------------------------
    def find(self, id_or_name):
        for sb in STATE.sandboxes.values():
            if sb["id"] == id_or_name or sb["name"] == id_or_name:
                return sb
        return None

    def api(self, path, query):
        method = self.command
        body = self.json_body() if method in ("POST", "PUT") else None
        with LOCK:
            if path == "/config" and method == "GET":
                return self.send(200, {"proxyToolboxUrl": toolbox_base(self.base()),
                                       "defaultSnapshot": "daytonaio/sandbox:0.190.0"})
            if path == "/sandbox" and method == "POST":
                if body is None:
                    return self.api_error(400, "invalid JSON")
                name = body.get("name")
                if name and self.find(name):
                    return self.api_error(409, "Sandbox with name %s already exists" % name)
                sid = str(uuid.uuid4())
                d = os.path.join(STATE.root, sid)
                sb = {
                    "id": sid, "name": name or sid, "snapshot": body.get("snapshot") or "default",
                    "labels": body.get("labels") or {}, "env": body.get("env") or {},
                    "target": body.get("target") or "us", "state": "creating",
                    "desiredState": "started", "outcome": STATE.config["create_outcome"],
                    "polls_left": int(STATE.config["ready_polls"]),
                    "autoStopInterval": body.get("autoStopInterval", 15),
                    "autoDeleteInterval": body.get("autoDeleteInterval", -1),
                    "createdAt": now_iso(), "lastActivityAt": now_iso(),
                    "dir": d, "root": os.path.join(d, "fs"),
                    "workdir": WORKDIR, "sessions": {},
                }
                make_root(sb)
                advance(sb) if sb["polls_left"] == 0 else None
                STATE.sandboxes[sid] = sb
                return self.send(200, sandbox_dto(sb, self.base()))
            if path == "/sandbox" and method == "GET":
                want = {}
                if query.get("labels") and not STATE.config["ignore_labels"]:
                    try:
                        want = json.loads(query["labels"])
                    except ValueError:
                        return self.api_error(400, "labels must be a JSON object")
                items = [sb for sb in STATE.sandboxes.values()
                         if all(sb["labels"].get(k) == v for k, v in want.items())]
                items.sort(key=lambda s: (s["createdAt"], s["id"]))
                if STATE.config["list_shape"] == "array":
                    return self.send(200, [sandbox_dto(sb, self.base()) for sb in items])
                size = int(STATE.config["page_size"])
                start = int(query.get("cursor") or 0)
                page = items[start:start + size]
                nxt = str(start + size) if start + size < len(items) else None
                return self.send(200, {"items": [sandbox_dto(sb, self.base(), False)
                                                 for sb in page], "nextCursor": nxt})
            m = re.match(r"^/sandbox/([^/]+)(/[a-z-]+)?$", path)
            if not m:
                return self.api_error(404, "Cannot %s /api%s" % (method, path))
            sb = self.find(unquote(m.group(1)))
            action = m.group(2) or ""
            if sb is None:
                return self.api_error(404, "Sandbox with ID or name %s not found" % m.group(1))
            if action == "" and method == "GET":
                advance(sb)
                return self.send(200, sandbox_dto(sb, self.base()))
            if action == "" and method == "DELETE":
                # As Daytona: no delete while a state change is under way (creating, starting...).
                if sb["state"] in ("creating", "starting", "stopping", "restoring") or \
                        STATE.config["delete_conflicts"] > 0:
                    if STATE.config["delete_conflicts"] > 0:
                        STATE.config["delete_conflicts"] -= 1
                    return self.api_error(409, "Sandbox state change in progress")
                del STATE.sandboxes[sb["id"]]
                destroy_sandbox(sb)
                sb["state"] = "destroying"
                sb["desiredState"] = "destroyed"
                return self.send(200, sandbox_dto(sb, self.base()))
            if action == "/start" and method == "POST":
                if sb["state"] in ("error", "build_failed"):
                    return self.api_error(400, "Sandbox is in an errored state")
                if sb["state"] in ("stopped", "archived"):
                    sb["state"] = "starting"
                    sb["outcome"] = "started"
                    sb["polls_left"] = int(STATE.config["ready_polls"])
                return self.send(200, sandbox_dto(sb, self.base()))
            if action == "/stop" and method == "POST":
                if sb["state"] != "started":
                    return self.api_error(400, "Sandbox is not in a stoppable state")
                sb["state"] = "stopped"
                return self.send(200, sandbox_dto(sb, self.base()))
            if action == "/toolbox-proxy-url" and method == "GET":
                if not STATE.config["proxy_url_endpoint"]:
                    return self.api_error(404, "Cannot GET /api%s" % path)
                return self.send(200, {"url": toolbox_base(self.base())})
            if action.startswith("/autostop") or action == "/last-activity":
                return self.send(201, sandbox_dto(sb, self.base()))
        return self.api_error(404, "Cannot %s /api%s" % (method, path))

    # ---- toolbox --------------------------------------------------------------------------
    def toolbox(self, sid, path, query):
        with LOCK:
            sb = STATE.sandboxes.get(sid)
            if sb is None:
                self.body()
                return self.tb_error(404, "not found: sandbox container not found", "NOT_FOUND")
            if sb["state"] != "started":
                self.body()
                return self.tb_error(400, "bad request: failed to resolve container IP after 3 "
                                     "attempts: no IP address found. Is the Sandbox started?",
                                     "BAD_REQUEST")
            # As Daytona's proxy: a toolbox call is activity (resets the auto-stop timer).
            if self.headers.get("X-Daytona-Skip-Last-Activity-Update") != "true":
                sb["lastActivityAt"] = now_iso()
        method = self.command
        try:
            return self.toolbox_call(sb, path, query, method)
        except PermissionError:
            self.body()
            return self.send(403)
        except OSError:
            self.body()
            return self.send(400)

    def toolbox_call(self, sb, path, query, method):
        def p(name="path", follow=True):
            """(host path, writable) of a path argument, or (None, False) when absent."""
            v = query.get(name)
            if v is None or v == "":
                return None, False
            return resolve(sb, v, follow)

        if path in ("/work-dir", "/user-home-dir", "/project-dir") and method == "GET":
            return self.send(200, {"dir": sb["workdir"]})
        if path == "/version":
            return self.send(200, {"version": "0.190.0"})
        if path == "/process/execute" and method == "POST":
            return self.process_execute(sb)
        if path.startswith("/process/session"):
            return self.sessions(sb, path[len("/process/session"):], method)
        if path in ("/files", "/files/") and method == "GET":
            d, _ = p()
            if d is None:
                d, _ = resolve(sb, sb["workdir"])
            if not os.path.exists(d):
                return self.send(404)
            if not os.path.isdir(d):
                return self.send(400)
            return self.send(200, [file_info(os.path.join(d, n)) for n in os.listdir(d)])
        if path == "/files/info" and method == "GET":
            f, _ = p()
            if f is None:
                return self.send(400)
            if not os.path.lexists(f):
                return self.send(404)
            return self.send(200, file_info(f))
        if path in ("/files", "/files/") and method == "DELETE":
            f, w = p(follow=False)
            if f is None or not os.path.lexists(f):
                return self.send(404 if f else 400)
            if not w:
                return self.send(403)
            if os.path.isdir(f) and not os.path.islink(f):
                if query.get("recursive") != "true":
                    return self.tb_error(400, "bad request: cannot delete directory without "
                                         "recursive flag", "BAD_REQUEST")
                shutil.rmtree(f)
            else:
                os.unlink(f)
            return self.send(204)
        if path == "/files/folder" and method == "POST":
            f, w = p()
            if f is None:
                return self.send(400)
            if not w:
                return self.send(403)
            mode = int(query.get("mode") or "755", 8)
            try:
                os.makedirs(f, mode=mode, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                return self.send(400)
            return self.send(201)
        if path == "/files/download" and method == "GET":
            f, _ = p()
            if f is None or not os.path.exists(f):
                return self.send(404)
            if os.path.isdir(f):
                return self.send(400)
            with open(f, "rb") as fh:
                data = fh.read()
            return self.send(200, data, ctype="application/octet-stream",
                             headers={"Content-Disposition": "attachment; filename=%s"
                                      % os.path.basename(f)})
        if path == "/files/upload" and method == "POST":
            f, w = p()
            parts = parse_multipart(self.headers.get("Content-Type", ""), self.body())
            data = next((v for n, _, v in parts if n == "file"), None)
            if f is None or data is None:
                return self.send(400)
            if not w:
                return self.send(403)
            try:
                write_file(f, data)
            except OSError:
                return self.send(400)
            return self.send(200)
        if path == "/files/bulk-upload" and method == "POST":
            parts = parse_multipart(self.headers.get("Content-Type", ""), self.body())
            dests = {}
            files, errors = [], []
            for name, _fname, value in parts:
                m = re.match(r"^files\[(\d+)\]\.(path|file)$", name)
                if not m:
                    continue
                if m.group(2) == "path":
                    dests[m.group(1)] = value.decode()
                    continue
                dest = dests.get(m.group(1))
                if dest is None:
                    errors.append("files[%s].file: missing .path metadata" % m.group(1))
                    continue
                try:
                    host, w = resolve(sb, dest)
                    if not w:
                        raise PermissionError(13, "read-only file system")
                    write_file(host, value)
                    files.append({"path": dest, "bytes": len(value)})
                except OSError as e:
                    errors.append("%s: %s" % (dest, e.strerror))
            if errors:
                return self.send(400, {"errors": errors, "files": files})
            return self.send(200, {"files": files})
        if path == "/files/permissions" and method == "POST":
            f, w = p()
            if f is None or not os.path.exists(f):
                return self.send(404)
            if not w:
                return self.send(403)
            if query.get("mode"):
                os.chmod(f, int(query["mode"], 8))
            return self.send(200)
        if path == "/files/find" and method == "GET":
            (root, _), pattern = p(), query.get("pattern")
            if root is None or pattern is None:
                return self.send(400)
            out = []
            for f in walk_files(root):
                try:
                    with open(f, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                if b"\0" in data[:8000]:
                    continue
                for i, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
                    if pattern in line:
                        out.append({"file": virtual(sb, f), "line": i, "content": line})
            return self.send(200, out)
        if path == "/files/search" and method == "GET":
            import fnmatch
            (root, _), pattern = p(), query.get("pattern")
            if root is None or pattern is None:
                return self.send(400)
            out = []
            # As filepath.Walk: the root itself too, symlinks not followed.
            if fnmatch.fnmatchcase(os.path.basename(root.rstrip("/")), pattern):
                out.append(virtual(sb, root))
            for dirpath, dirnames, filenames in os.walk(root):
                for n in dirnames + filenames:
                    if fnmatch.fnmatchcase(n, pattern):
                        out.append(virtual(sb, os.path.join(dirpath, n)))
            return self.send(200, {"files": out})
        self.body()
        return self.send(404)

    def process_execute(self, sb):
        req = self.json_body()
        if not req or not str(req.get("command", "")).strip():
            return self.tb_error(400, "bad request: command cannot be empty or whitespace-only",
                                 "BAD_REQUEST")
        env = cmd_env(sb)
        for k, v in (req.get("envs") or {}).items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                return self.tb_error(400, "bad request: invalid environment variable name: '%s'"
                                     % k, "BAD_REQUEST")
            env[k] = v
        timeout = req.get("timeout") or None
        with LOCK:
            STATE.executions += 1
            if req["command"].startswith("sh -c \"echo '"):
                STATE.wrapped += 1
        # The daemon: $SHELL with the command on stdin, stdout and stderr into one buffer.
        proc = subprocess.Popen(in_sandbox(sb, req.get("cwd") or sb["workdir"]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            out, _ = proc.communicate(req["command"].encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return self.tb_error(408, "request timeout: command execution timeout",
                                 "REQUEST_TIMEOUT")
        return self.send(200, {"exitCode": proc.returncode,
                               "result": out.decode("utf-8", "replace")})

    def sessions(self, sb, rest, method):
        sessions = sb["sessions"]
        if rest == "" and method == "POST":
            req = self.json_body() or {}
            sid = req.get("sessionId")
            if not sid:
                return self.tb_error(400, "bad request: sessionId required", "INVALID_REQUEST_BODY")
            with LOCK:
                if sid in sessions:
                    return self.tb_error(409, "conflict: session already exists", "CONFLICT")
                sessions[sid] = {}
            return self.send(201)
        m = re.match(r"^/([^/]+)(/exec|/command/([^/]+)(/logs)?)?$", rest)
        if not m:
            return self.send(404)
        sid = unquote(m.group(1))
        sess = sessions.get(sid)
        if m.group(2) is None and method == "DELETE":
            if sess is None:
                return self.tb_error(404, "not found: session not found", "NOT_FOUND")
            for cmd in sess.values():
                kill_cmd(cmd)
            with LOCK:
                sessions.pop(sid, None)
            return self.send(204)
        if m.group(2) == "/exec" and method == "POST":
            req = self.json_body() or {}
            if sess is None:
                return self.send(500, {"statusCode": 500, "message": "failed to execute command: "
                                       "not found: session not found"})
            if not str(req.get("command", "")).strip():
                return self.send(400)
            cid = str(uuid.uuid4())
            cmd = start_cmd(sb, req["command"])
            cmd["id"] = cid
            sess[cid] = cmd
            if req.get("runAsync") or req.get("async"):
                return self.send(202, {"cmdId": cid, "output": None, "stdout": None,
                                       "stderr": None, "exitCode": None})
            cmd["done"].wait()
            return self.send(200, dict(self.logs_json(cmd), cmdId=cid, exitCode=cmd["exitCode"]))
        if m.group(3):
            cmd = (sess or {}).get(m.group(3))
            if cmd is None:
                return self.tb_error(404, "not found: command not found", "NOT_FOUND")
            if m.group(4):
                if self.new_sdk():
                    return self.send(200, self.logs_json(cmd))
                with cmd["lock"]:
                    raw = bytes(cmd["log"])
                return self.send(200, strip_markers(raw), ctype="text/plain; charset=utf-8")
            out = {"id": cmd["id"], "command": cmd["command"]}
            if cmd["exitCode"] is not None:
                out["exitCode"] = cmd["exitCode"]
            return self.send(200, out)
        return self.send(404)

    def new_sdk(self):
        v = self.headers.get("X-Daytona-SDK-Version", "")
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)", v)
        return bool(m) and tuple(map(int, m.groups())) >= (0, 167, 0)

    def logs_json(self, cmd):
        with cmd["lock"]:
            raw = bytes(cmd["log"])
        out, err = demux(raw)
        dec = lambda b: b.decode("utf-8", "replace")
        if self.new_sdk():
            return {"output": dec(raw), "stdout": dec(out), "stderr": dec(err)}
        return {"output": dec(strip_markers(raw)), "stdout": None, "stderr": None}


# ---- the sandbox's filesystem ----------------------------------------------------------------
WORKDIR = "/home/daytona"
# Top-level directories a command sees from the host (bind mounts); the file endpoints map them
# to the host's, read-only.
BINDS = ("usr", "etc", "dev", "proc")
READONLY_BINDS = ("usr", "etc")
AS_ROOT = os.geteuid() == 0


def make_root(sb):
    """The sandbox's root directory and the process holding its mount namespace."""
    root = sb["root"]
    os.makedirs(root + WORKDIR)
    os.makedirs(os.path.join(root, "tmp"))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    binds = list(BINDS)
    for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + d
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, d))
        elif os.path.isdir(host):
            binds.append(d)
    for d in binds:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    script = "set -e\n"
    for d in binds:
        script += 'mount --rbind /%s "$0/%s"\n' % (d, d)
        if d in READONLY_BINDS or d not in BINDS:
            script += 'mount -o remount,bind,ro "$0/%s"\n' % d
    script += 'echo ready\nexec chroot "$0" /bin/sleep 2147483647\n'
    # A private mount namespace: these mounts exist only for the sandbox's processes; on the host
    # the directories stay empty, so removing the root never reaches the host's files.
    argv = ["unshare", "--mount", "--propagation", "private"]
    if not AS_ROOT:
        argv += ["--user", "--map-root-user"]
    holder = subprocess.Popen(argv + ["/bin/sh", "-c", script, root], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = holder.stdout.readline()
    if line.strip() != b"ready":
        holder.kill()
        holder.wait()
        raise RuntimeError("cannot build the sandbox's filesystem (needs mount namespaces): " +
                           holder.stderr.read().decode(errors="replace"))
    sb["holder"] = holder


def destroy_sandbox(sb):
    for sess in sb["sessions"].values():
        for cmd in sess.values():
            kill_cmd(cmd)
    holder = sb.pop("holder", None)
    if holder:
        holder.kill()
        holder.wait()
    shutil.rmtree(sb["dir"], ignore_errors=True)


def in_sandbox(sb, cwd, command=None):
    """argv running /bin/sh in the sandbox's root with `cwd` as working directory: the command on
    stdin, or `command` as -c."""
    argv = ["nsenter", "-t", str(sb["holder"].pid), "--mount"]
    if not AS_ROOT:
        argv += ["--user", "--preserve-credentials"]
    shim = 'cd "$1" || exit 1; ' + ('exec /bin/sh -c "$2"' if command is not None else
                                    "exec /bin/sh")
    argv += ["--root", "--wd", "/bin/sh", "-c", shim, "sh", cwd]
    return argv + ([command] if command is not None else [])


def resolve(sb, path, follow=True):
    """(host path, writable) of a sandbox path, relative ones below the work dir, every symlink
    followed as the sandbox would (beneath its root), the last one only when `follow`."""
    if not path.startswith("/"):
        path = sb["workdir"] + "/" + path
    todo = [c for c in path.split("/") if c not in ("", ".")]
    done = []
    hops = 0
    while todo:
        c = todo.pop(0)
        if c == "..":
            if done:
                done.pop()
            continue
        host = host_path(sb, done + [c])
        if (todo or follow) and os.path.islink(host):
            hops += 1
            if hops > 40:
                raise OSError(40, "too many levels of symbolic links")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo = [x for x in target.split("/") if x not in ("", ".")] + todo
            continue
        done.append(c)
    return host_path(sb, done), not (done and done[0] in BINDS)


def host_path(sb, comps):
    if comps and comps[0] in BINDS:
        return os.path.join("/" + comps[0], *comps[1:])
    return os.path.join(sb["root"], *comps)


def virtual(sb, host):
    """The sandbox path of a host path under its root (or a bind)."""
    rel = os.path.relpath(host, sb["root"])
    if rel == ".":
        return "/"
    if not rel.startswith(".."):
        return "/" + rel
    return host


def write_file(host, data):
    os.makedirs(os.path.dirname(host), mode=0o755, exist_ok=True)
    with open(host, "wb") as fh:
        fh.write(data)


def cmd_env(sb):
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": WORKDIR, "LANG": "C.UTF-8", "USER": "daytona"}


def start_cmd(sb, command):
    with LOCK:
        STATE.executions += 1
    proc = subprocess.Popen(in_sandbox(sb, sb["workdir"], command), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cmd_env(sb))
    cmd = {"command": command, "proc": proc, "log": bytearray(), "lock": threading.Lock(),
           "exitCode": None, "done": threading.Event()}

    def pump(stream, mark):
        while True:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                break
            with cmd["lock"]:
                cmd["log"] += mark + chunk

    threads = [threading.Thread(target=pump, args=(proc.stdout, STDOUT_MARK), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, STDERR_MARK), daemon=True)]
    for t in threads:
        t.start()

    def reap():
        code = proc.wait()
        for t in threads:
            t.join(timeout=5)
        cmd["exitCode"] = code if code >= 0 else 128 - code
        cmd["done"].set()

    threading.Thread(target=reap, daemon=True).start()
    return cmd


def kill_cmd(cmd):
    # Like the real daemon: the session's own process goes; what it spawned is the client's problem.
    if cmd["exitCode"] is None:
        try:
            cmd["proc"].kill()
        except OSError:
            pass


def demux(raw):
    out, err, cur, i = bytearray(), bytearray(), None, 0
    while i < len(raw):
        if raw[i:i + 3] == STDOUT_MARK:
            cur, i = out, i + 3
            continue
        if raw[i:i + 3] == STDERR_MARK:
            cur, i = err, i + 3
            continue
        if cur is not None:
            cur.append(raw[i])
        i += 1
    return bytes(out), bytes(err)


def strip_markers(raw):
    return raw.replace(STDOUT_MARK, b"").replace(STDERR_MARK, b"")


def walk_files(root):
    if os.path.isfile(root):
        yield root
        return
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            yield os.path.join(dirpath, n)


def file_info(f):
    st = os.lstat(f)
    import stat as st_mod
    mt = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
    return {"name": os.path.basename(f), "size": st.st_size, "mode": st_mod.filemode(st.st_mode),
            "modTime": str(mt), "modifiedAt": mt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "isDir": os.path.isdir(f), "owner": str(st.st_uid), "group": str(st.st_gid),
            "permissions": "%04o" % (st.st_mode & 0o7777)}


def parse_multipart(ctype, body):
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        return []
    sep = b"--" + m.group(1).encode()
    parts = []
    for chunk in body.split(sep)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, value = chunk.partition(b"\r\n\r\n")
        if value.endswith(b"\r\n"):
            value = value[:-2]
        disp = re.search(rb'name="([^"]*)"(?:; filename="([^"]*)")?', head)
        if disp:
            parts.append((disp.group(1).decode(), (disp.group(2) or b"").decode(), value))
    return parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--root", default=None)
    ap.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM cert+key file")
    args = ap.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="fake-daytona-")
    global STATE
    STATE = State(root, args.api_key)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    scheme = "http"
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    Handler.scheme = scheme
    print("PORT %d" % srv.server_address[1], flush=True)
    if args.tls_cert:
        # The admin endpoints stay reachable over plain HTTP on a second port.
        admin = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        admin.daemon_threads = True
        threading.Thread(target=admin.serve_forever, daemon=True).start()
        print("ADMIN %d" % admin.server_address[1], flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        with LOCK:
            for sb in STATE.sandboxes.values():
                destroy_sandbox(sb)
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
