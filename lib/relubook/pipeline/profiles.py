"""Execution profiles and parameter validation.

Every chapter runs under a ``profile``: ``smoke`` (at most 60 s on 2 CPU cores, used by
the tests) or ``full`` (at most ~15 min, the book's figures). A chapter declares its ``full``
settings and, separately, the few settings its ``smoke`` profile changes (the *smoke diff*);
:func:`resolve` validates both, picks one profile and applies validated overrides.
:class:`ConfigTable` shows the two side by side in a notebook.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["PROFILES", "ConfigTable", "check_profile", "check_seed", "check_smoke_diff",
           "resolve"]

PROFILES = ("smoke", "full")

#: How to call :func:`resolve` / ``Run.configure`` since the profile table was split.
_NEW_FORM = ('pass the full settings and the smoke diff: run.configure({"n": 1000, "lr": 0.1}, '
             'smoke={"n": 100}) -- the smoke diff holds only the settings smoke changes')


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


def _coerce(default: Any, value: Any) -> Any:
    """``value`` in the form of ``default`` (an int given for a float becomes a float)."""
    return float(value) if isinstance(default, float) else value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _check_full(full: Any, smoke: Any) -> None:
    if not isinstance(full, Mapping):
        raise TypeError(f"the full settings must be a dict, got {type(full).__name__}; {_NEW_FORM}")
    if (smoke is None and set(full) == set(PROFILES)
            and all(isinstance(v, Mapping) for v in full.values())):
        raise TypeError("the {'smoke': {...}, 'full': {...}} table is no longer accepted; "
                        + _NEW_FORM)
    if not full:
        raise ValueError("the full settings are empty; a chapter needs at least one setting")
    bad = [k for k in full if not isinstance(k, str)]
    if bad:
        raise TypeError(f"setting names must be strings, got {bad!r}")


def check_smoke_diff(full: Mapping[str, Any], smoke: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the smoke diff against the full settings; return it (ints made floats).

    Each key must be a full setting, each value must have the full value's type (an int is
    accepted for a float), and must differ from it: the diff holds only what smoke changes.

    Raises
    ------
    ValueError
        Naming the bad key (and the valid keys when the key is unknown).
    TypeError
        If ``full`` or ``smoke`` is not a mapping, or ``full`` is the old ``{"smoke", "full"}``
        table; the message says how to call the new form.
    """
    _check_full(full, smoke)
    if smoke is None:
        return {}
    if not isinstance(smoke, Mapping):
        raise TypeError(f"the smoke diff must be a dict or None, got {type(smoke).__name__}; "
                        + _NEW_FORM)
    out = {}
    for key, value in smoke.items():
        if key not in full:
            raise ValueError(f"smoke diff sets unknown setting {key!r}; valid settings: "
                             f"{', '.join(sorted(full))}")
        if not _same_type(full[key], value):
            raise ValueError(f"smoke diff gives {key!r} a {type(value).__name__} ({value!r}); "
                             f"it must be {type(full[key]).__name__} like the full value "
                             f"{full[key]!r}")
        value = _coerce(full[key], value)
        if _equal(value, full[key]):
            raise ValueError(f"smoke diff repeats full value for {key!r} ({value!r}); leave it "
                             "out, the diff holds only the settings smoke changes")
        out[key] = value
    return out


def resolve(
    full: Mapping[str, Any],
    smoke: Mapping[str, Any] | None,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """The settings of ``profile``, with ``overrides`` applied.

    Parameters
    ----------
    full
        ``{setting: value}`` of the ``full`` profile: every setting a chapter has.
    smoke
        The settings the ``smoke`` profile changes (see :func:`check_smoke_diff`), or None.
    profile
        ``"smoke"`` or ``"full"``.
    overrides
        Optional ``{key: value}``; each key must exist and each value must have the
        default's type (an int is accepted for a float).

    Returns
    -------
    A read-only mapping of the settings, in the order of ``full``.
    """
    diff = check_smoke_diff(full, smoke)
    check_profile(profile)
    cfg = dict(full)
    if profile == "smoke":
        cfg.update(diff)
    for key, value in dict(overrides or {}).items():
        if key not in cfg:
            raise ValueError(f"unknown parameter {key!r}; valid parameters: {', '.join(sorted(cfg))}")
        if not _same_type(cfg[key], value):
            raise TypeError(
                f"parameter {key!r} must be {type(cfg[key]).__name__} "
                f"(default {cfg[key]!r}), got {type(value).__name__} {value!r}"
            )
        cfg[key] = _coerce(cfg[key], value)
    return MappingProxyType(cfg)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


class ConfigTable:
    """A chapter's settings: one row per setting, its ``full`` value and its ``smoke`` value
    (``=`` where smoke keeps the full value). Plain text, and Markdown in a notebook.

    ``profile`` and ``overrides``, when given, add a line naming this run's profile and the
    overrides it applied.
    """

    columns = ("setting", "full", "smoke")

    def __init__(self, full: Mapping[str, Any], smoke: Mapping[str, Any] | None = None,
                 profile: str | None = None, overrides: Mapping[str, Any] | None = None):
        self.smoke = check_smoke_diff(full, smoke)
        self.full = dict(full)
        self.profile = None if profile is None else check_profile(profile)
        self.overrides = dict(overrides or {})

    def rows(self) -> list[tuple[str, str, str]]:
        return [(k, _show(v), _show(self.smoke[k]) if k in self.smoke else "=")
                for k, v in self.full.items()]

    def note(self) -> str:
        if self.profile is None:
            return ""
        out = f"this run: profile {self.profile}"
        if self.overrides:
            out += "; overrides " + ", ".join(f"{k}={_show(v)}" for k, v in self.overrides.items())
        return out

    def __repr__(self) -> str:
        rows = [self.columns] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.note():
            lines.append(self.note())
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        def esc(s: str) -> str:
            return str(s).replace("|", "\\|").replace("\n", " ")

        head = [c if c != self.profile else f"**{c}** (this run)" for c in self.columns]
        out = ["| " + " | ".join(head) + " |", "|---|---|---|"]
        out += [f"| `{esc(k)}` | {esc(f)} | {esc(s)} |" for k, f, s in self.rows()]
        if self.overrides:
            out += ["", self.note().replace("this run: ", "This run: ") + "."]
        return "\n".join(out)
