"""A chapter run: seeding, configuration, claims, and the record written at the end.

In a notebook::

    run = runs.start("01_spline_init", profile=profile, seed=seed, overrides=overrides)
    cfg = run.configure({"n": 1000, "lr": 0.1, ...}, smoke={"n": 100})   # full, smoke diff
    run.config_table()    # setting | full | smoke
    ...
    run.claim("C1", statement=..., paper=..., checks=[claims.at_most("max error", err, 1e-12)])
    run.finish()          # last cell: writes the record, shows the verdict table
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import paths, profiles, records, seeding, seeds
from .claims import Check, Claim, VerdictTable

__all__ = ["SEEDS_PAGE", "VERSIONED", "Run", "imported_lib_modules", "start", "versions"]

#: Where the verdict table links each claim's seed spread (relative to a chapter page).
SEEDS_PAGE = "../book/generated/seeds.html"

#: Packages whose versions go into every record.
VERSIONED = ("numpy", "scipy", "torch", "matplotlib", "scikit-learn", "scikit-image",
             "papermill", "jupyter-book")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def imported_lib_modules() -> list[str]:
    """Paths (relative to ``lib/``) of the ``relubook`` modules imported by this process."""
    base = paths.lib_dir().parent.resolve()
    out = []
    for name, mod in list(sys.modules.items()):
        if not (name == "relubook" or name.startswith("relubook.")):
            continue
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve().is_relative_to(base):
            out.append(Path(f).resolve().relative_to(base).as_posix())
    return sorted(out)


class Run:
    """State of one chapter execution; create it with :func:`start`."""

    def __init__(self, chapter: str, profile: str, seed: int,
                 overrides: Mapping[str, Any] | None, threads: int):
        self.chapter = chapter
        self.profile = profiles.check_profile(profile)
        self.seed = profiles.check_seed(seed)
        self.overrides = dict(overrides or {})
        self.rng = seeding.seed_everything(self.seed, threads=threads)
        self.config: Mapping[str, Any] | None = None
        self.full: dict[str, Any] | None = None
        self.smoke: dict[str, Any] | None = None
        self.claims: list[Claim] = []
        self.numbers: dict[str, Any] = {}
        self.t0 = time.perf_counter()

    def configure(self, full: Mapping[str, Any],
                  smoke: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        """This run's settings (read-only), validated.

        Parameters
        ----------
        full
            Every setting of the chapter, with its ``full`` value.
        smoke
            Only the settings the ``smoke`` profile changes; each key must be in ``full``,
            each value must have the full value's type and differ from it.
        """
        self.config = profiles.resolve(full, smoke, self.profile, self.overrides)
        self.full = dict(full)
        self.smoke = profiles.check_smoke_diff(full, smoke)
        return self.config

    def config_table(self) -> profiles.ConfigTable:
        """The settings of both profiles side by side (``=``: smoke keeps the full value)."""
        if self.full is None:
            raise RuntimeError("config_table() called before configure()")
        return profiles.ConfigTable(self.full, self.smoke, self.profile, self.overrides)

    def claim(self, id: str, *, statement: str, paper: str, checks: Sequence[Check],
              refutation: Check | None = None, note_checks: Sequence[Check] = (),
              kind: str = "paper", detail: str = "", full_only: str | None = None,
              **typed: Any) -> Claim:
        """Record one claim, judged by its named ``checks`` (replacing one with the same id).

        The verdict, the rule text and the measured text are derived from the checks
        (:class:`relubook.pipeline.claims.Claim`); there is no way to type them.
        """
        if typed:
            raise TypeError(f"run.claim() takes checks, not {', '.join(sorted(typed))}: the "
                            "verdict, rule and measured text are computed from the checks "
                            "(claims.at_most, claims.between, ...)")
        c = Claim(id, statement, paper, tuple(checks), refutation, tuple(note_checks), kind,
                  detail, full_only)
        self.claims = [x for x in self.claims if x.id != id] + [c]
        return c

    def number(self, name: str, value: Any) -> None:
        """Keep a key number in the record (floats are rounded to 6 significant digits)."""
        if isinstance(value, float):
            value = float(f"{value:.6g}")
        self.numbers[name] = value

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def record(self) -> dict:
        mods = records.module_hashes(imported_lib_modules())
        nb = paths.notebooks_dir() / f"{self.chapter}.ipynb"
        return {
            "chapter": self.chapter,
            "profile": self.profile,
            "seed": self.seed,
            "overrides": self.overrides,
            "config": dict(self.config or {}),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wall_s": round(self.elapsed, 1),
            "code_hash": records.code_hash(nb),
            "lib_hash": records.combined_hash(mods),
            "lib_modules": mods,
            "versions": versions(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "numbers": self.numbers,
            "claims": [c.to_dict() for c in sorted(self.claims, key=_claim_key)],
        }

    def finish(self) -> VerdictTable:
        """Write the record (atomically) and return the verdict table for display."""
        if not self.claims:
            raise RuntimeError("finish() called before any claim was recorded")
        rec = records.validate(self.record(), f"record of {self.chapter}")
        out = Path(os.environ.get("RELUBOOK_RECORD") or records.build_path(self.chapter, self.profile))
        paths.atomic_write_text(out, json.dumps(rec, indent=1, sort_keys=False) + "\n")
        rob, spreads, note = self.seed_robustness(rec["claims"])
        return VerdictTable(self.chapter, self.profile, sorted(self.claims, key=_claim_key),
                            seeds=rob, spreads=spreads, seeds_note=note,
                            seeds_link=SEEDS_PAGE)

    def seed_robustness(self, claims: Sequence[Mapping[str, Any]]
                        ) -> tuple[dict[str, str], dict[str, list[str]], str]:
        """Robustness of this run's claims over the seeds in ``data/seeds`` (this profile's
        file; at ``full`` without one, the ``smoke`` file, said so in the note)."""
        profile, current = self.profile, claims
        if profile == "full" and not seeds.file_path(self.chapter, "full").is_file() \
                and seeds.file_path(self.chapter, "smoke").is_file():
            profile, current = "smoke", None
        summary, note = seeds.robustness(self.chapter, profile, current, self.seed)
        if profile != self.profile:
            note += " No `full` seeds file: the other seeds were run at `smoke`."
        mine = {c["id"]: c["verdict"] for c in claims}
        rob, spreads = {}, {}
        for cid, sm in summary.items():
            if cid not in mine or len(sm["verdicts"]) < 2:
                continue
            rob[cid] = seeds.robustness_text(sm, mine[cid] if current is not None else None)
            if profile != self.profile:
                rob[cid] += " (smoke)"
            if not sm["robust"]:
                # the checks whose outcome changes with the seed (every check when none does:
                # then the counter-example's outcome does); the seeds page lists them all
                varying = [k for k in sm["checks"] if len(set(k["passed"].values())) > 1]
                spreads[cid] = [seeds.spread_text(k) for k in varying or sm["checks"]]
        return rob, spreads, note


def _claim_key(c: Claim) -> tuple:
    head = c.id.rstrip("0123456789")
    tail = c.id[len(head):]
    return (head, int(tail) if tail else 0, c.id)


def start(chapter: str, profile: str = "full", seed: int = 0,
          overrides: Mapping[str, Any] | None = None, threads: int = 1) -> Run:
    """Begin a chapter run: validate, seed everything, fix threads, start the clock."""
    if not paths.CHAPTER_RE.match(chapter):
        raise ValueError(f"chapter name {chapter!r} must look like 'NN_slug'")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}")
    return Run(chapter, profile, seed, overrides, threads)
