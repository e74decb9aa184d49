"""Is a committed chapter fresh? Its record must match its code cells and its lib modules.

A record lists the ``relubook`` modules the chapter's kernel imported, each with a hash;
a chapter is stale when its code cells changed or when one of *those* modules changed, so
editing one science module stales only the chapters that import it. :func:`dependents`
reads the same records the other way round: which chapters import a module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, records

__all__ = ["Status", "all_status", "chapter_status", "dependents", "module_name",
           "notebook_problems", "resolve_module"]


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


def dependents(root: Path | None = None) -> dict[str, list[str]]:
    """``{module path: [chapters]}`` from the committed records' ``lib_modules``.

    Module paths are relative to ``lib/`` (``"relubook/core/mlp.py"``); both the modules and
    each module's chapters are sorted. Chapters without a readable committed record are left
    out (``relubook check`` names them).
    """
    users: dict[str, set[str]] = {}
    for chapter in paths.chapters(root):
        try:
            rec = records.load(records.committed_path(chapter, root))
        except records.RecordError:
            continue
        for mod in rec["lib_modules"]:
            users.setdefault(mod, set()).add(chapter)
    return {mod: sorted(users[mod]) for mod in sorted(users)}


def module_name(path: str) -> str:
    """The dotted name of a module path: ``relubook/core/mlp.py`` -> ``relubook.core.mlp``,
    ``relubook/core/__init__.py`` -> ``relubook.core``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def resolve_module(name: str, modules: list[str]) -> str:
    """The one path of ``modules`` that ``name`` names.

    ``name`` may be the path (``relubook/core/mlp.py``), the path without ``relubook/``
    (``core/mlp.py``), the dotted name with or without ``relubook.`` (``relubook.core.mlp``,
    ``core.mlp``), or any dotted tail that only one module has (``mlp``).

    Raises
    ------
    ValueError
        If no module or more than one matches; the message lists the candidates.
    """
    q = name.strip().strip("/").removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    full = {module_name(m): m for m in modules}
    for cand in (q, f"relubook.{q}"):
        if cand in full:
            return full[cand]
    hits = sorted(m for d, m in full.items() if q and d.endswith("." + q))
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ValueError(f"module {name!r} is ambiguous; it matches {', '.join(hits)}")
    raise ValueError(f"no committed record imports a module {name!r}; valid modules: "
                     f"{', '.join(sorted(modules)) or '(none)'}")
