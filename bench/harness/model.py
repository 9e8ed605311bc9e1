# SPDX-License-Identifier: Apache-2.0
"""What a case gives back: rows (agent-runner against one baseline, both sampled in the same run)
and metrics (single numbers such as peak RSS or requests per call), each with an optional target.
"""
import statistics
from dataclasses import dataclass, field


class Skip(Exception):
    """A case that cannot run here (a tool is missing, a feature does not exist yet)."""


@dataclass
class Target:
    op: str  # "<=" or ">="
    value: float
    unit: str = ""  # for metrics: the value's unit as shown ("MiB", "ms", "")

    def holds(self, x):
        return x <= self.value if self.op == "<=" else x >= self.value

    def text(self):
        return "%s %g%s" % ("≤" if self.op == "<=" else "≥", self.value,
                            (" " + self.unit) if self.unit else "")


def at_most(v, unit=""):
    return Target("<=", v, unit)


def at_least(v, unit=""):
    return Target(">=", v, unit)


def stats(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


@dataclass
class Row:
    """agent-runner against one baseline. unit "s": seconds per operation (lower is better);
    "calls/s": throughput (higher is better). The ratio is always agent-runner / baseline of the
    medians, as in issue 16's table."""
    candidate: str
    baseline: str
    unit: str
    candidate_samples: list
    baseline_samples: list
    target: Target = None
    note: str = ""

    def ratio(self):
        b = statistics.median(self.baseline_samples)
        return statistics.median(self.candidate_samples) / b if b else float("inf")

    def passed(self):
        return None if self.target is None else self.target.holds(self.ratio())

    def to_json(self):
        return {"candidate": self.candidate, "baseline": self.baseline, "unit": self.unit,
                "candidate_samples": self.candidate_samples,
                "baseline_samples": self.baseline_samples,
                "candidate_stats": stats(self.candidate_samples),
                "baseline_stats": stats(self.baseline_samples),
                "ratio": self.ratio(),
                "target": self.target.text() if self.target else None,
                "pass": self.passed(), "note": self.note}


@dataclass
class Metric:
    """One number about agent-runner (shown in its unit), e.g. peak RSS in MiB."""
    name: str
    value: float
    unit: str
    target: Target = None
    samples: list = field(default_factory=list)

    def passed(self):
        return None if self.target is None else self.target.holds(self.value)

    def to_json(self):
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "target": self.target.text() if self.target else None, "pass": self.passed(),
                "samples": self.samples}
