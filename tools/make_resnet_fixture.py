"""PyTorch interop for a whole ResNet, both ways.

1. Writes the fixture tests/pytorch_resnet.rs checks: a small ResNet with torchvision's module
   names (conv1, bn1, relu, layer1..layer3 of BasicBlocks with a projection `downsample` where
   the shape changes, avgpool, fc; 4, 8 and 16 channels, one block per stage, to keep the file
   small) trained 200 Adam steps in PyTorch on MNIST digits, its state_dict saved with
   safetensors.torch.save_file (tests/fixtures/torch_resnet.safetensors, num_batches_tracked
   included), and its eval-mode logits on eight fixed test digits with those digits
   (tests/fixtures/torch_resnet_logits.safetensors: `input` u8 [8, 1, 28, 28], `logits` f32
   [8, 10]).
2. Loads nn's checkpoint of the same network (tests/fixtures/nn_resnet.safetensors, written by
   `NN_WRITE_FIXTURES=1 cargo test --test pytorch_resnet`: the PyTorch weights trained further in
   nn) into the PyTorch module with strict=True, and compares its eval logits on the same digits
   with nn's (tests/fixtures/nn_resnet_logits.safetensors).

    ~/.cache/nn-bench/venv/bin/python tools/make_resnet_fixture.py [--data-dir nn-core/data/mnist-10k]
    ~/.cache/nn-bench/venv/bin/python tools/make_resnet_fixture.py --check-only

Needs torch and safetensors (not torchvision: its BasicBlock is written out below, attribute for
attribute). Seeded: the same fixture every run on the same PyTorch build.
"""
import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mnist_idx import load, pixels

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock (expansion 1, BatchNorm2d), attribute for attribute."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet layout for 1-channel 28x28 digits: a 3x3 stem without max pooling,
    three stages (the second and third with stride 2), global average pooling, fc."""

    def __init__(self, widths=(4, 8, 16), blocks=1):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = widths[0]
        self.layer1 = self._make_layer(widths[0], blocks, 1)
        self.layer2 = self._make_layer(widths[1], blocks, 2)
        self.layer3 = self._make_layer(widths[2], blocks, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], 10)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_fixture(data_dir):
    torch.manual_seed(4321)
    train_x, train_y = load(data_dir, "train", (1, 28, 28))
    test_x, test_y = load(data_dir, "t10k", (1, 28, 28))
    net = ResNet()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    net.train()
    # Enough steps for the running statistics to settle (momentum 0.1), so that the eval logits
    # tell digits apart.
    for step in range(200):
        lo = step * 20
        x, y = pixels(train_x[lo:lo + 20]), train_y[lo:lo + 20]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    digits = test_x[:8].clone()
    with torch.no_grad():
        logits = net(pixels(digits))
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, FIXTURES / "torch_resnet.safetensors")
    save_file({"input": digits.contiguous(), "logits": logits.contiguous()},
              FIXTURES / "torch_resnet_logits.safetensors")
    print(f"wrote {FIXTURES / 'torch_resnet.safetensors'}: {len(state)} tensors, "
          f"{sum(v.numel() for v in net.parameters())} parameters")
    print(f"wrote {FIXTURES / 'torch_resnet_logits.safetensors'}: logits of {len(digits)} test digits, "
          f"argmax {logits.argmax(1).tolist()}, labels {test_y[:8].tolist()}")


def check_nn_model():
    """nn's checkpoint in PyTorch: strict load, then eval logits against nn's own."""
    path = FIXTURES / "nn_resnet.safetensors"
    net = ResNet()
    net.load_state_dict(load_file(path), strict=True)
    net.eval()
    digits = load_file(FIXTURES / "torch_resnet_logits.safetensors")["input"]
    expected = load_file(FIXTURES / "nn_resnet_logits.safetensors")["logits"]
    with torch.no_grad():
        logits = net(pixels(digits))
    worst = ((logits - expected).abs() / expected.abs().clamp(min=1.0)).max().item()
    print(f"{path}: loaded into PyTorch's ResNet with strict=True; eval logits on {len(digits)} "
          f"digits differ from nn's by at most {worst:.1e} (relative, floor 1)")
    if worst > 1e-5:
        raise SystemExit("FAILED: PyTorch's logits of nn's checkpoint differ from nn's by more than 1e-5")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "nn-core" / "data" / "mnist-10k")
    parser.add_argument("--check-only", action="store_true",
                        help="only load nn's checkpoint into PyTorch (keep the PyTorch fixture)")
    args = parser.parse_args()
    if not args.check_only:
        make_fixture(args.data_dir)
    if (FIXTURES / "nn_resnet.safetensors").exists():
        check_nn_model()
    else:
        print("no tests/fixtures/nn_resnet.safetensors yet: write it with "
              "NN_WRITE_FIXTURES=1 cargo test --test pytorch_resnet, then run this with --check-only")


if __name__ == "__main__":
    main()
