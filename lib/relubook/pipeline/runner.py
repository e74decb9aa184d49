"""Execute chapters with papermill: ``smoke`` copies into ``build/``, ``full`` runs committed.

A ``full`` run at the chapter's own location (no ``out``) replaces ``notebooks/<chapter>.ipynb``
and ``data/claims/<chapter>.json`` only after the whole notebook succeeded, each through a
temporary file and a rename: an interrupted or failed run leaves the previous ones intact.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import paths, profiles, records

__all__ = ["DEFAULTS", "KERNEL_ENV", "ChapterError", "RunResult", "run_chapter"]

#: Parameters every chapter's ``parameters`` cell defines, with their defaults.
DEFAULTS: dict[str, Any] = {"profile": "full", "seed": 0, "overrides": {}}

#: Environment of every kernel: one BLAS thread (determinism, speed of small models),
#: glibc malloc that keeps large buffers instead of returning them to the OS each step, and
#: no tqdm bars inside executed notebooks (papermill shows per-cell progress at the terminal).
KERNEL_ENV = {
    "TQDM_DISABLE": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "MALLOC_MMAP_THRESHOLD_": "268435456",
    "MALLOC_TRIM_THRESHOLD_": "268435456",
}


class ChapterError(RuntimeError):
    """A chapter that failed to execute; the message names the cell and the error."""


@dataclass
class RunResult:
    chapter: str
    profile: str
    notebook: Path
    record: Path
    wall_s: float
    committed: bool


def _strip_for_execution(src: Path, dst: Path) -> None:
    """Copy a chapter without outputs and without an earlier papermill-injected cell."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        cells.append(cell)
    nb["cells"] = cells
    nb.get("metadata", {}).pop("papermill", None)
    paths.atomic_write_text(dst, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def run_chapter(
    chapter: str,
    profile: str = "full",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    out: Path | None = None,
    progress: bool = True,
    cell_timeout: int | None = None,
) -> RunResult:
    """Execute one chapter.

    Parameters
    ----------
    chapter
        ``"01"``, ``"spline_init"`` or ``"01_spline_init"``.
    profile
        ``"smoke"`` or ``"full"``.
    seed, overrides
        Passed to the notebook's ``parameters`` cell (overrides are validated there).
    out
        Folder for the executed copy; default ``build/notebooks``. A ``full`` run with no
        ``out`` is *committed*: it replaces the chapter's notebook and its record.
    """
    import papermill as pm

    root = paths.repo_root()
    chapter = paths.resolve_chapter(chapter, root)
    profiles.check_profile(profile)
    profiles.check_seed(seed)
    overrides = dict(overrides or {})
    commit = profile == "full" and out is None
    out_dir = Path(out) if out is not None else paths.build_dir(root) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    source = paths.notebooks_dir(root) / f"{chapter}.ipynb"
    executed = out_dir / f"{chapter}.{profile}.ipynb"
    record = records.build_path(chapter, profile, root)
    scratch = paths.build_dir(root) / "tmp" / f"{chapter}.input.ipynb"
    _strip_for_execution(source, scratch)

    params = {"profile": profile, "seed": seed, "overrides": overrides}
    params = {k: v for k, v in params.items() if v != DEFAULTS[k]}
    env = {**KERNEL_ENV, "RELUBOOK_ROOT": str(root), "RELUBOOK_RECORD": str(record)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    if record.exists():
        record.unlink()
    started = time.time()
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(scratch), str(executed), parameters=params, kernel_name="python3",
            cwd=str(root), progress_bar=progress, log_output=False,
            execution_timeout=cell_timeout,
        )
    except pm.PapermillExecutionError as e:
        raise ChapterError(
            f"{chapter} ({profile}) failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"the partly executed notebook is {executed}"
        ) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    if not record.exists():
        raise ChapterError(f"{chapter} ran but wrote no record: does its last cell call run.finish()?")
    rec = records.load(record)
    base = paths.lib_dir(root).parent
    edited = [m for m in rec["lib_modules"]
              if not (base / m).is_file() or (base / m).stat().st_mtime > started]
    if edited:
        raise ChapterError(f"{', '.join(edited)} changed while {chapter} ran: the record would not "
                           "describe the code that ran; run it again")
    if commit:
        if records.code_hash(executed) != rec["code_hash"]:
            raise ChapterError(f"{source} changed while {chapter} ran; not committing, run it again")
        _atomic_copy(executed, source)
        _atomic_copy(record, records.committed_path(chapter, root))
    return RunResult(chapter, profile, source if commit else executed,
                     records.committed_path(chapter, root) if commit else record, wall, commit)


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
