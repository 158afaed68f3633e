"""PyTorch interop, both ways.

1. Writes the fixture tests/pytorch_mlp.rs checks: a small MLP with the main job's field names
   (fc1, bn1, act1, fc2, bn2, act2, fc3; 784 -> 32 -> 16 -> 10 to keep the file small) trained a
   few Adam steps in PyTorch on MNIST digits, its state_dict saved with
   safetensors.torch.save_file (tests/fixtures/torch_mlp.safetensors, num_batches_tracked
   included), and its eval-mode logits on eight fixed test digits with those digits
   (tests/fixtures/torch_mlp_logits.safetensors: `input` u8 [8, 784], `logits` f32 [8, 10]).
2. Loads nn's checkpoint of the main job's network (784 -> 128 -> 64 -> 10) into the same
   PyTorch module with strict=True and prints its test accuracy, to compare with nn's
   `evaluate` on the same file.

    ~/.cache/nn-bench/venv/bin/python tools/make_torch_mlp_fixture.py   # the venv of bench/setup.sh \\
        [--data-dir nn-core/data/mnist-10k] [--nn-model examples/models/mlp_mnist10k.safetensors]

Needs torch and safetensors. Seeded: the same fixture every run on the same PyTorch build.
"""
import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mnist_idx import load, pixels

ROOT = Path(__file__).resolve().parent.parent


class SeedNet(nn.Module):
    """The main job's network (examples/common/nets.rs), field for field."""

    def __init__(self, hidden=(128, 64)):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden[0])
        self.bn1 = nn.BatchNorm1d(hidden[0])
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.bn2 = nn.BatchNorm1d(hidden[1])
        self.act2 = nn.ReLU()
        self.fc3 = nn.Linear(hidden[1], 10)

    def forward(self, x):
        x = self.act1(self.bn1(self.fc1(x.flatten(1))))
        x = self.act2(self.bn2(self.fc2(x)))
        return self.fc3(x)


def make_fixture(data_dir, out_dir):
    torch.manual_seed(4321)
    train_x, train_y = load(data_dir, "train")
    test_x, _ = load(data_dir, "t10k")
    net = SeedNet(hidden=(32, 16))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for step in range(30):
        lo = step * 20
        x, y = pixels(train_x[lo:lo + 20]), train_y[lo:lo + 20]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    digits = test_x[:8].clone()
    with torch.no_grad():
        logits = net(pixels(digits))
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, out_dir / "torch_mlp.safetensors")
    save_file({"input": digits.contiguous(), "logits": logits.contiguous()},
              out_dir / "torch_mlp_logits.safetensors")
    print(f"wrote {out_dir / 'torch_mlp.safetensors'}: " + ", ".join(
        f"{k} {str(v.dtype).removeprefix('torch.')} {list(v.shape)}" for k, v in state.items()))
    print(f"wrote {out_dir / 'torch_mlp_logits.safetensors'}: logits of {len(digits)} test digits, "
          f"argmax {logits.argmax(1).tolist()}")


def check_nn_model(data_dir, path):
    """nn's checkpoint in PyTorch: strict load, then the test accuracy."""
    net = SeedNet()
    state = load_file(path)
    net.load_state_dict(state, strict=True)
    net.eval()
    test_x, test_y = load(data_dir, "t10k")
    with torch.no_grad():
        predicted = net(pixels(test_x)).argmax(1)
    accuracy = (predicted == test_y).float().mean().item()
    print(f"{path}: loaded into PyTorch's SeedNet with strict=True; "
          f"{len(test_y)} test images, test_accuracy={accuracy:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "nn-core" / "data" / "mnist-10k")
    parser.add_argument("--nn-model", type=Path, default=ROOT / "examples" / "models" / "mlp_mnist10k.safetensors")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    args = parser.parse_args()
    make_fixture(args.data_dir, args.out)
    check_nn_model(args.data_dir, args.nn_model)


if __name__ == "__main__":
    main()
