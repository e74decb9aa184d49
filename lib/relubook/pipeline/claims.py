"""Claims and verdicts: every claim of a chapter is judged by named checks, never by a typed word.

A :class:`Check` holds a measured value, a comparison and a threshold; whether it passed is
computed from them (it cannot be set). A :class:`Claim` holds the paper's statement and its
checks; its verdict, the rule text and the measured text are derived from the checks, so the
rule shown is the rule applied:

* ``reproduced``     -- every check passes;
* ``partly``         -- some checks pass, some do not;
* ``not reproduced`` -- no check passes;
* ``refined``        -- a computed counter-example refutes the literal statement (the claim's
  ``refutation`` check passes) and every check of the corrected statement passes. With the
  counter-example shown, a corrected statement whose checks all fail is ``not reproduced``,
  and one whose checks partly pass is ``partly``.

A claim of kind ``"book"`` is one of the book's own checks (an engine cross-check, an
observation the paper does not make): it is shown apart and never counted as a reproduction.
``note_checks`` show a rule of the paper's note that the chapter replaced, with its outcome,
beside the rule applied; they do not enter the verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["VERDICTS", "KINDS", "OPS", "Check", "Claim", "VerdictTable", "fmt", "verdict",
           "at_most", "below", "at_least", "above", "between", "equal", "true", "section_label",
           "comparison", "show"]

VERDICTS = ("reproduced", "partly", "not reproduced", "refined")
#: ``paper``: a claim of the paper (counted); ``book``: the book's own check (shown apart).
KINDS = ("paper", "book")
#: Comparisons a check may make, with the symbol its rule text shows.
OPS = {"<=": "≤", "<": "<", ">=": "≥", ">": ">", "in": "in", "==": "=", "is": "is"}


def fmt(x: Any, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, in a form that is stable across runs."""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    if x is None:
        return "none"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _number(v: Any) -> float | int | bool:
    """A measured value as a plain Python bool, int or float (NumPy and torch scalars too)."""
    if hasattr(v, "item") and not isinstance(v, (bool, int, float)):
        v = v.item()
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v
    raise TypeError(f"a check's value must be a number or a bool, got {type(v).__name__} {v!r}")


@dataclass(frozen=True)
class Check:
    """One named comparison of a measured value with a threshold; ``passed`` is computed.

    Build checks with :func:`at_most`, :func:`below`, :func:`at_least`, :func:`above`,
    :func:`between`, :func:`equal` and :func:`true`. A NaN value fails every comparison.
    """

    name: str
    value: float | int | bool
    op: str
    threshold: Any = None
    unit: str = ""
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a check needs a name")
        if self.op not in OPS:
            raise ValueError(f"unknown comparison {self.op!r}; valid: {', '.join(OPS)}")
        object.__setattr__(self, "value", _number(self.value))
        v, t = self.value, self.threshold
        if self.op == "is":
            if not isinstance(v, bool):
                raise TypeError(f"check {self.name!r}: 'is' compares a bool, got {v!r}")
            ok = v is bool(t)
        elif self.op == "in":
            lo, hi = (float(a) for a in t)
            if not lo <= hi:
                raise ValueError(f"check {self.name!r}: empty interval [{lo}, {hi}]")
            ok = lo <= float(v) <= hi
        elif self.op == "==":
            ok = v == t
        else:
            t = float(_number(t))
            x = float(v)
            ok = {"<=": x <= t, "<": x < t, ">=": x >= t, ">": x > t}[self.op]
        if isinstance(v, float) and math.isnan(v):
            ok = False
        object.__setattr__(self, "passed", bool(ok))

    @property
    def comparison(self) -> str:
        """The comparison alone, e.g. ``≤ 1e-12`` (``must hold`` for a condition)."""
        return comparison(self.op, self.threshold, self.unit)

    @property
    def rule(self) -> str:
        """The rule applied, e.g. ``max error ≤ 1e-12``."""
        if self.op == "is":
            return f"{self.name}"
        return f"{self.name} {self.comparison}"

    @property
    def measured(self) -> str:
        """What was measured, e.g. ``max error = 3.1e-15``."""
        if self.op == "is":
            return f"{self.name}: {'yes' if self.value else 'no'}"
        u = f" {self.unit}" if self.unit else ""
        return f"{self.name} = {fmt(self.value)}{u}"

    def to_dict(self) -> dict:
        thr = self.threshold
        if isinstance(thr, tuple):
            thr = list(thr)
        return {"name": self.name, "value": _json_number(self.value), "op": self.op,
                "threshold": _json_number(thr) if not isinstance(thr, list)
                else [_json_number(float(a)) for a in thr],
                "unit": self.unit, "passed": self.passed, "rule": self.rule,
                "measured": self.measured}


def comparison(op: str, threshold: Any, unit: str = "") -> str:
    """The text of a comparison, e.g. ``≤ 1e-12``, ``in [-0.6, -0.4] dB`` or ``must hold``."""
    u = f" {unit}" if unit else ""
    if op == "is":
        return "must hold"
    if op == "in":
        lo, hi = threshold
        return f"in [{fmt(lo)}, {fmt(hi)}]{u}"
    return f"{OPS[op]} {fmt(threshold)}{u}"


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return fmt(v)
    return v


def at_most(name: str, value: Any, limit: float, unit: str = "") -> Check:
    """Passes when ``value ≤ limit``."""
    return Check(name, value, "<=", limit, unit)


def below(name: str, value: Any, limit: float, unit: str = "") -> Check:
    """Passes when ``value < limit``."""
    return Check(name, value, "<", limit, unit)


def at_least(name: str, value: Any, limit: float, unit: str = "") -> Check:
    """Passes when ``value ≥ limit``."""
    return Check(name, value, ">=", limit, unit)


def above(name: str, value: Any, limit: float, unit: str = "") -> Check:
    """Passes when ``value > limit``."""
    return Check(name, value, ">", limit, unit)


def between(name: str, value: Any, lo: float, hi: float, unit: str = "") -> Check:
    """Passes when ``lo ≤ value ≤ hi``."""
    return Check(name, value, "in", (lo, hi), unit)


def equal(name: str, value: Any, expected: Any) -> Check:
    """Passes when ``value == expected`` (exact: integers, counts, labels)."""
    return Check(name, value, "==", expected)


def true(name: str, value: Any) -> Check:
    """Passes when the computed condition ``value`` (a bool) holds; ``name`` says what it is.

    Prefer a numeric check where there is a number to show: a bare condition hides how
    close it came.
    """
    return Check(name, bool(_number(value)) if not isinstance(value, bool) else value, "is", True)


def verdict(checks: Sequence[Check], refutation: Check | None = None) -> str:
    """The verdict of a claim from its checks (see the module docstring)."""
    if isinstance(checks, (bool, dict)) or not all(isinstance(c, Check) for c in checks):
        raise TypeError("a verdict is computed from Check objects (claims.at_most, ...), "
                        "not from booleans")
    outcomes = [c.passed for c in checks]
    if not outcomes:
        raise ValueError("a verdict needs at least one check")
    if refutation is not None and refutation.passed:
        if all(outcomes):
            return "refined"
        return "partly" if any(outcomes) else "not reproduced"
    if all(outcomes):
        return "reproduced"
    return "partly" if any(outcomes) else "not reproduced"


def show(item: "Claim | Iterable[Check]") -> None:
    """Print checks (or a claim: its id and verdict, then its checks) one a line:
    ``[pass] measured   (comparison)``, as the verdict table does."""
    if isinstance(item, Claim):
        print(f"{item.id}: {item.verdict}")
        checks = ([item.refutation] if item.refutation else []) + list(item.checks)
    else:
        checks = list(item)
    for c in checks:
        print(f"  [{_mark(c)}] {c.measured}   ({c.comparison})")


def section_label(chapter: str, claim_id: str) -> str:
    """The MyST label of a claim's section, e.g. ``ch01-c1`` (``(ch01-c1)=`` above its heading)."""
    return f"ch{chapter[:2]}-{claim_id.lower()}"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's verdict table; verdict, rule and measured text are derived.

    ``paper`` is what the paper states or reports (nothing else), ``checks`` the named checks
    of ``statement``, ``refutation`` a check that passes when a computed counter-example
    refutes the paper's literal statement, ``note_checks`` replaced rules shown beside ours,
    ``detail`` measured context (computed text), ``full_only`` a reason when the claim is only
    meaningful at ``full`` scale (its ``smoke`` verdict is then advisory).
    """

    id: str
    statement: str
    paper: str
    checks: tuple[Check, ...]
    refutation: Check | None = None
    note_checks: tuple[Check, ...] = ()
    kind: str = "paper"
    detail: str = ""
    full_only: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not re.fullmatch(r"[A-Z][A-Za-z]*\d+[a-z]?", self.id):
            raise ValueError(f"a claim needs an id such as 'C1', got {self.id!r}")
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "note_checks", tuple(self.note_checks))
        if not self.checks:
            raise ValueError(f"claim {self.id} has no checks: a verdict is computed from checks")
        for c in self.checks + self.note_checks + ((self.refutation,) if self.refutation else ()):
            if not isinstance(c, Check):
                raise TypeError(f"claim {self.id}: checks must be Check objects, got {c!r}")
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"claim {self.id}: check names must be distinct, got {names}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind {self.kind!r} is not one of {KINDS}")
        for name in ("statement", "paper"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"claim {self.id} needs a {name}")

    @property
    def verdict(self) -> str:
        return verdict(self.checks, self.refutation)

    @property
    def rule(self) -> str:
        parts = ([f"counter-example: {self.refutation.rule}"] if self.refutation else [])
        return "; ".join(parts + [c.rule for c in self.checks])

    @property
    def measured(self) -> str:
        parts = ([self.refutation.measured] if self.refutation else [])
        parts += [c.measured for c in self.checks]
        return "; ".join(parts) + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "statement": self.statement,
                "paper": self.paper, "verdict": self.verdict, "measured": self.measured,
                "rule": self.rule, "detail": self.detail, "full_only": self.full_only,
                "checks": [c.to_dict() for c in self.checks],
                "refutation": self.refutation.to_dict() if self.refutation else None,
                "note_checks": [c.to_dict() for c in self.note_checks]}


def _esc(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _mark(c: Check) -> str:
    return "pass" if c.passed else "FAIL"


class VerdictTable:
    """The verdict table a chapter ends with: plain text (checked by nbval) and Markdown.

    One row per claim of the paper, its checks listed under it; the book's own checks follow
    in a table of their own.
    """

    def __init__(self, chapter: str, profile: str, claims: Iterable[Claim],
                 seeds: Mapping[str, str] | None = None,
                 spreads: Mapping[str, Sequence[str]] | None = None, seeds_note: str = "",
                 seeds_link: str = ""):
        """``seeds``: claim id → its robustness (``5/5 seeds``); ``spreads``: for the claims
        whose verdict depends on the seed, one line per check (min / median / max);
        ``seeds_note`` says which seeds were counted; ``seeds_link`` is the URL of the page
        with every spread (``#<claim label>`` is appended)."""
        self.chapter, self.profile, self.claims = chapter, profile, list(claims)
        self.seeds = dict(seeds or {})
        self.spreads = {k: list(v) for k, v in (spreads or {}).items()}
        self.seeds_note, self.seeds_link = seeds_note, seeds_link

    @property
    def paper_claims(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "paper"]

    @property
    def book_checks(self) -> list[Claim]:
        return [c for c in self.claims if c.kind == "book"]

    def __repr__(self) -> str:
        lines = [f"Verdicts of {self.chapter} (profile {self.profile})"]
        for title, group in (("", self.paper_claims),
                             ("The book's own checks (not counted as reproductions)",
                              self.book_checks)):
            if not group:
                continue
            if title:
                lines.append(title)
            for c in group:
                flag = "  [full-only]" if c.full_only else ""
                rob = f"  [{self.seeds[c.id]}]" if c.id in self.seeds else ""
                lines.append(f"{c.id:<4} {c.verdict.upper()}{flag}{rob}")
                lines.append(f"     paper:    {c.paper}")
                if c.refutation:
                    lines.append(f"     counter-example [{_mark(c.refutation)}] "
                                 f"{c.refutation.measured}   ({c.refutation.comparison})")
                for k in c.checks:
                    lines.append(f"     [{_mark(k)}] {k.measured}   ({k.comparison})")
                for k in c.note_checks:
                    lines.append(f"     planned rule, not applied: [{_mark(k)}] {k.measured}   "
                                 f"({k.comparison})")
                if c.detail:
                    lines.append(f"     detail:   {c.detail}")
                for sp in self.spreads.get(c.id, ()):
                    lines.append(f"     seeds:    {sp}")
        if self.seeds_note:
            lines.append(self.seeds_note)
        return "\n".join(lines)

    def _rows(self, group: list[Claim]) -> list[str]:
        out = ["| claim | verdict | seeds | the paper | checks: measured (rule) |",
               "|---|---|---|---|---|"]
        for c in group:
            v = f"**{c.verdict}**" + (" (full-only)" if c.full_only else "")
            rob = _esc(self.seeds.get(c.id, "–"))
            if c.id in self.seeds and self.seeds_link:
                rob = f"[{rob}]({self.seeds_link}#seeds-{section_label(self.chapter, c.id)})"
            items = []
            if c.refutation:
                items.append(f"counter-example {_mark(c.refutation)}: {c.refutation.measured} "
                             f"({c.refutation.comparison})")
            items += [f"{_mark(k)}: {k.measured} ({k.comparison})" for k in c.checks]
            items += [f"planned rule, not applied, {_mark(k)}: {k.measured} ({k.comparison})"
                      for k in c.note_checks]
            cell = "<br>".join(_esc(i) for i in items)
            link = f"[{c.id}](#{section_label(self.chapter, c.id)})"
            out.append(f"| {link} | {v} | {rob} | {_esc(c.paper)} | {cell} |")
        return out

    def _repr_markdown_(self) -> str:
        out = self._rows(self.paper_claims)
        if self.book_checks:
            out += ["", "The book's own checks (not counted as reproductions):", ""]
            out += self._rows(self.book_checks)
        dependent = [c for c in self.claims if self.spreads.get(c.id)]
        if dependent:
            out += ["", ("**Verdicts that depend on the seed** (the checks whose outcome "
                         "changes with the seed, their values over the seeds):"), ""]
            for c in dependent:
                out.append(f"- {c.id} ({_esc(self.seeds.get(c.id, ''))}): "
                           + "; ".join(_esc(x) for x in self.spreads[c.id]))
        if self.seeds_note:
            out += ["", f"*{self.seeds_note}*"]
        return "\n".join(out)
