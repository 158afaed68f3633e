"""Workload W in PyTorch: the twin of `cargo run --release --example bench_mlp`.

MLP 784 -> 128 -> 64 -> 10, each hidden layer Linear -> BatchNorm1d -> ReLU, He init. Flags as
common.py describes."""
import torch.nn as nn

import common
import torch_common


def main():
    a = common.flags(__doc__.splitlines()[0])
    model = nn.Sequential(
        nn.Linear(784, 128), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 10),
    )
    torch_common.run(a, torch_common.he_init(model), "W: 784-128-64-10 MLP, BatchNorm, ReLU", images=False)


if __name__ == "__main__":
    main()
