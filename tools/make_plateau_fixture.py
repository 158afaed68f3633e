"""Writes nn-core/tests/fixtures/plateau_pytorch.json: the learning rates PyTorch's
ReduceLROnPlateau sets, epoch by epoch, for a few settings and monitored sequences, so that
nn's ReduceLROnPlateau is checked against the real thing (nn-core/src/train/callbacks/plateau.rs).

    ~/.cache/nn-bench/venv/bin/python tools/make_plateau_fixture.py
"""
import json
import math
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "nn-core/tests/fixtures/plateau_pytorch.json"

# A loss that falls, stalls, creeps, falls a little, stalls again; a NaN in the middle.
LOSS = [1.0, 0.8, 0.7, 0.7, 0.69995, 0.71, 0.705, 0.6, 0.6, 0.6, 0.61, float("nan"), 0.59, 0.59, 0.59,
        0.595, 0.58999, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
# An accuracy that rises and flattens.
ACC = [0.5, 0.6, 0.65, 0.66, 0.661, 0.6605, 0.662, 0.7, 0.7, 0.7, 0.7005, 0.7, 0.71, 0.71, 0.71, 0.71]

CASES = [
    dict(mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel", cooldown=0,
         min_lr=0.0, eps=1e-8, lrs=[1.0], values=LOSS),
    dict(mode="min", factor=0.5, patience=1, threshold=1e-4, threshold_mode="rel", cooldown=0,
         min_lr=0.0, eps=1e-8, lrs=[0.1, 0.01], values=LOSS),
    dict(mode="min", factor=0.5, patience=0, threshold=0.01, threshold_mode="abs", cooldown=2,
         min_lr=[0.02, 0.001], eps=1e-8, lrs=[0.1, 0.01], values=LOSS),
    dict(mode="max", factor=0.2, patience=2, threshold=1e-3, threshold_mode="rel", cooldown=1,
         min_lr=1e-4, eps=1e-8, lrs=[0.05], values=ACC),
    dict(mode="max", factor=0.3, patience=0, threshold=0.005, threshold_mode="abs", cooldown=0,
         min_lr=0.0, eps=1e-3, lrs=[0.01, 0.002], values=ACC),
]


def f32(x):
    """`x` rounded to float32, as nn holds every value, rate and setting; PyTorch then computes
    with exactly the numbers nn sees."""
    if isinstance(x, list):
        return [f32(v) for v in x]
    return float(np.float32(x))


def run(case):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in case["lrs"]]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, case["lrs"])])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=case["mode"], factor=case["factor"], patience=case["patience"],
        threshold=case["threshold"], threshold_mode=case["threshold_mode"],
        cooldown=case["cooldown"], min_lr=case["min_lr"], eps=case["eps"])
    rates = []
    for v in case["values"]:
        sched.step(v)
        rates.append([g["lr"] for g in opt.param_groups])
    return rates


def main():
    cases = []
    for case in CASES:
        for key in ("factor", "threshold", "min_lr", "eps", "lrs", "values"):
            case[key] = f32(case[key])
        out = dict(case)
        out["values"] = [None if math.isnan(v) else v for v in case["values"]]
        out["expected"] = run(case)
        cases.append(out)
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
