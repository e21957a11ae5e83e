"""json-file: the WIT glue. Reads one JSON file (a status file a batch job writes, a queue
exporter's dump, a feature flag file) from a directory the operator granted, and judges its age
and contents with json_file.judge."""

import os
import time

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import CheckResult, ConfigKey, Defaults, Description, Observed, Status

import json_file

VERSION = "0.1.0"
MAX_BYTES = 1 << 20

_STATUS = {json_file.PASS: Status.PASS, json_file.WARN: Status.WARN, json_file.FAIL: Status.FAIL}

# The config keys json_file.Settings.from_config reads. The host rejects a config that sets any
# other key. `expect.` is a family (a name ending in `.`): it finds those keys through config_keys.
CONFIG = [
    ConfigKey("path", True, None, "The JSON file to read (at most 1 MiB); grant its directory with read_dirs"),
    ConfigKey("max_age", False, None, "Fail when the file was last modified longer ago than this (90s, 15m, 2h, 1d)"),
    ConfigKey("warn_age", False, None, "Warn when the file was last modified longer ago than this (90s, 15m, 2h, 1d)"),
    ConfigKey("field", False, None, "Dotted path of a number in the document to observe and bound (stats.pending, items.0.size)"),
    ConfigKey("unit", False, None, "Unit of `field`, shown with the observed value"),
    ConfigKey("warn_above", False, None, "Warn when `field` is above this number"),
    ConfigKey("fail_above", False, None, "Fail when `field` is above this number"),
    ConfigKey("warn_below", False, None, "Warn when `field` is below this number"),
    ConfigKey("fail_below", False, None, "Fail when `field` is below this number"),
    ConfigKey("expect.", False, None, "expect.PATH = VALUE: the value at dotted PATH must equal VALUE"),
]


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description(
            "json-file",
            VERSION,
            "Reads a JSON file and checks its age, a numeric field and expected values",
            Defaults(interval_ms=30_000, timeout_ms=None, critical=None),
            CONFIG,
        )

    def check(self) -> CheckResult:
        try:
            settings = json_file.Settings.from_config(host.config_get, host.config_keys())
        except json_file.ConfigError as e:
            # The check cannot be evaluated: the host records it as unknown.
            raise Err(str(e))
        try:
            age = max(0.0, time.time() - os.stat(settings.path).st_mtime)
            with open(settings.path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except OSError as e:
            host.log(host.Level.DEBUG, f"cannot read {settings.path}: {e}")
            hint = " (is its directory granted with read_dirs?)" if isinstance(e, (FileNotFoundError, PermissionError)) else ""
            return CheckResult(Status.FAIL, f"cannot read {settings.path}: {e.strerror or e}{hint}", None, [("path", settings.path)])
        if len(raw) > MAX_BYTES:
            return CheckResult(Status.FAIL, f"{settings.path} is over {MAX_BYTES} bytes", None, [("path", settings.path)])
        verdict = json_file.judge(settings, raw.decode("utf-8", errors="replace"), age)
        observed = Observed(verdict.observed[0], verdict.observed[1]) if verdict.observed else None
        return CheckResult(_STATUS[verdict.status], verdict.output, observed, verdict.details)
