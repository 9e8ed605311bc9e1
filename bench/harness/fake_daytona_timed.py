#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The project's fake Daytona server (tests/daytona/fake_daytona.py), unchanged, with each logged
request stamped with when it arrived and when its answer was sent (t0, t1: time.monotonic(),
which is CLOCK_MONOTONIC, the clock agent_runner_bench stamps its calls with). bench/run splits
the request log per execute call with it: how many requests one call makes, and how long the
plugin waits before its first poll.

Same arguments as fake_daytona.py; GET /_admin/state returns the stamped log.
"""
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "..", "tests", "daytona", "fake_daytona.py")


def load():
    spec = importlib.util.spec_from_file_location("fake_daytona", SERVER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stamp(mod):
    dispatch, send = mod.Handler.dispatch, mod.Handler.send

    def timed_dispatch(self):
        self._bench_t0 = time.monotonic()
        return dispatch(self)

    # The plugin makes one request at a time, so the entry send() appends is this request's.
    def timed_send(self, *args, **kw):
        n = len(mod.STATE.requests)
        send(self, *args, **kw)
        if len(mod.STATE.requests) > n:
            mod.STATE.requests[n].update(t0=getattr(self, "_bench_t0", None), t1=time.monotonic())

    mod.Handler.dispatch, mod.Handler.send = timed_dispatch, timed_send


if __name__ == "__main__":
    fake = load()
    stamp(fake)
    sys.exit(fake.main())
