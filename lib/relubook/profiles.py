"""Execution profiles and parameter validation.

Every chapter runs under a ``profile``: ``smoke`` (at most ~90 s on 2 CPU cores, used by
the tests) or ``full`` (at most ~15 min, the book's figures). A chapter declares one table of
settings per profile; :func:`resolve` picks one and applies validated overrides.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

PROFILES = ("smoke", "full")


def check_profile(profile: Any) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return seed


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def resolve(
    table: Mapping[str, Mapping[str, Any]],
    profile: str,
    overrides: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """The settings of ``profile`` from ``table``, with ``overrides`` applied.

    Parameters
    ----------
    table
        ``{"smoke": {...}, "full": {...}}``; both profiles must define the same keys.
    profile
        ``"smoke"`` or ``"full"``.
    overrides
        Optional ``{key: value}``; each key must exist and each value must have the
        default's type (an int is accepted for a float).

    Returns
    -------
    A read-only mapping of the settings.
    """
    check_profile(profile)
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"the profile table lacks {missing}; it must define {list(PROFILES)}")
    keys = [set(table[p]) for p in PROFILES]
    if any(k != keys[0] for k in keys):
        raise ValueError("every profile must define the same settings")
    cfg = dict(table[profile])
    for key, value in dict(overrides or {}).items():
        if key not in cfg:
            raise ValueError(f"unknown parameter {key!r}; valid parameters: {', '.join(sorted(cfg))}")
        if not _same_type(cfg[key], value):
            raise TypeError(
                f"parameter {key!r} must be {type(cfg[key]).__name__} "
                f"(default {cfg[key]!r}), got {type(value).__name__} {value!r}"
            )
        cfg[key] = float(value) if isinstance(cfg[key], float) else value
    return MappingProxyType(cfg)
