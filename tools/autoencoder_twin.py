"""The PyTorch twin of examples/autoencoder.rs: the same network (784 -> 128 -> 32 -> 128 -> 784,
ReLU, sigmoid output; N(0, sqrt(2/fan_in)) weights for the ReLU layers and N(0, sqrt(1/fan_in))
for the last, as nn's Init::He and Init::Xavier; zero biases), the same settings (Adam 1e-3,
betas 0.9/0.999, eps 1e-8, batches of 100 reshuffled every epoch, 10 epochs, 1/6 of the training
set held out for validation) and the same losses (BCEWithLogitsLoss on the logits, or MSELoss on
the sigmoid output), on the same MNIST files. It prints the same `baseline_loss=` (every test
image predicted as the mean training image; for BCE its logit, the mean kept 1e-6 from 0 and 1)
and `test_loss=` lines, so the two can be compared.

The validation split and the batch order come from PyTorch's generator, not nn's: the runs differ
in which 10,000 images are held out and in the order of the batches, not in what is measured.

    ~/.cache/nn-bench/venv/bin/python tools/autoencoder_twin.py --data-dir DIR [--loss bce|mse]
        [--epochs 10] [--seed 4321]

DIR holds MNIST's four IDX files (gzipped or not), as nn's --data-dir does.
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(f"{directory}: no {stem}(.gz)")


class Autoencoder(nn.Module):
    def __init__(self, sigmoid_in_loss):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(784, 128), nn.Linear(128, 32)
        self.dec1, self.dec2 = nn.Linear(32, 128), nn.Linear(128, 784)
        self.sigmoid_in_loss = sigmoid_in_loss
        with torch.no_grad():
            for layer, gain in [(self.enc1, 2.0), (self.enc2, 2.0), (self.dec1, 2.0), (self.dec2, 1.0)]:
                layer.weight.normal_(0.0, math.sqrt(gain / layer.in_features))
                layer.bias.zero_()

    def forward(self, x):
        x = torch.relu(self.enc1(x))
        x = torch.relu(self.enc2(x))
        x = torch.relu(self.dec1(x))
        x = self.dec2(x)
        return x if self.sigmoid_in_loss else torch.sigmoid(x)


def mean_loss(loss_fn, outputs_of, data, batch):
    total = 0.0
    for i in range(0, len(data), batch):
        x = data[i:i + batch]
        total += loss_fn(outputs_of(x), x).item() * len(x)
    return total / len(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--loss", choices=["bce", "mse"], default="bce")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=4321)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    images = torch.from_numpy(read_idx(a.data_dir, "train-images-idx3-ubyte").reshape(-1, 784).copy())
    test = torch.from_numpy(read_idx(a.data_dir, "t10k-images-idx3-ubyte").reshape(-1, 784).copy())
    images, test = images.float() / 255.0, test.float() / 255.0
    order = torch.randperm(len(images))
    n_valid = round(len(images) / 6)
    valid, train = images[order[:n_valid]], images[order[n_valid:]]
    print(f"MNIST: {len(train)} training, {len(valid)} validation, {len(test)} test images")

    bce = a.loss == "bce"
    loss_fn = nn.BCEWithLogitsLoss() if bce else nn.MSELoss()
    mean = train.mean(dim=0)
    if bce:
        m = mean.clamp(1e-6, 1 - 1e-6)
        constant = torch.log(m / (1 - m))
    else:
        constant = mean
    baseline = mean_loss(loss_fn, lambda x: constant.expand(len(x), 784), test, a.batch_size)
    print(f"baseline_loss={baseline:.4f}")

    net = Autoencoder(sigmoid_in_loss=bce)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    for epoch in range(1, a.epochs + 1):
        start = time.time()
        net.train()
        total = 0.0
        for idx in torch.randperm(len(train)).split(a.batch_size):
            x = train[idx]
            opt.zero_grad()
            loss = loss_fn(net(x), x)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        net.eval()
        with torch.no_grad():
            v = mean_loss(loss_fn, net, valid, a.batch_size)
        print(f"epoch {epoch}/{a.epochs}  train_loss={total / len(train):.4f}  valid_loss={v:.4f}  "
              f"{time.time() - start:.1f}s")
    with torch.no_grad():
        print(f"test_loss={mean_loss(loss_fn, net, test, a.batch_size):.4f}")


if __name__ == "__main__":
    main()
