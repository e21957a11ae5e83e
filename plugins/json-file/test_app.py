"""Tests app.py, the glue, with plain Python: the modules componentize-py generates (`wit_world`,
`componentize_py_types`) exist only inside the component, so this file installs stand-ins with the
same names, and a fake host that takes the config as vitals would, before importing app."""

import os
import sys
import tempfile
import time
import types
import unittest
from abc import abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Generic, List, Optional, Protocol, Tuple, TypeVar, Union


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


# componentize_py_types, as generated.
S = TypeVar("S")
T = TypeVar("T")
E = TypeVar("E")


@dataclass
class Some(Generic[S]):
    value: S


@dataclass
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Err(Generic[E], Exception):
    value: E


_module("componentize_py_types", Some=Some, Ok=Ok, Err=Err, Result=Union[Ok[T], Err[E]])


# wit_world.imports.types, as generated from wit/check.wit.
class Status(Enum):
    PASS = 0
    WARN = 1
    FAIL = 2
    UNKNOWN = 3


@dataclass
class Observed:
    value: float
    unit: str


@dataclass
class CheckResult:
    status: Status
    output: str
    observed: Optional[Observed]
    details: List[Tuple[str, str]]


@dataclass
class Defaults:
    interval_ms: Optional[int]
    timeout_ms: Optional[int]
    critical: Optional[bool]


@dataclass
class ConfigKey:
    name: str
    required: bool
    default: Optional[str]
    help: str


@dataclass
class Description:
    name: str
    version: str
    summary: str
    defaults: Defaults
    config: List[ConfigKey]


wit_types = _module("wit_world.imports.types", Status=Status, Observed=Observed,
                    CheckResult=CheckResult, Defaults=Defaults, ConfigKey=ConfigKey,
                    Description=Description)


# wit_world.imports.host: a fake host. `configure` sets the config as vitals does.
class Level(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class FakeHost:
    config: dict = {}
    logged: list = []

    @classmethod
    def configure(cls, description, values, defaults=True):
        """Set the config as vitals does from the operator's `values`: reject a key `description`
        does not declare and a required key left unset, and fill in each declared default (unless
        `defaults` is False)."""
        declared = {}
        for key in description.config:
            if key.name in declared:
                raise AssertionError(f"describe() declares config key `{key.name}` twice")
            if key.required and key.default is not None:
                raise AssertionError(
                    f"describe() declares config key `{key.name}` as required and with a default")
            declared[key.name] = key
        for name in values:
            # A declared name ending in `.` is a family: every key that starts with it.
            in_family = any(d.endswith(".") and name.startswith(d) for d in declared)
            if name not in declared and not in_family:
                raise AssertionError(f"config key `{name}` is not declared by describe()")
        cls.config = {}
        for key in description.config:
            value = values.get(key.name, key.default if defaults else None)
            if value is not None:
                cls.config[key.name] = value
            elif key.required:
                raise AssertionError(f"config key `{key.name}` is required but not set")
        # Keys of a family are set as given.
        cls.config.update((name, value) for name, value in values.items() if name not in declared)
        cls.logged = []


def log(level: Level, message: str) -> None:
    FakeHost.logged.append((level, message))


def config_get(key: str) -> Optional[str]:
    return FakeHost.config.get(key)


def config_keys() -> List[str]:
    return sorted(FakeHost.config)


host = _module("wit_world.imports.host", Level=Level, log=log, config_get=config_get,
               config_keys=config_keys)
_module("wit_world.imports", host=host, types=wit_types)


# wit_world, as generated: the world app.WitWorld implements.
class WitWorld(Protocol):
    @abstractmethod
    def describe(self) -> Description:
        raise NotImplementedError

    @abstractmethod
    def check(self) -> CheckResult:
        raise NotImplementedError


_module("wit_world", WitWorld=WitWorld, imports=sys.modules["wit_world.imports"])

import app  # noqa: E402  (after the stand-ins it imports)


class AppTest(unittest.TestCase):
    def setUp(self):
        self.plugin = app.WitWorld()
        self.description = self.plugin.describe()
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "status.json")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, text, age=0):
        with open(self.path, "w") as f:
            f.write(text)
        then = time.time() - age
        os.utime(self.path, (then, then))

    def check_with(self, values, defaults=True):
        """check() with the operator's config `values` (strings, as in vitals.toml)."""
        FakeHost.configure(self.description, values, defaults)
        return self.plugin.check()

    def test_describe_declares_the_config_keys_settings_reads(self):
        self.assertEqual(self.description.name, "json-file")
        self.assertEqual(
            [(k.name, k.required, k.default) for k in self.description.config],
            [("path", True, None), ("max_age", False, None), ("warn_age", False, None),
             ("field", False, None), ("unit", False, None), ("warn_above", False, None),
             ("fail_above", False, None), ("warn_below", False, None), ("fail_below", False, None),
             ("expect.", False, None)],
        )
        for key in self.description.config:
            self.assertTrue(key.help, f"{key.name} has no help")
        with self.assertRaisesRegex(AssertionError, "`path` is required"):
            FakeHost.configure(self.description, {})

    def test_expect_keys_are_a_declared_family_and_a_misspelled_family_is_refused(self):
        self.write('{"queue": {"state": "done"}}')
        result = self.check_with({"path": self.path, "expect.queue.state": "done"})
        self.assertEqual(result.status, Status.PASS, result.output)
        result = self.check_with({"path": self.path, "expect.queue.state": "busy"})
        self.assertEqual(result.status, Status.FAIL, result.output)
        with self.assertRaisesRegex(AssertionError, "`expct.queue.state` is not declared"):
            FakeHost.configure(self.description, {"path": self.path, "expct.queue.state": "done"})

    def test_a_fresh_file_within_its_bounds_passes_with_the_field_observed(self):
        self.write('{"queue": {"depth": 420}}', age=60)
        result = self.check_with({"path": self.path, "max_age": "1h", "field": "queue.depth",
                                  "unit": "jobs", "warn_above": "1000"})
        self.assertEqual(result.status, Status.PASS, result.output)
        self.assertEqual(result.output, f"{self.path}: queue.depth = 420, 60s old")
        self.assertEqual(result.observed, Observed(420.0, "jobs"))
        self.assertEqual(result.details, [("path", self.path), ("age_s", "60"), ("queue.depth", "420")])

    def test_age_and_bounds_warn_and_fail(self):
        config = {"path": self.path, "max_age": "1h", "warn_age": "30m", "field": "n",
                  "warn_below": "10", "fail_below": "1"}
        self.write('{"n": 5}', age=60)
        self.assertEqual(self.check_with(config).status, Status.WARN)
        self.write('{"n": 0}', age=60)
        self.assertEqual(self.check_with(config).status, Status.FAIL)
        self.write('{"n": 50}', age=45 * 60)
        self.assertEqual(self.check_with(config).status, Status.WARN)
        self.write('{"n": 50}', age=2 * 3600)
        failed = self.check_with(config)
        self.assertEqual(failed.status, Status.FAIL)
        self.assertIn("over max_age 3600s", failed.output)

    def test_an_unreadable_file_fails_with_a_hint(self):
        result = self.check_with({"path": os.path.join(self.dir.name, "missing.json")})
        self.assertEqual(result.status, Status.FAIL)
        self.assertIn("is its directory granted with read_dirs?", result.output)
        self.assertEqual(FakeHost.logged[0][0], Level.DEBUG)

    def test_a_config_mistake_raises_err_naming_the_key(self):
        for values, message in [
            ({"max_age": "soon"}, "config value `max_age` must be a duration"),
            ({"field": "n", "fail_above": "lots"}, "config value `fail_above` must be a number"),
            ({"warn_above": "3"}, "config value `warn_above` needs `field`"),
        ]:
            with self.subTest(values=values):
                with self.assertRaises(Err) as caught:
                    self.check_with({"path": self.path, **values})
                self.assertTrue(caught.exception.value.startswith(message), caught.exception.value)


if __name__ == "__main__":
    unittest.main()
