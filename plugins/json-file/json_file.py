"""json-file's logic: parse settings, read a JSON document, judge it. Pure Python without host
calls, so `python3 -m unittest` covers it natively."""

import dataclasses
from dataclasses import dataclass
import json
import re

PASS, WARN, FAIL = "pass", "warn", "fail"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A config value the check cannot use; the message names the key."""


def parse_duration(key, text):
    """Seconds in "90s", "15m", "2h", "1d" or "500ms"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*", text or "")
    if not m:
        raise ConfigError(f"config value `{key}` must be a duration like 90s, 15m, 2h or 1d, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_number(key, text):
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"config value `{key}` must be a number, got {text!r}") from None


@dataclass
class Settings:
    """What to check, from the plugin's config values."""

    path: str
    max_age: float | None = None
    warn_age: float | None = None
    field: str | None = None
    unit: str = ""
    bounds: dict = dataclasses.field(default_factory=dict)
    expect: dict = dataclasses.field(default_factory=dict)

    @staticmethod
    def from_config(get, keys):
        """`get(key)` returns a config value or None; `keys` lists every key set."""
        path = get("path")
        if not path:
            raise ConfigError("config value `path` is required")
        s = Settings(path=path)
        if get("max_age") is not None:
            s.max_age = parse_duration("max_age", get("max_age"))
        if get("warn_age") is not None:
            s.warn_age = parse_duration("warn_age", get("warn_age"))
        s.field = get("field")
        s.unit = get("unit") or ""
        for key in ("warn_above", "fail_above", "warn_below", "fail_below"):
            if get(key) is not None:
                if s.field is None:
                    raise ConfigError(f"config value `{key}` needs `field`, the number it bounds")
                s.bounds[key] = parse_number(key, get(key))
        for key in keys:
            if key.startswith("expect."):
                s.expect[key[len("expect."):]] = get(key)
        return s


def lookup(document, dotted):
    """The value at a dotted path (`a.b.0.c`); KeyError naming the path when it is missing."""
    at = document
    for part in dotted.split("."):
        if isinstance(at, list) and part.isdigit() and int(part) < len(at):
            at = at[int(part)]
        elif isinstance(at, dict) and part in at:
            at = at[part]
        else:
            raise KeyError(dotted)
    return at


def as_text(value):
    """JSON scalars as an operator writes them in config: true, 3, 2.5, ok."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@dataclass
class Verdict:
    status: str
    output: str
    observed: tuple | None
    details: list


def judge(settings, text, age_seconds):
    """The verdict for a file's contents and its age in seconds."""
    details = [("path", settings.path), ("age_s", f"{age_seconds:.0f}")]
    problems = []  # (status, text)

    if settings.max_age is not None and age_seconds > settings.max_age:
        problems.append((FAIL, f"{age_seconds:.0f}s old, over max_age {settings.max_age:.0f}s"))
    elif settings.warn_age is not None and age_seconds > settings.warn_age:
        problems.append((WARN, f"{age_seconds:.0f}s old, over warn_age {settings.warn_age:.0f}s"))

    try:
        document = json.loads(text)
    except ValueError as e:
        return Verdict(FAIL, f"{settings.path} is not JSON: {e}", None, details)

    for dotted, expected in sorted(settings.expect.items()):
        try:
            actual = as_text(lookup(document, dotted))
        except KeyError:
            problems.append((FAIL, f"{dotted} is missing, expected {expected}"))
            continue
        if actual != expected:
            problems.append((FAIL, f"{dotted} is {actual}, expected {expected}"))

    observed = (age_seconds, "s")
    if settings.field is not None:
        try:
            raw = lookup(document, settings.field)
            value = float(raw)
        except KeyError:
            return Verdict(FAIL, f"{settings.field} is missing from {settings.path}", None, details)
        except (TypeError, ValueError):
            return Verdict(FAIL, f"{settings.field} is {as_text(raw)!r}, not a number", None, details)
        observed = (value, settings.unit)
        details.append((settings.field, as_text(raw)))
        b = settings.bounds
        shown = as_text(value)
        if "fail_above" in b and value > b["fail_above"]:
            problems.append((FAIL, f"{settings.field} {shown} above {as_text(b['fail_above'])}"))
        elif "fail_below" in b and value < b["fail_below"]:
            problems.append((FAIL, f"{settings.field} {shown} below {as_text(b['fail_below'])}"))
        elif "warn_above" in b and value > b["warn_above"]:
            problems.append((WARN, f"{settings.field} {shown} above {as_text(b['warn_above'])}"))
        elif "warn_below" in b and value < b["warn_below"]:
            problems.append((WARN, f"{settings.field} {shown} below {as_text(b['warn_below'])}"))

    if not problems:
        what = f"{settings.field} = {as_text(observed[0])}" if settings.field else "as expected"
        return Verdict(PASS, f"{settings.path}: {what}, {age_seconds:.0f}s old", observed, details)
    status = FAIL if any(s == FAIL for s, _ in problems) else WARN
    return Verdict(status, f"{settings.path}: " + "; ".join(t for _, t in problems), observed, details)
