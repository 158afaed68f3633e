"""What the Python twins of nn's benchmarks share: their flags, the data, the timed loop and the
last line, which is the one nn's bench examples print:
`median_epoch_s=<s> samples_per_s=<n> infer_samples_per_s=<n>`.

A run is one warm-up epoch, then `--epochs` timed epochs over the first `--samples` training
samples in batches of `--batch-size` (shuffled each epoch, the last partial batch dropped), then
`--infer-rounds` timed Eval forwards of the first `--infer-samples` test samples as one batch
after one untimed forward. Data: real MNIST from `--data-dir DIR` (the four IDX files, gzipped or
not, as nn reads them) or, without it, synthetic samples (uniform pixels in [0, 1), uniform
labels), which cost the same arithmetic.
"""
import argparse
import gzip
import os
import statistics
import struct
import sys
import time

import numpy as np


def flags(description):
    """The flags every twin takes, with nn's bench examples' names and defaults."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--samples", type=int, default=50_000, help="training samples per epoch")
    p.add_argument("--infer-samples", type=int, default=10_000)
    p.add_argument("--infer-rounds", type=int, default=3)
    p.add_argument("--data-dir", help="real MNIST (the four IDX files) instead of synthetic data")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def read_idx(directory, stem):
    """The array in `stem` (gzipped as `stem.gz` or raw), checked against its IDX header."""
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                raw = f.read()
            break
    else:
        sys.exit(f"error: {directory} holds neither {stem}.gz nor {stem}")
    zero, kind, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or kind != 0x08:
        sys.exit(f"error: {path} is not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        sys.exit(f"error: {path}: the header announces {dims}, the file holds {data.size} bytes")
    return data.reshape(dims)


def mnist(directory, split, n):
    """The first `n` samples of `split` ("train" or "t10k"): pixels / 255 as f32 [n, 784], labels."""
    x = read_idx(directory, f"{split}-images-idx3-ubyte")[:n]
    y = read_idx(directory, f"{split}-labels-idx1-ubyte")[:n]
    return (x.reshape(len(x), -1).astype(np.float32) / np.float32(255)), y.astype(np.int64)


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n, dtype=np.int64)


def data(a):
    """(train x, train y, test x, test y) as the flags ask, x flat [n, 784]."""
    if a.data_dir:
        return (*mnist(a.data_dir, "train", a.samples), *mnist(a.data_dir, "t10k", a.infer_samples))
    return (*synthetic(a.samples, a.seed), *synthetic(a.infer_samples, a.seed + 1))


def run(a, describe, train_epoch, infer):
    """Times `train_epoch(epoch)` (returning the epoch's last loss) and `infer()`, printing one
    line per epoch and the summary line last."""
    print(describe, flush=True)
    start = time.perf_counter()
    loss = train_epoch(0)
    print(f"warm-up epoch: {time.perf_counter() - start:.3f} s, loss {loss:.4f}", flush=True)
    epoch_s = []
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(epoch)
        epoch_s.append(time.perf_counter() - start)
        print(f"epoch {epoch}/{a.epochs}: {epoch_s[-1]:.3f} s, "
              f"{a.samples / epoch_s[-1]:.0f} samples/s, loss {loss:.4f}", flush=True)
    accuracy = infer()
    infer_s = []
    for _ in range(a.infer_rounds):
        start = time.perf_counter()
        infer()
        infer_s.append(time.perf_counter() - start)
    epoch, forward = statistics.median(epoch_s), statistics.median(infer_s)
    print(f"inference: {a.infer_samples} samples: {forward:.4f} s median of {a.infer_rounds}, "
          f"accuracy {accuracy:.4f}")
    print(f"median_epoch_s={epoch:.4f} samples_per_s={a.samples / epoch:.0f} "
          f"infer_samples_per_s={a.infer_samples / forward:.0f}", flush=True)
