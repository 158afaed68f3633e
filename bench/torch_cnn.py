"""Workload C in PyTorch: the twin of `cargo run --release --example bench_cnn`.

Conv2d(1 -> 32, 3x3) -> BatchNorm2d -> ReLU -> MaxPool2d(2) -> Conv2d(32 -> 64, 3x3) -> BatchNorm2d
-> ReLU -> MaxPool2d(2) -> Flatten -> Linear(1600 -> 10), He init. Flags as common.py describes."""
import torch.nn as nn

import common
import torch_common


def main():
    a = common.flags(__doc__.splitlines()[0])
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 10),
    )
    torch_common.run(a, torch_common.he_init(model), "C: conv3x3(32)-bn-relu-pool-conv3x3(64)-bn-relu-pool-fc",
                     images=True)


if __name__ == "__main__":
    main()
