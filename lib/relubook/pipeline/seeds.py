"""Seed robustness: a chapter re-run at several seeds, each claim's verdicts and check spreads.

``relubook seeds CHAPTER --profile smoke --seeds 0-4`` executes the chapter once per seed (in
parallel processes, one BLAS thread each) and keeps, in ``data/seeds/<chapter>.<profile>.json``,

* ``runs``: one entry per seed, taken from that run's record: the code hash and the hashes of
  the ``lib`` modules the kernel imported, the wall time, and for each claim its verdict and
  each check's measured value, comparison and outcome;
* ``claims``: the summary per claim: its verdict at each seed, whether the verdict is the same
  at every seed (``robust``), and for each check the spread (min, median, max) of its measured
  value next to its comparison.

The file is rewritten (atomically) after every finished seed, so an interrupted run loses
nothing that finished, and a new call runs only the seeds that have no entry for the current
code. A seed's entry is *current* when its code hash and module hashes equal the chapter's now;
the file is *fresh* when every entry is current (:func:`status`), like a committed record
(:mod:`relubook.pipeline.freshness`).

A chapter's verdict table (``run.finish()``) and the claims dashboard read these files and
show, next to each verdict, ``5/5 seeds`` or ``3/5 seeds: partly at seeds 1, 4``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths, records

__all__ = ["FORMAT", "FULL_SEEDS_LIMIT_S", "MIN_FULL_SEEDS", "MIN_SMOKE_SEEDS", "SeedStatus", "committed_entry", "entry_from_record", "file_path", "load",
           "parse_seeds", "problems", "ranges", "required", "robustness", "robustness_text", "run_seeds", "seeds_dir",
           "spread_text", "stale_reasons", "status", "summarise", "write"]

#: Version of the file layout.
FORMAT = 1
#: Seeds a committed ``smoke`` seeds file must hold, at least.
MIN_SMOKE_SEEDS = 5
#: Seeds a committed ``full`` seeds file must hold, at least, where one is required.
MIN_FULL_SEEDS = 3
#: A chapter whose committed ``full`` run took less than this (seconds) must have a ``full``
#: seeds file; longer chapters have one where the budget allows.
FULL_SEEDS_LIMIT_S = 360.0


def seeds_dir(root: Path | None = None) -> Path:
    """``data/seeds``: the committed seed-robustness files."""
    return (root or paths.repo_root()) / "data" / "seeds"


def file_path(chapter: str, profile: str, root: Path | None = None) -> Path:
    return seeds_dir(root) / f"{chapter}.{profile}.json"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,2,7"`` → [0, 2, 7]; ranges and lists mix (``"0-2,9"``)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"seeds must look like '0-4' or '0,2,7' (non-negative integers); "
                             f"got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"empty seed range {part!r}: write low-high, e.g. '0-4'")
        out += [s for s in range(lo, hi + 1) if s not in out]
    return out


# ------------------------------------------------------------------------------ entries
def entry_from_record(rec: Mapping[str, Any]) -> dict:
    """The part of a run record that the seeds file keeps for one seed."""
    return {
        "seed": int(rec["seed"]),
        "code_hash": rec["code_hash"],
        "lib_modules": dict(rec["lib_modules"]),
        "wall_s": rec["wall_s"],
        "date": rec.get("date", ""),
        "claims": [{
            "id": c["id"], "kind": c["kind"], "verdict": c["verdict"],
            "full_only": c.get("full_only"),
            "checks": [_check(ch) for ch in c["checks"]]
            + ([_check(c["refutation"], "counter-example: ")] if c.get("refutation") else []),
        } for c in rec["claims"]],
    }


def _check(ch: Mapping[str, Any], prefix: str = "") -> dict:
    out = {k: ch[k] for k in ("name", "value", "op", "threshold", "unit", "passed")}
    out["name"] = prefix + out["name"]
    return out


def stale_reasons(entry: Mapping[str, Any], chapter: str, root: Path | None = None) -> list[str]:
    """Why a seed's entry no longer describes the chapter's code (empty when it does)."""
    reasons = []
    nb = paths.notebooks_dir(root) / f"{chapter}.ipynb"
    if records.code_hash(nb) != entry["code_hash"]:
        reasons.append("the notebook's code cells changed")
    now = records.module_hashes(entry["lib_modules"], root)
    for mod, h in sorted(now.items()):
        if h != entry["lib_modules"][mod]:
            reasons.append(f"{mod} changed" if h else f"{mod} no longer exists")
    return reasons


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summarise(runs: Mapping[int, Mapping[str, Any]]) -> list[dict]:
    """Per claim: verdicts by seed, ``robust``, and each check's spread over the seeds.

    Claims and checks are matched by id and name; a check that some seed lacks is summarised
    over the seeds that have it (``values`` says which).
    """
    by_claim: dict[str, dict] = {}
    for seed in sorted(runs):
        for c in runs[seed]["claims"]:
            s = by_claim.setdefault(c["id"], {"id": c["id"], "kind": c["kind"],
                                              "full_only": c.get("full_only"), "verdicts": {},
                                              "checks": {}})
            s["verdicts"][str(seed)] = c["verdict"]
            for ch in c["checks"]:
                k = s["checks"].setdefault(ch["name"], {
                    "name": ch["name"], "op": ch["op"], "threshold": ch["threshold"],
                    "unit": ch["unit"], "values": {}, "passed": {}})
                k["values"][str(seed)] = ch["value"]
                k["passed"][str(seed)] = ch["passed"]
    out = []
    for s in by_claim.values():
        checks = []
        for k in s["checks"].values():
            nums = [float(v) for v in k["values"].values()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if nums:
                k.update(min=min(nums), median=_median(nums), max=max(nums))
            checks.append(k)
        s["checks"] = checks
        s["robust"] = len(set(s["verdicts"].values())) == 1
        out.append(s)
    return out


# ------------------------------------------------------------------------------ files
def load(chapter: str, profile: str, root: Path | None = None) -> dict | None:
    """The seeds file of a chapter and profile, or None when there is none."""
    f = file_path(chapter, profile, root)
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise records.RecordError(f"{records.display_path(f, root)} is not valid JSON: {e}")
    if data.get("format") != FORMAT or data.get("chapter") != chapter \
            or data.get("profile") != profile:
        raise records.RecordError(f"{records.display_path(f, root)} is not a seeds file of "
                                  f"{chapter} at profile {profile}")
    data["runs"] = {int(k): v for k, v in data["runs"].items()}
    return data


def write(chapter: str, profile: str, runs: Mapping[int, Mapping[str, Any]],
          root: Path | None = None) -> Path:
    """Write (atomically) the seeds file from per-seed entries; return its path."""
    runs = {int(k): v for k, v in runs.items()}
    data = {
        "format": FORMAT,
        "chapter": chapter,
        "profile": profile,
        "seeds": sorted(runs),
        "updated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "claims": summarise(runs),
        "runs": {str(k): runs[k] for k in sorted(runs)},
    }
    f = file_path(chapter, profile, root)
    f.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_text(f, json.dumps(data, indent=1) + "\n")
    return f


@dataclass
class SeedStatus:
    chapter: str
    profile: str
    exists: bool
    fresh: bool
    seeds: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def status(chapter: str, profile: str, root: Path | None = None) -> SeedStatus:
    """Is the seeds file there, and does every seed's entry describe the current code?"""
    try:
        data = load(chapter, profile, root)
    except records.RecordError as e:
        return SeedStatus(chapter, profile, True, False, [], [str(e)])
    if data is None:
        return SeedStatus(chapter, profile, False, False, [],
                          [f"no {records.display_path(file_path(chapter, profile, root), root)}"])
    reasons = []
    for seed, entry in sorted(data["runs"].items()):
        why = stale_reasons(entry, chapter, root)
        if why:
            reasons.append(f"seed {seed}: " + "; ".join(why))
    return SeedStatus(chapter, profile, True, not reasons, sorted(data["runs"]), reasons)


def required(chapter: str, root: Path | None = None) -> dict[str, str | None]:
    """``{profile: None}`` for the seeds files a chapter must have committed, and for a
    ``full`` file it need not have, the reason (``{"full": "its full run takes 13 min ..."}``)."""
    out: dict[str, str | None] = {"smoke": None}
    try:
        wall = float(records.load(records.committed_path(chapter, root))["wall_s"])
    except records.RecordError:
        out["full"] = "no valid committed full record yet"
        return out
    if wall < FULL_SEEDS_LIMIT_S:
        out["full"] = None
    else:
        out["full"] = (f"its full run takes {wall / 60:.0f} min (over "
                       f"{FULL_SEEDS_LIMIT_S / 60:.0f} min), so full seeds are run only where "
                       "the budget allows")
    return out


def problems(chapter: str, root: Path | None = None) -> list[str]:
    """What is missing or stale among a chapter's required seeds files (empty: all good)."""
    out = []
    for profile, excuse in required(chapter, root).items():
        st = status(chapter, profile, root)
        need = MIN_SMOKE_SEEDS if profile == "smoke" else MIN_FULL_SEEDS
        if excuse is not None and not st.exists:
            continue
        if not st.exists:
            out.append(f"no {profile} seeds file (relubook seeds {chapter[:2]} --profile "
                       f"{profile} --seeds 0-{need - 1})")
            continue
        out += [f"{profile} seeds: {r}" for r in st.reasons]
        if len(st.seeds) < need:
            out.append(f"{profile} seeds file holds {len(st.seeds)} seed(s), fewer than {need}")
    return out


# ------------------------------------------------------------------------------ robustness
def robustness_text(summary: Mapping[str, Any], reference: str | None = None) -> str:
    """``5/5 seeds`` or ``3/5 seeds: partly at seeds 1, 4`` for one claim's summary.

    The minority is named against ``reference`` (default: the verdict at the lowest seed).
    """
    verdicts = {int(k): v for k, v in summary["verdicts"].items()}
    if not verdicts:
        return "seeds not run"
    seeds = sorted(verdicts)
    ref = reference or verdicts[seeds[0]]
    same = [s for s in seeds if verdicts[s] == ref]
    text = f"{len(same)}/{len(seeds)} seeds"
    others: dict[str, list[int]] = {}
    for s in seeds:
        if verdicts[s] != ref:
            others.setdefault(verdicts[s], []).append(s)
    if others:
        text += ": " + "; ".join(
            f"{v} at seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))}"
            for v, ss in others.items())
    return text


def spread_text(check: Mapping[str, Any]) -> str:
    """``name: 0.12 / 0.15 / 0.31 (min / median / max; rule ≤ 0.2), passes at 3/5 seeds``."""
    from .claims import comparison, fmt

    n_pass = sum(bool(v) for v in check["passed"].values())
    rule = comparison(check["op"], check["threshold"], check["unit"])
    tail = f"passes at {n_pass}/{len(check['passed'])} seeds"
    if "min" not in check:
        return f"{check['name']} ({rule}): {tail}"
    return (f"{check['name']}: {fmt(check['min'])} / {fmt(check['median'])} / "
            f"{fmt(check['max'])} (min / median / max; rule {rule}), {tail}")


def robustness(chapter: str, profile: str, current: Sequence[Mapping[str, Any]] | None = None,
               seed: int | None = None, root: Path | None = None
               ) -> tuple[dict[str, dict], str]:
    """Each claim's summary over the *current* entries of the seeds file, and a note.

    ``current`` (the running chapter's claims, as ``Claim.to_dict()``) and ``seed`` replace
    that seed's entry, so a chapter's own run is always counted. The note says which seeds
    were used and which entries were left out because they ran on other code: the table
    never mixes code versions.
    """
    note = ""
    try:
        data = load(chapter, profile, root)
    except records.RecordError as e:
        data, note = None, f"seed robustness unavailable: {e}"
    runs: dict[int, dict] = {}
    stale: list[int] = []
    if data is not None:
        for s, entry in data["runs"].items():
            if stale_reasons(entry, chapter, root):
                stale.append(s)
            else:
                runs[s] = entry
    if current is not None and seed is not None:
        runs[int(seed)] = entry_from_record({"seed": seed, "code_hash": "", "lib_modules": {},
                                             "wall_s": 0.0, "claims": list(current)})
    out = {c["id"]: c for c in summarise(runs)}
    if not note:
        shown = sorted(runs)
        if len(shown) <= 1:
            note = (f"Seed robustness at `{profile}`: no other seed has been run on this code "
                    f"(`relubook seeds {chapter[:2]} --profile {profile} --seeds 0-4`).")
        else:
            note = f"Seed robustness at `{profile}`: seeds {ranges(shown)}."
        if stale:
            note += (f" Seeds {ranges(sorted(stale))} of the seeds file ran on other code and "
                     "are left out.")
    return out, note


def ranges(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(str(start) if start == s else f"{start}–{s}")
            start = None
    return ", ".join(parts)


# ------------------------------------------------------------------------------ running
def committed_entry(chapter: str, profile: str, root: Path | None = None) -> dict | None:
    """The committed ``full`` record as a seeds entry, when it is current (no need to re-run)."""
    if profile != "full":
        return None
    try:
        rec = records.load(records.committed_path(chapter, root))
    except records.RecordError:
        return None
    entry = entry_from_record(rec)
    if rec["profile"] != "full" or rec.get("overrides") or stale_reasons(entry, chapter, root):
        return None
    return entry


def _run_one(chapter: str, profile: str, seed: int, root: str) -> dict:
    """Worker: execute one seed into ``build/seeds/`` and return its entry."""
    from .runner import run_chapter

    work = Path(root) / "build" / "seeds" / f"{chapter}.{profile}" / f"seed{seed}"
    res = run_chapter(chapter, profile, seed, out=work, record=work / "record.json",
                      progress=False)
    return entry_from_record(records.load(res.record))


def run_seeds(chapter: str, profile: str, seeds: Iterable[int], jobs: int | None = None,
              progress: bool = True, root: Path | None = None,
              worker: Callable[[str, str, int, str], dict] = _run_one,
              log: Callable[[str], None] = print) -> Path:
    """Run the seeds that have no current entry, updating the file after each one.

    Args:
        chapter, profile: the chapter (``NN_slug``) and profile.
        seeds: the seeds wanted in the file (others already there are kept if current).
        jobs: parallel processes (default: one per CPU core, at most one per seed to run).
        worker: runs one seed and returns its entry (tests pass a fake).

    Returns:
        The path of the written seeds file.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    root = root or paths.repo_root()
    seeds = sorted({int(s) for s in seeds})
    if not seeds:
        raise ValueError("no seeds to run")
    old = load(chapter, profile, root)
    runs: dict[int, dict] = {}
    for s, entry in (old["runs"].items() if old else ()):
        if not stale_reasons(entry, chapter, root):
            runs[s] = entry
    dropped = sorted(set(old["runs"]) - set(runs)) if old else []
    if dropped:
        log(f"{chapter}: seeds {ranges(dropped)} ran on other code; running them again")
    reuse = committed_entry(chapter, profile, root)
    if reuse is not None and reuse["seed"] in seeds and reuse["seed"] not in runs:
        runs[reuse["seed"]] = reuse
        log(f"{chapter}: seed {reuse['seed']} taken from the committed full record")
    todo = [s for s in seeds if s not in runs]
    if not todo:
        log(f"{chapter} ({profile}): every seed of {ranges(seeds)} is current; nothing to run")
        return write(chapter, profile, runs, root)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"{chapter} {profile} seeds", unit="seed")
    failures = []
    if jobs == 1 and worker is not _run_one:
        for s in todo:
            runs[s] = worker(chapter, profile, s, str(root))
            write(chapter, profile, runs, root)
            if bar:
                bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pending = {pool.submit(worker, chapter, profile, s, str(root)): s for s in todo}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        s = pending.pop(fut)
                        try:
                            runs[s] = fut.result()
                        except Exception as e:  # noqa: BLE001  (a failed seed is reported; the rest go on)
                            failures.append(f"seed {s}: {e}")
                            continue
                        write(chapter, profile, runs, root)
                        if bar:
                            bar.update()
            except KeyboardInterrupt:
                for fut in pending:
                    fut.cancel()
                raise
    if bar:
        bar.close()
    f = write(chapter, profile, runs, root)
    if failures:
        raise RuntimeError(f"{chapter} ({profile}): {len(failures)} seed(s) failed; the others "
                           f"are in {f}:\n" + "\n".join(failures))
    return f
