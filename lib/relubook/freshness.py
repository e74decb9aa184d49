"""Is a committed chapter fresh? Its record must match its code cells and its lib modules.

A record lists the ``relubook`` modules the chapter's kernel imported, each with a hash;
a chapter is stale when its code cells changed or when one of *those* modules changed, so
editing one science module stales only the chapters that import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, records


@dataclass
class Status:
    chapter: str
    fresh: bool
    reasons: list[str] = field(default_factory=list)
    record: dict | None = None


def notebook_problems(notebook: Path) -> list[str]:
    """Error outputs and never-executed code cells of a committed notebook."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    problems = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    unexec = sum(c.get("execution_count") is None for c in code)
    errors = sum(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    if unexec:
        problems.append(f"{unexec} code cell(s) were never executed")
    if errors:
        problems.append(f"{errors} cell(s) hold error outputs")
    return problems


def chapter_status(chapter: str, root: Path | None = None) -> Status:
    """Freshness of one committed chapter, with the reasons when it is stale."""
    nb = paths.notebooks_dir(root) / f"{chapter}.ipynb"
    try:
        rec = records.load(records.committed_path(chapter, root))
    except records.RecordError as e:
        return Status(chapter, False, [str(e)])
    reasons = []
    if rec["profile"] != "full":
        reasons.append(f"the committed record is of profile {rec['profile']!r}, not 'full'")
    if rec["chapter"] != chapter:
        reasons.append(f"the record names chapter {rec['chapter']!r}")
    if records.code_hash(nb) != rec["code_hash"]:
        reasons.append("the notebook's code cells changed since the recorded run")
    now = records.module_hashes(rec["lib_modules"], root)
    for mod, h in sorted(now.items()):
        if h is None:
            reasons.append(f"{mod} no longer exists")
        elif h != rec["lib_modules"][mod]:
            reasons.append(f"{mod} changed since the recorded run")
    reasons += notebook_problems(nb)
    return Status(chapter, not reasons, reasons, rec)


def all_status(root: Path | None = None) -> list[Status]:
    return [chapter_status(c, root) for c in paths.chapters(root)]
