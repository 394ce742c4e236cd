"""S1 training throughput on a CPU: the default network against the original, in one run.

    python bench/s1_train_throughput.py [--steps 6] [--threads 2] [--json out.json]

Times full training steps (forward, the 17 losses, backward, AdamW) at L = 64, batch 20, on real
targets of random sequences folded by ViennaRNA, for configs/s1/default.yaml (bf16 autocast, as
it trains) and configs/s1/original.yaml (fp32, as the lab trained it; bf16 is also shown).
Prints examples/s, peak memory of each (measured in a child process so one cannot inflate the
other's), and the ratio the S1 issue sets a target for: default >= 10x the original per example.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _measure(config: str, bf16: bool, steps: int, threads: int, queue) -> None:
    import numpy as np
    import RNA
    import torch

    from rnastruct.config import load_config
    from rnastruct.s1.criterion import S1Criterion
    from rnastruct.s1.data import S1Examples
    from rnastruct.s1.model import build_model
    from rnastruct.s1.training import S1Config, build_optimizer
    from rnastruct.structure import parse_dot_bracket
    from rnastruct.train import autocast

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGU"), 64)) for _ in range(20)]
    ex = S1Examples(seqs, [parse_dot_bracket(RNA.fold(s)[0]) for s in seqs])
    batch = ex.batch(np.arange(20))
    cfg = load_config(S1Config, REPO / "configs" / "s1" / config)
    model = build_model(cfg.model)
    crit, opt = S1Criterion(), build_optimizer(model, cfg)
    amp = autocast(torch.device("cpu"), bf16)

    def step():
        with amp:
            out = model(batch["tokens"], batch["lengths"])
            loss = crit(out, batch["targets"], batch["masks"])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up: oneDNN picks and caches its kernels
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    queue.put({"examples_per_s": 20 * steps / seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "parameters": sum(p.numel() for p in model.parameters())})


def measure(config: str, bf16: bool, steps: int, threads: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(config, bf16, steps, threads, q))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="timed steps of 20 examples each")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    runs = {
        "default (bf16)": measure("default.yaml", True, args.steps * 5, args.threads),
        "original (fp32)": measure("original.yaml", False, args.steps, args.threads),
        "original (bf16)": measure("original.yaml", True, args.steps, args.threads),
    }
    print(f"S1 training step, L = 64, batch 20, {args.threads} threads")
    for name, r in runs.items():
        print(f"  {name:16s}: {r['examples_per_s']:8.2f} examples/s, peak memory {r['peak_rss_mb']:7.0f} MB, "
              f"{r['parameters']:,} parameters")
    ratio = runs["default (bf16)"]["examples_per_s"] / runs["original (fp32)"]["examples_per_s"]
    ratio_bf16 = runs["default (bf16)"]["examples_per_s"] / runs["original (bf16)"]["examples_per_s"]
    print(f"ratio default / original (as trained, fp32): {ratio:.1f}x  (target >= 10x)")
    print(f"ratio default / original, both bf16       : {ratio_bf16:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "ratio": ratio, "ratio_bf16": ratio_bf16}, indent=2) + "\n")


if __name__ == "__main__":
    main()
