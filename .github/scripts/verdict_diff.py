"""Print, as a Markdown list, every claim whose verdict differs between a git revision and the
working tree: ``python .github/scripts/verdict_diff.py --base HEAD [--claims-dir data/claims]``.

Used by the weekly regeneration workflow for the body of its pull request. A record is
``data/claims/NN_slug.json`` with ``claims: [{"id": "C1", "verdict": "reproduced", ...}, ...]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def verdicts(record: dict) -> dict[str, str]:
    """Claim id -> verdict of one record."""
    return {c["id"]: c["verdict"] for c in record.get("claims", [])}


def diff(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """Markdown lines for the changed verdicts of records keyed by chapter (``NN_slug``)."""
    lines = []
    for chapter in sorted(set(old) | set(new)):
        if chapter not in new:
            lines.append(f"- `{chapter}`: record removed")
            continue
        before = verdicts(old.get(chapter, {}))
        after = verdicts(new[chapter])
        for cid in sorted(set(before) | set(after), key=_claim_key):
            b, a = before.get(cid), after.get(cid)
            if b == a:
                continue
            lines.append(f"- `{chapter}` {cid}: {b or '(new claim)'} → {a or '(claim removed)'}")
    return lines


def _claim_key(cid: str):
    digits = "".join(ch for ch in cid if ch.isdigit())
    return (cid.rstrip("0123456789"), int(digits) if digits else 0, cid)


def load_tree(claims_dir: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(claims_dir.glob("*.json"))}


def load_rev(rev: str, claims_dir: Path, repo: Path) -> dict[str, dict]:
    rel = claims_dir.resolve().relative_to(repo.resolve()).as_posix()
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{rel}"], cwd=repo,
                           check=True, capture_output=True, text=True).stdout.split()
    out = {}
    for name in names:
        if name.endswith(".json"):
            text = subprocess.run(["git", "show", f"{rev}:{rel}/{name}"], cwd=repo, check=True,
                                  capture_output=True, text=True).stdout
            out[name[:-5]] = json.loads(text)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--claims-dir", default="data/claims", type=Path)
    ap.add_argument("--repo", default=".", type=Path)
    args = ap.parse_args(argv)
    claims_dir = args.claims_dir if args.claims_dir.is_absolute() else args.repo / args.claims_dir
    lines = diff(load_rev(args.base, claims_dir, args.repo), load_tree(claims_dir))
    print("\n".join(lines) if lines else "No verdict changed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
