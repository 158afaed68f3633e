"""Workload R in PyTorch: the twin of `cargo run --release --example bench_resnet`.

A stem (Conv2d 1 -> 16, 3x3, padding 1, no bias -> BatchNorm2d -> ReLU), three basic blocks as
torchvision's ResNet has them (16 -> 16; 16 -> 32 and 32 -> 64 with stride 2 and a 1x1
convolution + BatchNorm2d on the shortcut), global average pooling and Linear(64 -> 10); every
convolution without bias, He init. Flags as common.py describes."""
import torch.nn as nn

import common
import torch_common


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv1 -> bn1 -> relu -> conv2 -> bn2, plus the shortcut, then
    relu; its parameter names (conv1.weight, downsample.0.weight, ...) are torchvision's."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + shortcut)


def main():
    a = common.flags(__doc__.splitlines()[0])
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )
    torch_common.run(a, torch_common.he_init(model), "R: ResNet stem-16, blocks 16/32/64, pool, fc", images=True)


if __name__ == "__main__":
    main()
