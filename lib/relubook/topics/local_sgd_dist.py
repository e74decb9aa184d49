"""Local (S)GD with one process per worker: the ``torch.distributed`` (gloo) back-end.

Each of the K processes (rank k) builds the same data and the same seeded initialisation,
keeps only its shard :math:`S_k`, runs H local steps with :func:`relubook.topics.local_sgd.local_step`
(the simulation's step function, on weights of shape ``(1, 1, out, in)``), and ends every
round with an all-reduce sum divided by K, :math:`\\bar W=\\frac1K\\sum_k W_k`. Rank 0 writes
the final weights and per-round timings (``torch.save``, atomically).

Single host (K = 4 workers)::

    torchrun --standalone --nproc_per_node 4 -m relubook.topics.local_sgd_dist --out build/ls.pt

Several hosts (here 2 x 2 workers; run on each host with its ``--node_rank``)::

    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 2 --master_addr HOST0 \\
        --master_port 29500 -m relubook.topics.local_sgd_dist --out ls.pt

From Python, :func:`launch` starts ``torchrun`` on 127.0.0.1 with a free port and returns
what rank 0 wrote.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from ..core.data import digits_sphere
from . import local_sgd as ls

__all__ = ["parser", "check_args", "check_out_path", "run_worker", "main", "free_port", "torchrun_command",
           "launch", "compare_with_simulation"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relubook.topics.local_sgd_dist",
                                description="Local (S)GD, one process per worker (gloo).")
    p.add_argument("--out", required=True, help="file rank 0 writes (torch.save)")
    p.add_argument("--samples", type=int, default=256, help="digits samples (default 256)")
    p.add_argument("--data", default="", help="torch.save'd {'X', 'Y'} to use instead of digits")
    p.add_argument("--width", type=int, default=128, help="hidden width m")
    p.add_argument("--depth", type=int, default=3, help="weight matrices (default 3)")
    p.add_argument("--param", choices=ls.PARAMS, default="ntk")
    p.add_argument("--sharding", choices=ls.SHARDINGS, default="iid")
    p.add_argument("--lr", type=float, default=20.0)
    p.add_argument("--H", type=int, default=8, help="local steps per round")
    p.add_argument("--rounds", type=int, default=8, help="communication rounds R")
    p.add_argument("--batch", type=int, default=0, help="local mini-batch (0: full, Local GD)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtypes", default="float32,float64",
                   help="comma-separated, each run in turn (default float32,float64)")
    p.add_argument("--timeout", type=float, default=60.0, help="collective timeout, seconds")
    p.add_argument("--fail-rank", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("--fail-round", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("--fail-mode", choices=("raise", "hang"), default="raise", help=argparse.SUPPRESS)
    return p


def check_args(args: argparse.Namespace) -> None:
    for name in ("samples", "width", "H", "rounds"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be positive, got {getattr(args, name)}")
    if args.depth < 2:
        raise ValueError(f"--depth must be >= 2, got {args.depth}")
    bad = [d for d in args.dtypes.split(",") if d not in DTYPES]
    if bad:
        raise ValueError(f"unknown dtype(s) {bad}; valid: {', '.join(DTYPES)}")
    if args.timeout <= 0:
        raise ValueError("--timeout must be positive")
    check_out_path(Path(args.out))


def check_out_path(out: Path) -> None:
    """Fail before training if rank 0 could not write ``out``: it must not be a folder, and the
    nearest existing folder above it must be a writable folder (not a file)."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, so the folder cannot be created")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"--out {out}: {parent} is not writable")


def run_worker(args: argparse.Namespace, rank: int, world: int) -> dict[str, Any]:
    """Local (S)GD as rank ``rank`` of ``world`` (the process group is initialised)."""
    import torch.distributed as dist

    out: dict[str, Any] = {"world": world, "params": {}, "round_s": {}, "comm_s": {}, "loss": {}}
    T = args.H * args.rounds
    for name in args.dtypes.split(","):
        dtype = DTYPES[name]
        X, Y = _data(args, dtype)
        Xs, Ys = ls.shard(X, Y, world, args.sharding, args.seed)
        x, y = Xs[rank][None, None], Ys[rank][None, None]
        sizes = ls.layer_sizes(X.shape[1], args.width, Y.shape[1], args.depth)
        a = ls.scales(sizes, args.param)
        W = ls.init_params(sizes, (1, 1), args.param, args.seed, dtype)
        idx = (torch.as_tensor(ls.minibatch_indices(x.shape[2], args.batch, T, args.seed, rank))
               if args.batch else None)
        dist.barrier()
        round_s, comm_s = [], []
        for r in range(args.rounds):
            if r == args.fail_round and rank == args.fail_rank:   # fault injection (tests)
                if args.fail_mode == "hang":
                    time.sleep(10 * args.timeout)
                raise RuntimeError(f"injected failure on rank {rank} in round {r}")
            t0 = time.perf_counter()
            for h in range(args.H):
                if idx is None:
                    xb, yb = x, y
                else:
                    it = idx[r * args.H + h][None, None, :, None]
                    xb, yb = torch.take_along_dim(x, it, 2), torch.take_along_dim(y, it, 2)
                ls.local_step(W, a, xb, yb, args.lr)
            t1 = time.perf_counter()
            for w in W:
                dist.all_reduce(w, op=dist.ReduceOp.SUM)
                w.div_(world)
            t2 = time.perf_counter()
            round_s.append(t2 - t0)
            comm_s.append(t2 - t1)
        local = ls.full_loss(W, a, x, y).reshape(1)
        dist.all_reduce(local, op=dist.ReduceOp.SUM)
        out["params"][name] = [w[0, 0].clone() for w in W]
        out["round_s"][name] = round_s
        out["comm_s"][name] = comm_s
        out["loss"][name] = float(local) / world
    return out


def _data(args: argparse.Namespace, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    if not args.data:
        return digits_sphere(args.samples, dtype)
    d = torch.load(args.data, weights_only=True)
    return d["X"].to(dtype), d["Y"].to(dtype)


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of one worker process, launched by ``torchrun`` (reads RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT from the environment)."""
    args = parser().parse_args(argv)
    try:
        check_args(args)
    except ValueError as e:
        # every worker validates the same arguments; only rank 0 says what is wrong, so the
        # message appears once and not inside each of torchrun's per-rank failure reports
        if os.environ.get("RANK", "0") == "0":
            print(f"local_sgd_dist: error: {e}", file=sys.stderr, flush=True)
        return 2
    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise SystemExit(f"missing {missing}: launch with torchrun, e.g. "
                         "torchrun --standalone --nproc_per_node 4 -m relubook.topics.local_sgd_dist --out x.pt")
    _process(args, int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
    return 0


def _process(args: argparse.Namespace, rank: int, world: int) -> None:
    """One worker: join the gloo group (MASTER_ADDR/PORT from the environment), run, save."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.samples % world:
        raise ValueError(f"--samples={args.samples} must be divisible by the number of workers {world}")
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=_dt.timedelta(seconds=args.timeout))
    try:
        out = run_worker(args, rank, world)
        if rank == 0:
            _save_atomic(out, Path(args.out))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _fork_entry(rank: int, world: int, port: int, argv: list[str]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    _process(parser().parse_args(argv), rank, world)


def _root_cause(log: str) -> str:
    """The workers' own error lines (``[rankN]: SomeError: ...``) from a torchrun log."""
    lines = [l for l in log.splitlines() if re.match(r"^\[rank\d+\]: \w+(Error|Exception)\b", l)]
    first = [l for l in lines if "gloo/transport" not in l]
    return "\n".join((first or lines)[:4])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def torchrun_command(nproc: int, port: int, worker_args: Sequence[str]) -> list[str]:
    """The ``torchrun`` command line for ``nproc`` workers on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
            "--master_port", str(port), "--max_restarts", "0",
            "-m", "relubook.topics.local_sgd_dist", *worker_args]


def launch(nproc: int = 4, *, method: str = "torchrun", timeout: float = 120.0,
           collective_timeout: float = 30.0, data: tuple[torch.Tensor, torch.Tensor] | None = None,
           **kwargs: Any) -> dict[str, Any]:
    """Run the workers in ``nproc`` processes on 127.0.0.1 (a free port) and return what
    rank 0 wrote (plus ``wall_s``, the launch's wall time including start-up).

    ``method="torchrun"`` starts ``torchrun ... -m relubook.topics.local_sgd_dist`` (the deployment
    path); ``method="fork"`` forks this process with ``torch.multiprocessing`` (no new
    interpreter to start, hence fast; used by the tests). ``data=(X, Y)`` hands the workers
    this data set instead of the digits (saved to a temporary file). ``kwargs`` are the CLI
    options by their Python names (``width=128, H=8, rounds=8, ...``).

    Raises
    ------
    RuntimeError
        If a worker fails (the message carries the tail of its output) or the launch takes
        longer than ``timeout`` seconds (the process group is then killed).
    """
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int, got {nproc!r}")
    if method not in ("torchrun", "fork"):
        raise ValueError(f"unknown method {method!r}; valid: torchrun, fork")
    wargs: list[str] = []
    for k, v in kwargs.items():
        wargs += [f"--{k.replace('_', '-')}", str(v)]
    check_args(parser().parse_args([*wargs, "--out", "x"]))   # fail early on a bad option
    with tempfile.TemporaryDirectory(prefix="local_sgd_dist_") as tmp:
        out = Path(tmp) / "out.pt"
        wargs += ["--timeout", str(collective_timeout), "--out", str(out)]
        if data is not None:
            torch.save({"X": data[0].double(), "Y": data[1].double()}, Path(tmp) / "data.pt")
            wargs += ["--data", str(Path(tmp) / "data.pt"), "--samples", str(data[0].shape[0])]
        if method == "fork":
            t0 = time.perf_counter()
            _launch_fork(nproc, wargs, timeout)
            res = torch.load(out, weights_only=True)
            res["wall_s"] = time.perf_counter() - t0
            return res
        cmd = torchrun_command(nproc, free_port(), wargs)
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"local_sgd_dist: {nproc} workers did not finish in {timeout} s; killed")
        if proc.returncode != 0 or not out.exists():
            cause = _root_cause(log) or "\n".join(log.strip().splitlines()[-15:])
            raise RuntimeError(f"local_sgd_dist: a worker failed (torchrun exit {proc.returncode}):\n{cause}")
        res = torch.load(out, weights_only=True)
    res["wall_s"] = time.perf_counter() - t0
    return res


def compare_with_simulation(res: dict[str, Any], X: torch.Tensor, Y: torch.Tensor, *,
                            width: int, H: int, rounds: int, seed: int = 0, lr: float = 20.0,
                            depth: int = 3, param: str = "ntk") -> dict[str, Any]:
    """Max |Δθ| between the multi-process result ``res`` (Local GD, i.i.d. shards) and the
    stacked simulation and the ``torch.func.vmap`` route, per dtype; plus the simulation's
    mean time per round (``"sim_round_s"``, float32).

    Returns ``{"float32": {"dist": err, "vmap": err}, "float64": {...}, "sim_round_s": s}``.
    """
    K = int(res["world"])
    out: dict[str, Any] = {}
    for name in res["params"]:
        dtype = DTYPES[name]
        Xs, Ys = ls.shard(X.to(dtype), Y.to(dtype), K, "iid", seed)
        sizes = ls.layer_sizes(X.shape[1], width, Y.shape[1], depth)
        a = ls.scales(sizes, param)
        W = ls.init_groups(sizes, [seed], K, param, dtype)
        V = [w[0].clone() for w in W]
        t0 = time.perf_counter()
        ls.simulate(W, a, Xs[None], Ys[None], lr=lr, H=H, T=H * rounds, track=False)
        if name == "float32":
            out["sim_round_s"] = (time.perf_counter() - t0) / rounds
        V = ls.vmap_local_gd(V, a, Xs, Ys, lr=lr, H=H, T=H * rounds)
        sim = [w[0, 0] for w in W]
        out[name] = {
            "dist": max(float((p - s).abs().max()) for p, s in zip(res["params"][name], sim)),
            "vmap": max(float((v[0] - s).abs().max()) for v, s in zip(V, sim)),
        }
    return out


def _launch_fork(nproc: int, wargs: list[str], timeout: float) -> None:
    import torch.multiprocessing as mp

    ctx = mp.start_processes(_fork_entry, args=(nproc, free_port(), wargs), nprocs=nproc,
                             join=False, start_method="fork")
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=0.2):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    if p.is_alive():
                        p.kill()
                raise RuntimeError(f"local_sgd_dist: {nproc} workers did not finish in {timeout} s; killed")
    except mp.ProcessRaisedException:
        raise RuntimeError("local_sgd_dist: a worker failed:\n" + _fork_errors(ctx.error_files)) from None
    except mp.ProcessExitedException as e:
        raise RuntimeError(f"local_sgd_dist: a worker died: {e}") from None
    finally:
        for f in ctx.error_files:
            if os.path.exists(f):
                os.unlink(f)


def _fork_errors(error_files: Sequence[str]) -> str:
    """The last line of each failed rank's traceback, root causes first: a rank's own error
    rather than its peers' "connection closed" (whichever process the join saw first)."""
    lines = []
    for rank, f in enumerate(error_files):
        # a rank terminated by the launcher (SIGTERM) leaves its error file empty
        if os.access(f, os.R_OK) and os.path.getsize(f) > 0:
            with open(f, "rb") as fh:
                try:
                    trace = pickle.load(fh)
                except (EOFError, pickle.UnpicklingError):  # written while we read it
                    continue
            lines.append(f"[rank{rank}]: " + trace.strip().splitlines()[-1])
    if not lines:
        return "(no worker left a traceback: the launcher terminated them)"
    first = [l for l in lines if "gloo/transport" not in l]
    return "\n".join((first or lines)[:4])


if __name__ == "__main__":
    sys.exit(main())
