"""Run records: plain JSON written at the end of every chapter run.

A record holds ``chapter``, ``profile``, ``seed``, ``wall_s``, ``code_hash`` (the chapter's
code cells), ``lib_hash`` and ``lib_modules`` (each ``relubook`` module the kernel imported,
with its hash), ``versions`` and ``claims``. ``full`` records are committed as
``data/claims/<chapter>.json``; ``smoke`` records go to ``build/claims/``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from . import paths
from .claims import VERDICTS

__all__ = ["CLAIM_FIELDS", "REQUIRED", "RecordError", "build_path", "code_cells", "code_hash",
           "combined_hash", "committed_path", "load", "module_hashes", "sha256_bytes", "validate"]

REQUIRED = ("chapter", "profile", "seed", "wall_s", "code_hash", "lib_hash", "lib_modules",
            "versions", "claims")
CLAIM_FIELDS = ("id", "statement", "paper", "measured", "rule", "verdict")


class RecordError(ValueError):
    """A record that is missing, unreadable or malformed."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_cells(nb: dict) -> list[str]:
    """Sources of the code cells that define the chapter (papermill's injected cell excluded)."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell.get("source", "")
        out.append("".join(src) if isinstance(src, list) else src)
    return out


def code_hash(notebook: Path) -> str:
    """Hash of a notebook's code cells; outputs, metadata and Markdown do not count."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"notebook {notebook} does not exist") from None
    except json.JSONDecodeError as e:
        raise RecordError(f"notebook {notebook} is not valid JSON: {e}") from None
    return sha256_bytes(json.dumps(code_cells(nb)).encode())


def module_hashes(modules: Iterable[str], root: Path | None = None) -> dict[str, str | None]:
    """``{"relubook/core/mlp.py": sha256}`` for paths relative to ``lib/``; None if missing."""
    base = paths.lib_dir(root).parent
    out = {}
    for rel in sorted(set(modules)):
        f = base / rel
        out[rel] = sha256_bytes(f.read_bytes()) if f.is_file() else None
    return out


def combined_hash(hashes: dict[str, str | None]) -> str:
    return sha256_bytes(json.dumps(sorted(hashes.items())).encode())


def validate(rec: object, source: str = "record") -> dict:
    """Check a loaded record's structure; return it or raise :class:`RecordError`."""
    if not isinstance(rec, dict):
        raise RecordError(f"{source}: a record must be a JSON object")
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        raise RecordError(f"{source}: missing field(s) {', '.join(missing)}")
    if not isinstance(rec["claims"], list) or not rec["claims"]:
        raise RecordError(f"{source}: 'claims' must be a non-empty list")
    for i, c in enumerate(rec["claims"]):
        lack = [k for k in CLAIM_FIELDS if not isinstance(c, dict) or k not in c]
        if lack:
            raise RecordError(f"{source}: claim {i} lacks {', '.join(lack)}")
        if c["verdict"] not in VERDICTS:
            raise RecordError(f"{source}: claim {c['id']} has verdict {c['verdict']!r}, "
                              f"not one of {VERDICTS}")
    return rec


def load(path: Path) -> dict:
    """Read and validate a record, with a clear error for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"no record at {path}; run the chapter to create it "
                          "(relubook run <chapter> --profile full)")
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RecordError(f"{path} is corrupt (not valid JSON: {e}); re-run the chapter") from None
    return validate(rec, str(path))


def committed_path(chapter: str, root: Path | None = None) -> Path:
    return paths.claims_dir(root) / f"{chapter}.json"


def build_path(chapter: str, profile: str, root: Path | None = None) -> Path:
    return paths.build_dir(root) / "claims" / f"{chapter}.{profile}.json"
