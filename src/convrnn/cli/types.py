"""Values of command-line options: parsers that raise :class:`~convrnn.errors.ConfigError`, and
their argparse ``type=`` form, so that argparse reports a bad value (usage, exit status 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from convrnn.errors import ConfigError

T = TypeVar("T")

_BYTE_UNITS = {"TB": 1024**4, "GB": 1024**3, "MB": 1024**2, "KB": 1024, "B": 1}


def argtype(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type=``: its ConfigError becomes argparse's error for the option."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = parse.__name__
    return convert


def parse_option(option: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)`` for a value checked after argparse; the ConfigError names ``option``."""
    try:
        return parse(text)
    except ConfigError as e:
        raise ConfigError(f"{option} {e}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _ints(text: str, hint: str, count: int | None = None) -> tuple[int, ...]:
    """Comma-separated integers (exactly ``count`` of them if given); ConfigError with ``hint``."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or (count is not None and len(values) != count):
        raise ConfigError(f"{text!r}: {hint}")
    return values


def parse_point(text: str) -> tuple[int, int]:
    """``"Y,X"`` -> ``(y, x)``: a query pixel."""
    y, x = _ints(text, "write the query pixel as Y,X, e.g. 32,32", count=2)
    return y, x


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0,-1"`` -> ``(0, -1)``: layer indices, negative from the top."""
    return _ints(text, "write layer indices separated by commas, e.g. 0,-1")


def parse_frames(text: str) -> tuple[int, int]:
    """``"T_in,T_out"`` -> ``(t_in, t_out)``."""
    t_in, t_out = _ints(text, "write T_in,T_out, e.g. 10,10", count=2)
    return t_in, t_out


def parse_sides(text: str) -> tuple[int, ...]:
    """``"32,64,96"`` -> square sides."""
    return _ints(text, "write square sides, e.g. 32,64,96")


def parse_size(text: str) -> tuple[int, int]:
    """``"H"`` or ``"HxW"`` -> ``(h, w)``, both >= 1."""
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, 0)
    except ValueError:
        h = w = 0
    if h < 1 or w < 1:
        raise ConfigError(f"{text!r}: write H or HxW, e.g. 64 or 64x96")
    return h, w


def parse_bytes(text: str) -> int:
    """``"16GB"`` -> bytes (units B, KB, MB, GB, TB; powers of 1024)."""
    t = text.strip().upper()
    for unit, factor in _BYTE_UNITS.items():
        if t.endswith(unit):
            try:
                return int(float(t[: -len(unit)]) * factor)
            except ValueError:
                break
    raise ConfigError(f"cannot read memory size {text!r}; write e.g. 16GB or 512MB")


def parse_sizes(text: str) -> str:
    """Comma-separated frame sizes (``"128,256x192"``), each checked by :func:`parse_size`."""
    for item in text.split(","):
        parse_size(item)
    return text


def parse_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``, checked against the devices this machine has."""
    from convrnn.models.inference import parse_device as check

    check(text)
    return text


size = argtype(parse_size)
sizes = argtype(parse_sizes)
device = argtype(parse_device)
frames = argtype(parse_frames)
sides = argtype(parse_sides)
byte_size = argtype(parse_bytes)
