"""Test guest (Python): config `mode` picks what it does, so one component covers every
obeyed/violated pair. pass | spin | memory (`mib`) | read (`path`) | count | raise (an uncaught exception)."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import CheckResult, ConfigKey, Defaults, Description, Observed, Status

runs = 0

CONFIG = [
    ConfigKey("mode", False, "pass", "What to do: pass, count, spin, memory, read or raise"),
    ConfigKey("mib", False, "8", "MiB to allocate in mode memory"),
    ConfigKey("path", False, "/etc/hostname", "File to read in mode read"),
]


def result(status, output):
    return CheckResult(status, output, Observed(float(runs), "runs"), [("mode", host.config_get("mode") or "pass")])


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description("misbehave-py", "0.1.0", "Misbehaves on request", Defaults(None, None, None), CONFIG)

    def check(self) -> CheckResult:
        global runs
        runs += 1
        mode = host.config_get("mode") or "pass"
        if mode == "pass":
            return result(Status.PASS, "ok from python")
        if mode == "count":
            return result(Status.PASS, f"run {runs} of this instance")
        if mode == "spin":
            while True:
                pass
        if mode == "memory":
            mib = int(host.config_get("mib") or "8")
            held = [bytearray(b"x" * (1 << 20)) for _ in range(mib)]
            return result(Status.PASS, f"held {len(held)} MiB")
        if mode == "read":
            path = host.config_get("path") or "/etc/hostname"
            try:
                with open(path, "rb") as f:
                    return result(Status.PASS, f"read {len(f.read())} bytes")
            except OSError as e:
                host.log(host.Level.INFO, f"read failed: {e}")
                return result(Status.FAIL, f"cannot read {path}: {e.strerror}")
        if mode == "raise":
            return result(Status.PASS, parse_ratio("not a number"))
        raise Err(f"unknown mode {mode}")


def parse_ratio(text):
    """An author's bug, two frames deep, for the traceback."""
    return float(text) / 100
