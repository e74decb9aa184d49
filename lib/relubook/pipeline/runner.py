"""Execute chapters with papermill: ``smoke`` copies into ``build/``, ``full`` runs committed.

A ``full`` run at the chapter's own location (no ``out``) replaces ``notebooks/<chapter>.ipynb``
and ``data/claims/<chapter>.json`` only after the whole notebook succeeded, each through a
temporary file and a rename: an interrupted or failed run leaves the previous ones intact.

Ctrl-C (SIGINT) during a run kills the chapter's kernel at once, before papermill shuts it
down: a kernel shut down in the middle of a cell prints its own traceback to the terminal.
The loggers of papermill, nbclient, jupyter_client, traitlets and asyncio are silenced from
then on (the process is about to exit), and :class:`KeyboardInterrupt` reaches the caller: the
CLI prints one line. Kernels start with ``KERNEL_ARGS``: their own log shows errors only.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, profiles, records

__all__ = ["DEFAULTS", "KERNEL_ARGS", "KERNEL_ENV", "QUIET_ON_INTERRUPT", "ChapterError",
           "RunResult", "run_chapter"]

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


#: Arguments of every kernel: its own log (on the terminal) shows errors only, not the
#: warning ipykernel prints at every start about TCP on localhost.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]

#: Loggers that report the kernel's shutdown; silenced while an interrupted run unwinds.
QUIET_ON_INTERRUPT = ("papermill", "nbclient", "jupyter_client", "traitlets", "asyncio")

#: Kernel managers started by this process (to kill their kernels on Ctrl-C).
_KERNELS: weakref.WeakSet = weakref.WeakSet()


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
    record: Path | None = None,
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
    record
        Where the run's record goes (default ``build/claims/<chapter>.<profile>.json``);
        runs in parallel (``relubook seeds``) give each its own.
    """
    import papermill as pm
    import tqdm.auto  # noqa: F401  (papermill's bar reads TQDM_* now, before KERNEL_ENV's)

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
    record = Path(record) if record is not None else records.build_path(chapter, profile, root)
    scratch = (paths.build_dir(root) / "tmp"
               / f"{chapter}.{profile}.seed{seed}.{os.getpid()}.ipynb")
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
        with _kill_kernel_on_sigint():
            pm.execute_notebook(
                str(scratch), str(executed), parameters=params, kernel_name="python3",
                cwd=str(root), progress_bar=progress, log_output=False,
                execution_timeout=cell_timeout, kernel_manager_class=_kernel_manager_class(),
                extra_arguments=KERNEL_ARGS,
            )
    except pm.PapermillExecutionError as e:
        raise ChapterError(
            f"{chapter} ({profile}) failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"the partly executed notebook is {executed}"
        ) from None
    except KeyboardInterrupt:
        _silence(QUIET_ON_INTERRUPT)
        _kill_kernels()
        raise
    finally:
        scratch.unlink(missing_ok=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    if not record.exists():
        raise ChapterError(f"{chapter} ran but wrote no record: does its last cell call "
                           "run.finish()?")
    rec = records.load(record)
    base = paths.lib_dir(root).parent
    edited = [m for m in rec["lib_modules"]
              if not (base / m).is_file() or (base / m).stat().st_mtime > started]
    if edited:
        raise ChapterError(f"{', '.join(edited)} changed while {chapter} ran: the record would not "
                           "describe the code that ran; run it again")
    if commit:
        if records.code_hash(executed) != rec["code_hash"]:
            raise ChapterError(f"{source} changed while {chapter} ran; not committing, "
                               "run it again")
        _atomic_copy(executed, source)
        _atomic_copy(record, records.committed_path(chapter, root))
    return RunResult(chapter, profile, source if commit else executed,
                     records.committed_path(chapter, root) if commit else record, wall, commit)


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


@functools.lru_cache(maxsize=1)
def _kernel_manager_class() -> type:
    """nbclient's default kernel manager, remembering itself so Ctrl-C can kill its kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class ChapterKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            _KERNELS.add(self)
            await super().start_kernel(**kw)

    return ChapterKernelManager


def _kill_kernels() -> None:
    """SIGKILL the kernels (with their process groups) this process started and still runs."""
    for km in list(_KERNELS):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is None or proc.poll() is not None:
            continue
        try:
            # jupyter_client starts every kernel in a session of its own (POSIX): kill the
            # group, so that processes the chapter started go too; never our own group.
            if hasattr(os, "killpg") and os.getpgid(proc.pid) == proc.pid != os.getpgid(0):
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except OSError:
            pass


def _silence(names: tuple[str, ...]) -> None:
    for name in names:
        logging.getLogger(name).disabled = True


@contextmanager
def _kill_kernel_on_sigint() -> Iterator[None]:
    """While a chapter runs, SIGINT kills its kernel first, then raises KeyboardInterrupt.

    papermill shuts the kernel down gracefully as the interrupt unwinds; a kernel in the middle
    of a cell then writes a traceback to the terminal. A killed kernel writes nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous in (signal.SIG_IGN, None)):
        yield
        return
    loggers = {n: logging.getLogger(n).disabled for n in QUIET_ON_INTERRUPT}

    def on_sigint(signum: int, frame: Any) -> None:
        _silence(QUIET_ON_INTERRUPT)
        _kill_kernels()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for n, disabled in loggers.items():
            logging.getLogger(n).disabled = disabled
