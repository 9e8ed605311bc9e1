# SPDX-License-Identifier: Apache-2.0
"""What a case works with: where the built binaries and the cache are, the corpus, and helpers
that describe subjects and run them through agent_runner_bench (commands and in-process
operations) or the Node client (MCP servers and Node's own child_process)."""
import json
import os
import shutil
import subprocess

from . import corpus
from .model import Row, Skip


class CaseError(Exception):
    """A case that should have run and did not (a failed command, a wrong result)."""


class Context:
    def __init__(self, source_dir, build_dir, rounds, quick, log):
        self.source_dir = source_dir
        self.build_dir = build_dir
        self.rounds = rounds
        self.quick = quick
        self.log = log
        self.cache = os.path.join(build_dir, "bench-cache")
        self.host = os.path.join(build_dir, "bin", "agent-runner")
        self.engine_bin = os.path.join(build_dir, "bin", "agent_runner_bench")
        self.plugin_dir = os.path.join(build_dir, "lib", "agent-runner", "plugins")
        self.fixture_dir = os.path.join(build_dir, "tests", "fixture-plugins")
        self.node_dir = os.path.join(self.cache, "node")
        # Sandboxes' private TMPDIRs go here, away from whatever else cleans /tmp meanwhile.
        self.tmp = os.path.join(self.cache, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self._node_ready = None

    # ---- sizes ------------------------------------------------------------------------------
    def pick(self, full, quick):
        """The full-run value, or the --quick one."""
        return quick if self.quick else full

    # ---- corpus ------------------------------------------------------------------------------
    def tree(self):
        return corpus.tree(os.path.join(self.cache, "corpus"), self.pick(60_000, 2_000), self.log)

    def bigdir(self):
        return corpus.bigdir(os.path.join(self.cache, "corpus"), self.pick(100_000, 2_000),
                             self.log)

    def stream_bytes(self):
        return self.pick(1 << 30, 16 << 20)

    def scratch(self, name):
        """An empty directory for one case's sandboxes and files (emptied on every run)."""
        d = os.path.join(self.cache, "scratch", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    # ---- tools -------------------------------------------------------------------------------
    def require_tool(self, name, why=""):
        path = shutil.which(name)
        if not path:
            raise Skip("%s is not installed (scripts/install-deps.sh --bench installs it)%s"
                       % (name, ": " + why if why else ""))
        return path

    def plugin(self, name):
        p = os.path.join(self.plugin_dir, name + ".so")
        if not os.path.exists(p):
            raise Skip("%s is not built (configured without it?)" % p)
        return p

    # ---- subjects ----------------------------------------------------------------------------
    def host_env(self, root):
        """The environment of a local-mode agent-runner: nothing from the caller's but PATH."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.cache,
                "LANG": "C.UTF-8", "TMPDIR": self.tmp, "MODE": "local", "SANDBOX_ROOT_DIR": root}

    def host_command(self, name, args, root, iterations=1, **kw):
        return self.command(name, [self.host] + list(args), iterations, env=self.host_env(root),
                            **kw)

    @staticmethod
    def command(name, argv, iterations=1, env=None, stdout="pipe", cwd=None, exit_codes=None):
        s = {"name": name, "argv": list(argv), "iterations": iterations, "stdout": stdout}
        if env is not None:
            s["env"] = env
        if cwd:
            s["cwd"] = cwd
        if exit_codes:
            s["exit_codes"] = exit_codes
        return s

    @staticmethod
    def op(name, sandbox, op, request, iterations=1, input=None):
        s = {"name": name, "sandbox": sandbox, "op": op, "request": request,
             "iterations": iterations}
        if input is not None:
            s["input"] = input
        return s

    def fs_sandbox(self, workspace):
        """A filesystem sandbox whose workspace is exactly `workspace` (layout: shared)."""
        return {"plugin": self.plugin("filesystem"), "type": "filesystem",
                "config": {"type": "filesystem", "root_dir": workspace, "layout": "shared"}}

    # ---- running -----------------------------------------------------------------------------
    def engine(self, name, subjects, sandboxes=None, setup=None, trace=False):
        """Runs subjects interleaved for self.rounds rounds in agent_runner_bench."""
        spec = {"rounds": self.rounds, "trace": trace, "sandboxes": sandboxes or {},
                "setup": setup or [], "subjects": subjects}
        return self._run_json(name, [self.engine_bin], spec)

    def node(self, name, spec):
        """Runs the Node client (bench/node/mcp_bench.mjs) on a spec."""
        self.node_setup()
        spec = dict(spec, rounds=self.rounds)
        return self._run_json(name, ["node", os.path.join(self.node_dir, "mcp_bench.mjs")], spec)

    def _run_json(self, name, argv, spec):
        d = os.path.join(self.cache, "specs")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        # A guard against a hang (a CI run has a time budget), far above any case's real time.
        limit = self.pick(3600, 600)
        try:
            p = subprocess.run(argv + [path], capture_output=True, text=True, timeout=limit,
                               env=dict(os.environ, TMPDIR=self.tmp))
        except subprocess.TimeoutExpired:
            raise CaseError("%s did not finish within %d s" % (name, limit))
        if p.returncode != 0:
            raise CaseError("%s failed (exit %d): %s" % (os.path.basename(argv[-1]), p.returncode,
                                                         p.stderr.strip()[-2000:]))
        try:
            out = json.loads(p.stdout)
            result = {s["name"]: s for s in out["subjects"]}
            result["_trace"] = out.get("trace", [])
            return result
        except (ValueError, KeyError) as e:
            raise CaseError("%s printed no result: %s; stderr: %s" % (argv[-1], e, p.stderr[-2000:]))

    def node_setup(self):
        """npm ci of bench/node's lock file into the cache (once; skipped when up to date)."""
        if self._node_ready is not None:
            if self._node_ready is not True:
                raise Skip(self._node_ready)
            return
        if not shutil.which("node") or not shutil.which("npm"):
            self._node_ready = "node and npm are not installed (scripts/install-deps.sh --bench)"
            raise Skip(self._node_ready)
        src = os.path.join(self.source_dir, "bench", "node")
        os.makedirs(self.node_dir, exist_ok=True)
        for f in os.listdir(src):
            if f.endswith((".json", ".mjs")):
                shutil.copy2(os.path.join(src, f), os.path.join(self.node_dir, f))
        stamp = os.path.join(self.node_dir, "node_modules", ".package-lock.json")
        lock = os.path.join(self.node_dir, "package-lock.json")
        if not (os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(lock)):
            self.log("node: npm ci in %s" % self.node_dir)
            p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=warn"],
                               cwd=self.node_dir, capture_output=True, text=True)
            if p.returncode != 0:
                self._node_ready = "npm ci failed: " + p.stderr.strip()[-1000:]
                raise CaseError(self._node_ready)
        self._node_ready = True

    # ---- results -----------------------------------------------------------------------------
    @staticmethod
    def row(result, candidate, baseline, unit="s", target=None, note="", key="seconds"):
        return Row(candidate, baseline, unit, result[candidate][key], result[baseline][key],
                   target, note)

    @staticmethod
    def expect(what, got, want):
        """Both sides must have done the same work; a benchmark of a wrong answer means nothing."""
        if got != want:
            raise CaseError("%s: got %r, expected %r" % (what, got, want))
