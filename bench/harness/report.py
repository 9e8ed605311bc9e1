# SPDX-License-Identifier: Apache-2.0
"""The table bench/run prints (and bench/README.md keeps) and bench/results.json."""
import datetime
import json
import os
import platform
import shutil
import subprocess

from .model import stats


def fmt(value, unit):
    if unit == "calls/s":
        return "%.0f/s" % value if value >= 100 else "%.1f/s" % value
    if unit == "s":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if value >= scale:
                return "%.3g %s" % (value / scale, suffix)
        return "%.3g ns" % (value * 1e9)
    return "%.4g%s" % (value, (" " + unit) if unit else "")


def _spread(samples, unit):
    s = stats(samples)
    return "%s (%s–%s)" % (fmt(s["median"], unit), fmt(s["min"], unit), fmt(s["max"], unit))


def _verdict(passed):
    return "–" if passed is None else ("pass" if passed else "FAIL")


def table(results):
    """Markdown: one line per row (agent-runner vs one baseline) and per metric."""
    head = ["case", "agent-runner: median (min–max)", "baseline: median (min–max)", "ratio",
            "target", "result"]
    lines = [head, ["---"] * len(head)]
    for res in results:
        name = "`%s`" % res["name"]
        if res.get("skipped"):
            lines.append([name, "skipped: " + res["skipped"], "", "", "", "skip"])
            continue
        if res.get("error"):
            lines.append([name, "error: " + res["error"][:200], "", "", "", "ERROR"])
            continue
        for row in res["rows"]:
            lines.append([name, "%s: %s" % (row.candidate, _spread(row.candidate_samples, row.unit)),
                          "%s: %s" % (row.baseline, _spread(row.baseline_samples, row.unit)),
                          "%.2f" % row.ratio(), row.target.text() if row.target else "–",
                          _verdict(row.passed())])
        for m in res["metrics"]:
            lines.append([name, "%s: %s" % (m.name, fmt(m.value, m.unit)), "", "",
                          m.target.text() if m.target else "–", _verdict(m.passed())])
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in ln) + " |" for ln in lines)


def _cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def commit(source_dir):
    head = _cmd(["git", "-C", source_dir, "rev-parse", "HEAD"])
    dirty = bool(_cmd(["git", "-C", source_dir, "status", "--porcelain", "--untracked-files=no"]))
    return {"id": head, "short": head[:7], "dirty": dirty,
            "subject": _cmd(["git", "-C", source_dir, "log", "-1", "--format=%s"])}


def machine():
    info = {"uname": " ".join(platform.uname()), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_kib"] = int(f.readline().split()[1])
    except OSError:
        pass
    tools = {}
    for tool, argv in (("rg", ["rg", "--version"]), ("node", ["node", "--version"]),
                       ("python3", ["python3", "--version"]), ("sh", ["readlink", "-f", "/bin/sh"])):
        if shutil.which(argv[0]):
            tools[tool] = _cmd(argv).splitlines()[0] if _cmd(argv) else ""
    info["tools"] = tools
    return info


def write_json(path, source_dir, options, results, started, seconds, load_start):
    m = machine()
    m["loadavg_start"] = load_start
    doc = {"commit": commit(source_dir), "started": started, "seconds": round(seconds, 1),
           "machine": m, "options": options, "cases": []}
    for res in results:
        c = {"name": res["name"], "summary": res["summary"]}
        for k in ("skipped", "error"):
            if res.get(k):
                c[k] = res[k]
        c["rows"] = [r.to_json() for r in res.get("rows", [])]
        c["metrics"] = [x.to_json() for x in res.get("metrics", [])]
        doc["cases"].append(c)
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return doc


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
