"""``relubook``: list, run and check the book's chapters.

Examples::

    relubook list
    relubook run 01 --profile smoke
    relubook run all --profile full            # re-executes and commits every chapter
    relubook run stale                         # only the chapters whose record is stale
    relubook claims                            # verdict tables of the committed records
    relubook check                             # freshness; exit 1 if any chapter is stale
    relubook deps                              # every lib module -> the chapters importing it
    relubook deps core.mlp                     # the chapters whose kernels imported one module
    relubook timings                           # wall times: smoke (build/) and committed full
    relubook pages                             # write book/generated/{dashboard,status}.md

``relubook deps`` reads the ``lib_modules`` of the committed records (``data/claims/``), so it
names the chapters that editing a module would stale. ``MODULE`` may be a path
(``relubook/core/mlp.py``, ``core/mlp.py``), a dotted name (``relubook.core.mlp``,
``core.mlp``) or a name that only one module has (``mlp``); an unknown or ambiguous name is an
error that lists the candidates. Chapters without a readable committed record are not counted
(a note on stderr names them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import freshness, pages, paths, profiles, records, seeds

__all__ = ["build_parser", "cmd_check", "cmd_claims", "cmd_deps", "cmd_list", "cmd_pages",
           "cmd_run", "cmd_timings", "main"]


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def cmd_list(args) -> int:
    for st in freshness.all_status():
        state = "fresh" if st.fresh else "stale"
        print(f"{st.chapter:<24} {pages.chapter_title(st.chapter):<60} {state}")
    return 0


def cmd_run(args) -> int:
    from .runner import run_chapter

    profiles.check_profile(args.profile)
    if args.chapter == "all":
        names = paths.chapters()
    elif args.chapter == "stale":
        names = [s.chapter for s in freshness.all_status() if not s.fresh]
        if not names:
            print("every chapter is fresh; nothing to run")
    else:
        names = [paths.resolve_chapter(args.chapter)]
    overrides = _parse_set(args.set)
    for name in names:
        print(f"running {name} at profile {args.profile} (seed {args.seed}) ...", flush=True)
        res = run_chapter(name, args.profile, args.seed, overrides,
                          Path(args.out) if args.out else None, progress=not args.quiet,
                          cell_timeout=args.cell_timeout)
        print(f"{name}: {res.wall_s:.1f} s -> {res.notebook}"
              + (f" (committed with {res.record})" if res.committed else f", record {res.record}"))
    return 0


def cmd_claims(args) -> int:
    if args.profile == "full":
        files = [records.committed_path(c) for c in paths.chapters()]
    else:
        files = [records.build_path(c, args.profile) for c in paths.chapters()]
    for f in files:
        rec = records.load(f)
        print(f"\n{rec['chapter']} ({rec['profile']}, {rec['wall_s']:.0f} s)")
        for c in rec["claims"]:
            print(f"  {c['id']:<4} {c['verdict']:<15} {c['statement']}")
    return 0


def cmd_check(args) -> int:
    stale = 0
    for st in freshness.all_status():
        bad = seeds.problems(st.chapter)
        print(f"{st.chapter:<24} {'fresh' if st.fresh else 'STALE'}"
              f"{'' if not bad else '   seeds: STALE'}")
        for r in st.reasons:
            print(f"    - {r}")
        for r in bad:
            print(f"    - seeds: {r}")
        stale += (not st.fresh) + bool(bad)
    return 1 if stale else 0


def cmd_seeds(args) -> int:
    profiles.check_profile(args.profile)
    wanted = seeds.parse_seeds(args.seeds)
    names = paths.chapters() if args.chapter == "all" else [paths.resolve_chapter(args.chapter)]
    for name in names:
        f = seeds.run_seeds(name, args.profile, wanted, jobs=args.jobs, progress=not args.quiet)
        data = seeds.load(name, args.profile)
        flips = [c["id"] for c in data["claims"] if not c["robust"]]
        print(f"{name} ({args.profile}): seeds {', '.join(map(str, data['seeds']))} -> {f}"
              + (f"; verdict depends on the seed: {', '.join(flips)}" if flips else
                 "; every verdict is the same at every seed"))
    return 0


def cmd_deps(args) -> int:
    """Which chapters import a module (or, with no module, every module), from the records."""
    users = freshness.dependents()
    for c in paths.chapters():
        try:
            records.load(records.committed_path(c))
        except records.RecordError as e:
            print(f"relubook: note: {c} is not counted: {e}", file=sys.stderr)
    if args.module:
        mod = freshness.resolve_module(args.module, list(users))
        chs = users[mod]
        print(f"{mod}: imported by {len(chs)} chapter(s)")
        for c in chs:
            print(f"  {c}")
        return 0
    if not users:
        print("no committed record lists any module")
        return 0
    width = max(len("module"), *(len(m) for m in users))
    print(f"{'module':<{width}}  {'n':>2}  chapters")
    for mod, chs in users.items():
        print(f"{mod:<{width}}  {len(chs):>2}  {', '.join(chs)}")
    return 0


def cmd_timings(args) -> int:
    """Per-chapter wall times of the smoke records in build/ and the committed full records."""
    print(f"{'chapter':<24} {'smoke':>8} {'full':>8}")
    for c in paths.chapters():
        cells = []
        for f in (records.build_path(c, "smoke"), records.committed_path(c)):
            try:
                cells.append(f"{records.load(f)['wall_s']:.0f} s")
            except records.RecordError:
                cells.append("-")
        print(f"{c:<24} {cells[0]:>8} {cells[1]:>8}")
    return 0


def cmd_pages(args) -> int:
    for p in pages.write_pages():
        print(f"wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relubook", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the chapters and whether each is fresh"
                   ).set_defaults(func=cmd_list)
    r = sub.add_parser("run", help="execute chapters with papermill")
    r.add_argument("chapter", help="NN, slug, NN_slug, 'all' or 'stale'")
    r.add_argument("--profile", default="full", help=f"one of {', '.join(profiles.PROFILES)}")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting of the chapter's profile table (JSON value)")
    r.add_argument("--out", help="folder for the executed copy (a full run with --out is not "
                   "committed)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("claims", help="print the verdicts of every chapter")
    c.add_argument("--profile", default="full", help="full (committed records) or smoke (build/)")
    c.set_defaults(func=cmd_claims)
    sub.add_parser("check", help="freshness of the committed chapters and seeds files"
                   ).set_defaults(func=cmd_check)
    s = sub.add_parser("seeds", help="re-run chapters at several seeds "
                       "(data/seeds/<chapter>.<profile>.json)")
    s.add_argument("chapter", help="NN, slug, NN_slug or 'all'")
    s.add_argument("--profile", default="smoke", help=f"one of {', '.join(profiles.PROFILES)}")
    s.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,2,7 (default 0-4)")
    s.add_argument("--jobs", type=int, default=None,
                   help="parallel processes (default: one per CPU core)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_seeds)
    d = sub.add_parser("deps", help="which chapters import a lib module (committed records)")
    d.add_argument("module", nargs="?", help="relubook/core/mlp.py, core/mlp.py, core.mlp or mlp; "
                   "omit for a table of every module")
    d.set_defaults(func=cmd_deps)
    sub.add_parser("timings", help="per-chapter wall times (smoke in build/, committed full)"
                   ).set_defaults(func=cmd_timings)
    sub.add_parser("pages", help="write the dashboard and status pages"
                   ).set_defaults(func=cmd_pages)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .runner import ChapterError

    try:
        return args.func(args)
    except (ValueError, TypeError, RuntimeError, records.RecordError, ChapterError) as e:
        print(f"relubook: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relubook: interrupted; committed notebooks and records are unchanged",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
