#!/usr/bin/env python3
"""A test Daytona server for the daytona plugin's tests (stdlib only, 127.0.0.1 only).

It implements the subset of the Daytona control plane and toolbox API the plugin uses, with the
shapes and status codes of ../../../shared/reference/daytona-api.md (v0.190.0):

  control plane  {base}/api/sandbox...            create, get, list (both shapes), start, stop,
                                                  delete, toolbox-proxy-url, /config
  toolbox        {base}/toolbox/<id>/...          work-dir, process/execute, sessions, files
  legacy toolbox {base}/api/toolbox/<id>/toolbox/...

Sandboxes live in memory; each has a real directory (its "filesystem") under --root, and commands
run for real (/bin/sh) with that directory's home/daytona as the work dir.

Test control (no auth): {base}/_admin/...
  POST /_admin/faults   {"rules": [{"method": "GET", "path": "regex", "times": 1,
                          "action": "status"|"drop"|"slow", "status": 503, "retry_after": "1",
                          "delay": 2.0, "body": "..."}]}   (appends rules; matched in order)
  POST /_admin/config   {"ready_polls": 2, "create_outcome": "started"|"error"|"build_failed"|"stuck",
                          "error_reason": "...", "omit_toolbox_url": false,
                          "proxy_url_endpoint": true, "list_shape": "items"|"array",
                          "page_size": 100, "delete_conflicts": 0,
                          "ignore_labels": false}   (an old server that ignores ?labels=)
  POST /_admin/sandbox/<id>/state {"state": "stopped"}
  GET  /_admin/state    {"sandboxes": [...], "requests": [{"method","path","status"}], "auth_failures": n}
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


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class State:
    def __init__(self, root, api_key):
        self.root = root
        self.api_key = api_key
        self.reset()

    def reset(self):
        self.sandboxes = {}
        self.rules = []
        self.requests = []
        self.auth_failures = 0
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
        "updatedAt": now_iso(), "sandboxClass": "container", "daemonVersion": "0.190.0",
        "someFutureField": {"nested": [1, 2]},
    }
    if sb.get("errorReason"):
        dto["errorReason"] = sb["errorReason"]
    if full:
        dto["env"] = sb["env"]
        dto["networkBlockAll"] = False
    if not STATE.config["omit_toolbox_url"]:
        dto["toolboxProxyUrl"] = base + "/toolbox"
    return dto


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
        # Recorded before answering: a client that reads the state right after its answer sees it.
        if not self.path.startswith("/_admin/"):
            with LOCK:
                STATE.requests.append({"method": self.command, "path": self.path,
                                       "status": status})
        self.send_response(status)
        if data or ctype != "application/json":
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

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
        action = rule.get("action", "status")
        if action == "slow":
            time.sleep(float(rule.get("delay", 5)))
            return False  # then answer normally (the client may have given up)
        if action == "drop":
            self.body()
            with LOCK:
                STATE.requests.append({"method": self.command, "path": self.path, "status": 0})
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return True
        self.body()
        status = int(rule.get("status", 503))
        headers = {}
        if "retry_after" in rule:
            headers["Retry-After"] = str(rule["retry_after"])
        body = rule.get("body")
        if body is None:
            body = {"statusCode": status, "message": "injected fault %d" % status}
        self.send(status, body, headers=headers)
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
                for sb in STATE.sandboxes.values():
                    shutil.rmtree(sb["dir"], ignore_errors=True)
                STATE.reset()
                return self.send(200, {"ok": True})
            if path == "/_admin/state":
                sbs = [dict(sandbox_dto(sb, self.base()), workDir=sb["workdir"])
                       for sb in STATE.sandboxes.values()]
                return self.send(200, {"sandboxes": sbs, "requests": STATE.requests,
                                       "auth_failures": STATE.auth_failures})
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
                return self.send(200, {"proxyToolboxUrl": self.base() + "/toolbox",
                                       "defaultSnapshot": "daytonaio/sandbox:0.190.0"})
            if path == "/sandbox" and method == "POST":
                if body is None:
                    return self.api_error(400, "invalid JSON")
                name = body.get("name")
                if name and self.find(name):
                    return self.api_error(409, "Sandbox with name %s already exists" % name)
                sid = str(uuid.uuid4())
                d = os.path.join(STATE.root, sid)
                work = os.path.join(d, "home", "daytona")
                os.makedirs(work)
                sb = {
                    "id": sid, "name": name or sid, "snapshot": body.get("snapshot") or "default",
                    "labels": body.get("labels") or {}, "env": body.get("env") or {},
                    "target": body.get("target") or "us", "state": "creating",
                    "desiredState": "started", "outcome": STATE.config["create_outcome"],
                    "polls_left": int(STATE.config["ready_polls"]),
                    "autoStopInterval": body.get("autoStopInterval", 15),
                    "autoDeleteInterval": body.get("autoDeleteInterval", -1),
                    "createdAt": now_iso(), "dir": d, "workdir": work, "sessions": {},
                }
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
                if STATE.config["delete_conflicts"] > 0:
                    STATE.config["delete_conflicts"] -= 1
                    return self.api_error(409, "Sandbox state change in progress")
                for sess in sb["sessions"].values():
                    for cmd in sess.values():
                        kill_cmd(cmd)
                del STATE.sandboxes[sb["id"]]
                shutil.rmtree(sb["dir"], ignore_errors=True)
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
                return self.send(200, {"url": self.base() + "/toolbox"})
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
        work = sb["workdir"]
        method = self.command

        def p(name="path", required=True):
            v = query.get(name)
            if v is None:
                return None
            return v if os.path.isabs(v) else os.path.join(work, v)

        if path in ("/work-dir", "/user-home-dir", "/project-dir") and method == "GET":
            return self.send(200, {"dir": work})
        if path == "/version":
            return self.send(200, {"version": "0.190.0"})
        if path == "/process/execute" and method == "POST":
            return self.process_execute(sb)
        if path.startswith("/process/session"):
            return self.sessions(sb, path[len("/process/session"):], method)
        if path in ("/files", "/files/") and method == "GET":
            d = p() or work
            if not os.path.exists(d):
                return self.send(404)
            if not os.path.isdir(d):
                return self.send(400)
            try:
                return self.send(200, [file_info(os.path.join(d, n)) for n in os.listdir(d)])
            except PermissionError:
                return self.send(403)
        if path == "/files/info" and method == "GET":
            f = p()
            if f is None:
                return self.send(400)
            if not os.path.lexists(f):
                return self.send(404)
            return self.send(200, file_info(f))
        if path in ("/files", "/files/") and method == "DELETE":
            f = p()
            if f is None or not os.path.lexists(f):
                return self.send(404 if f else 400)
            if os.path.isdir(f) and not os.path.islink(f):
                if query.get("recursive") != "true":
                    return self.tb_error(400, "bad request: cannot delete directory without "
                                         "recursive flag", "BAD_REQUEST")
                shutil.rmtree(f)
            else:
                os.unlink(f)
            return self.send(204)
        if path == "/files/folder" and method == "POST":
            f = p()
            mode = int(query.get("mode") or "755", 8)
            try:
                os.makedirs(f, mode=mode, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                return self.send(400)
            return self.send(201)
        if path == "/files/download" and method == "GET":
            f = p()
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
            f = p()
            parts = parse_multipart(self.headers.get("Content-Type", ""), self.body())
            data = next((v for n, _, v in parts if n == "file"), None)
            if f is None or data is None:
                return self.send(400)
            try:
                os.makedirs(os.path.dirname(f), exist_ok=True)
                with open(f, "wb") as fh:
                    fh.write(data)
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
                if not os.path.isabs(dest):
                    dest = os.path.join(work, dest)
                try:
                    os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
                    with open(dest, "wb") as fh:
                        fh.write(value)
                    files.append({"path": dest, "bytes": len(value)})
                except OSError as e:
                    errors.append("%s: %s" % (dest, e.strerror))
            if errors:
                return self.send(400, {"errors": errors, "files": files})
            return self.send(200, {"files": files})
        if path == "/files/permissions" and method == "POST":
            f = p()
            if f is None or not os.path.exists(f):
                return self.send(404)
            if query.get("mode"):
                os.chmod(f, int(query["mode"], 8))
            return self.send(200)
        if path == "/files/find" and method == "GET":
            root, pattern = p(), query.get("pattern")
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
                        out.append({"file": f, "line": i, "content": line})
            return self.send(200, out)
        if path == "/files/search" and method == "GET":
            import fnmatch
            root, pattern = p(), query.get("pattern")
            if root is None or pattern is None:
                return self.send(400)
            out = []
            for dirpath, dirnames, filenames in os.walk(root):
                for n in dirnames + filenames:
                    if fnmatch.fnmatchcase(n, pattern):
                        out.append(os.path.join(dirpath, n))
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
        proc = subprocess.Popen(["/bin/sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=req.get("cwd") or sb["workdir"],
                                env=env, start_new_session=True)
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


def cmd_env(sb):
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": sb["workdir"], "LANG": "C.UTF-8", "USER": "daytona"}


def start_cmd(sb, command):
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=sb["workdir"],
                            env=cmd_env(sb))
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
                for sess in sb["sessions"].values():
                    for cmd in sess.values():
                        kill_cmd(cmd)
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
