"""`make bench`: the INR training step of the book against the paper code's formulation.

Prints one row per INR family (ms per step of the book's program and of the paper's
formulation, the speed-up, the GEMM time of the same shapes and the book's share of it, the
compile time) and the two speed goals at the anchor configuration (BW-ReLU, 128 x 128 pixels,
width 128, 3 layers, c = 9), then writes the table to ``benchmarks/results/inr_step.json``,
which chapter 5's performance section shows. See :mod:`relubook.topics.inr_bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from relubook.topics import bw_inr as inr
from relubook.topics import inr_bench as bench

GOAL_SPEEDUP, GOAL_GEMM_SHARE = 4.0, 0.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="image side (pixels)")
    ap.add_argument("--width", type=int, default=128, help="hidden width")
    ap.add_argument("--layers", type=int, default=3, help="nonlinear layers")
    ap.add_argument("--reps", type=int, default=10, help="interleaved rounds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--models", default=",".join(inr.MODELS),
                    help=f"comma-separated subset of {','.join(inr.MODELS)}")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/inr_step.json"))
    args = ap.parse_args(argv)
    kinds = [k for k in args.models.split(",") if k]
    bad = sorted(set(kinds) - set(inr.MODELS))
    if bad:
        ap.error(f"unknown models {bad}; valid: {', '.join(inr.MODELS)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bar = tqdm(total=args.reps, desc="interleaved rounds", disable=None)
    rows = bench.benchmark(kinds, args.size, args.width, args.layers, args.reps,
                           progress=lambda _msg: bar.update(1))
    bar.close()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"activations: {inr.compile_mode()}")
    print(bench.format_table(rows))
    goals = {}
    bw = next((r for r in rows if r.kind == "bw"), None)
    if bw is not None:
        goals = {"speedup": [bw.speedup, GOAL_SPEEDUP, bw.speedup >= GOAL_SPEEDUP],
                 "gemm_share": [bw.gemm_share, GOAL_GEMM_SHARE, bw.gemm_share >= GOAL_GEMM_SHARE]}
        print(f"BW-ReLU speed-up over the paper's formulation {bw.speedup:.2f}x "
              f"(goal >= {GOAL_SPEEDUP:g}x: {'met' if goals['speedup'][2] else 'NOT met'}; "
              f"with the same GEMMs at most {bw.ceiling:.2f}x is possible)")
        print(f"BW-ReLU step at GEMM speed: {bw.gemm_share:.0%} "
              f"(goal >= {GOAL_GEMM_SHARE:.0%}: {'met' if goals['gemm_share'][2] else 'NOT met'})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "activations": inr.compile_mode(), "reps": args.reps,
              "rows": [r.as_dict() for r in rows], "goals": goals,
              "command": "python " + " ".join(sys.argv)}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
