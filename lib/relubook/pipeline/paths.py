"""Where things live, resolved from the repository root (never from the working directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CHAPTER_RE", "atomic_write_text", "build_dir", "chapters", "claims_dir", "lib_dir",
           "notebooks_dir", "repo_root", "resolve_chapter"]

#: Chapter notebooks are named ``NN_slug.ipynb``.
CHAPTER_RE = re.compile(r"^(\d\d)_([a-z0-9_]+)$")


def repo_root() -> Path:
    """The repository root: ``$RELUBOOK_ROOT`` if set, else three levels above this module."""
    env = os.environ.get("RELUBOOK_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


def notebooks_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "notebooks"


def claims_dir(root: Path | None = None) -> Path:
    """Committed records of ``full`` runs: ``data/claims/<chapter>.json``."""
    return (root or repo_root()) / "data" / "claims"


def build_dir(root: Path | None = None) -> Path:
    """Git-ignored build artefacts (smoke notebooks, smoke records, scratch)."""
    return (root or repo_root()) / "build"


def lib_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "lib" / "relubook"


def chapters(root: Path | None = None) -> list[str]:
    """Chapter names (``NN_slug``) of every notebook in ``notebooks/``, sorted."""
    nbdir = notebooks_dir(root)
    return sorted(p.stem for p in nbdir.glob("*.ipynb") if CHAPTER_RE.match(p.stem))


def resolve_chapter(name: str, root: Path | None = None) -> str:
    """Map ``"01"``, ``"spline_init"`` or ``"01_spline_init"`` to the chapter name.

    Raises
    ------
    ValueError
        If no chapter or more than one matches; the message lists the valid names.
    """
    known = chapters(root)
    hits = [c for c in known if name in (c, c[:2], c[3:])]
    if len(hits) != 1:
        raise ValueError(
            f"unknown chapter {name!r}; valid chapters: {', '.join(known) or '(none)'}"
            " (by full name, number or slug)"
        )
    return hits[0]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
