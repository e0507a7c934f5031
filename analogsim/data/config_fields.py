"""The field types of an experiment configuration: one typed, range-checked setting, and the helpers that
say what is wrong with a value (:mod:`analogsim.data.config` builds its schema from them).

Examples
--------
>>> f = _F(1.0, low=0.0, help="temperature")
>>> f.check(0.5, "dynamics.kT")
0.5
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class _Field:
    kind: str  # "int", "float", "str", "ints" (list of int >= 1), "any" (free-form [task] value)
    default: Any = None
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    choices: tuple | None = None
    help: str = ""
    sweepable: bool = True

    def check(self, value, path: str):
        """Return the normalised value or raise ConfigError naming ``path``."""
        k = self.kind
        if k == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(path, f"must be an integer, got {_show(value)}")
            self._bounds(value, path)
            return int(value)
        if k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(path, f"must be a number, got {_show(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(path, f"must be finite, got {value}")
            self._bounds(value, path)
            return value
        if k == "str":
            if not isinstance(value, str):
                raise ConfigError(path, f"must be a string, got {_show(value)}")
            if self.choices is not None and value not in self.choices:
                raise ConfigError(path, f"must be one of {list(self.choices)}, got {value!r}")
            return value
        if k == "ints":
            if not isinstance(value, list):
                raise ConfigError(path, f"must be a list of integers like [4, 16, 1], got {_show(value)}")
            if len(value) < 2:
                raise ConfigError(path, f"must list at least an input and an output size, got {value}")
            for i, v in enumerate(value):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ConfigError(f"{path}[{i}]", f"must be a positive integer, got {_show(v)}")
            return [int(v) for v in value]
        if k == "strs":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(path, f"must be a list of strings, got {_show(value)}")
            return list(value)
        if k == "any":
            return _check_free(value, path)
        raise AssertionError(k)  # pragma: no cover

    def _bounds(self, value, path):
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ConfigError(path, f"must be {'>' if self.low_open else '>='} {_num(self.low)}, got {_num(value)}")
        if self.high is not None and value > self.high:
            raise ConfigError(path, f"must be <= {_num(self.high)}, got {_num(value)}")


def _check_free(value, path):
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(path, f"must be finite, got {value}")
        return value
    if isinstance(value, list):
        return [_check_free(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ConfigError(path, f"must be a number, a string, a boolean or a list of those, got {_show(value)}")


def _show(v) -> str:
    if isinstance(v, dict):
        return "a table"
    return f"{v!r} ({type(v).__name__})"


def _num(v) -> str:
    return repr(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 else repr(v)


def _I(default=None, low=None, **kw):
    return _Field("int", default, low=low, **kw)


def _F(default=None, low=None, low_open=False, **kw):
    return _Field("float", default, low=low, low_open=low_open, **kw)


def _S(default=None, choices=None, **kw):
    return _Field("str", default, choices=tuple(choices) if choices else None, **kw)


def _geom(a: float, b: float, n: int) -> list[float]:
    if n == 1:
        return [a]
    la, lb = math.log(a), math.log(b)
    return [math.exp(la + (lb - la) * i / (n - 1)) for i in range(n)]


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_key(key: str, sec: str, fields) -> str:
    return f"unknown key{_suggest(key, fields)}; [{sec}] accepts {sorted(fields)}"
