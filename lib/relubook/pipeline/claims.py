"""Claims and verdicts: every claim of a chapter is an executable check.

A verdict is computed from the checks, never typed:

* ``reproduced``     -- every check of the claim passes;
* ``partly``         -- some checks pass, some do not;
* ``not reproduced`` -- no check passes;
* ``refined``        -- the literal statement fails on a computed counter-example, and a
  corrected statement (given in ``statement``/``measured``) passes its checks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

__all__ = ["VERDICTS", "Claim", "VerdictTable", "fmt", "verdict"]

VERDICTS = ("reproduced", "partly", "not reproduced", "refined")


def verdict(checks: bool | Mapping[str, bool], *, refined_by: bool | None = None) -> str:
    """The verdict of a claim from the outcome of its checks.

    Parameters
    ----------
    checks
        One boolean, or ``{check name: passed}`` for a claim with several checks.
    refined_by
        ``True`` when a counter-example to the claim's literal statement was computed;
        then the verdict is ``refined`` if all ``checks`` (those of the corrected
        statement) pass, and ``partly`` otherwise.
    """
    outcomes = [bool(checks)] if isinstance(checks, bool) else [bool(v) for v in checks.values()]
    if not outcomes:
        raise ValueError("a verdict needs at least one check")
    if refined_by:
        return "refined" if all(outcomes) else "partly"
    if all(outcomes):
        return "reproduced"
    return "partly" if any(outcomes) else "not reproduced"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's verdict table.

    ``paper`` is what the paper states or reports, ``measured`` what we measured (a string
    at stable precision), ``rule`` the numerical rule applied, ``full_only`` a reason when
    the check is only meaningful at ``full`` scale (its ``smoke`` verdict is then advisory).
    """

    id: str
    statement: str
    paper: str
    measured: str
    rule: str
    verdict: str
    full_only: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if not self.id:
            raise ValueError("a claim needs an id such as 'C1'")

    def to_dict(self) -> dict:
        return asdict(self)


def fmt(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, in a form that is stable across runs."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


class VerdictTable:
    """The verdict table a chapter ends with: plain text (checked by nbval) and Markdown."""

    columns = ("id", "verdict", "paper", "measured", "rule")

    def __init__(self, chapter: str, profile: str, claims: list[Claim]):
        self.chapter, self.profile, self.claims = chapter, profile, list(claims)

    def rows(self) -> list[tuple[str, ...]]:
        return [tuple(getattr(c, k) for k in self.columns) for c in self.claims]

    def __repr__(self) -> str:
        lines = [f"Verdicts of {self.chapter} (profile {self.profile})"]
        for c in self.claims:
            flag = "  [full-only]" if c.full_only else ""
            lines.append(f"{c.id:<4} {c.verdict.upper()}{flag}")
            lines.append(f"     paper:    {c.paper}")
            lines.append(f"     measured: {c.measured}")
            lines.append(f"     rule:     {c.rule}")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        def esc(s: str) -> str:
            return str(s).replace("|", "\\|").replace("\n", " ")

        out = ["| claim | verdict | the paper | we measured | rule |", "|---|---|---|---|---|"]
        for c in self.claims:
            v = f"**{c.verdict}**" + (" (full-only)" if c.full_only else "")
            out.append(f"| {c.id} | {v} | {esc(c.paper)} | {esc(c.measured)} | {esc(c.rule)} |")
        return "\n".join(out)
