"""MNIST's IDX files for the fixture scripts: read as uint8 tensors, as nn reads them."""
import gzip
import struct

import torch


def idx(path):
    """An IDX file (gzipped or not) as a uint8 tensor of its dimensions."""
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an IDX file of u8 data"
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load(data_dir, part, shape=(784,)):
    """(images u8 [N, *shape], labels i64 [N]) of `part` (train or t10k) in `data_dir`."""
    def find(name):
        for candidate in (data_dir / f"{name}.gz", data_dir / name):
            if candidate.exists():
                return candidate
        raise SystemExit(f"{data_dir}: no {name}(.gz); give --data-dir with the MNIST IDX files")
    images = idx(find(f"{part}-images-idx3-ubyte")).reshape(-1, *shape)
    labels = idx(find(f"{part}-labels-idx1-ubyte")).long()
    return images, labels


def pixels(u8):
    """u8 pixels as nn's batches see them: f32 / 255."""
    return u8.float() / 255.0
