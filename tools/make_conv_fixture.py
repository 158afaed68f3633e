"""Writes nn-core/tests/fixtures/conv_pytorch.safetensors: forward outputs, input gradients and
parameter gradients computed by PyTorch for Conv2d (several configurations), MaxPool2d, AvgPool2d
and BatchNorm2d on fixed inputs. nn-core/tests/pytorch_fixture.rs checks nn against it.

Run from the project root (needs torch and safetensors; CI only reads the committed file):
    ~/.cache/nn-bench/venv/bin/python tools/make_conv_fixture.py
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn-core", "tests", "fixtures",
                   "conv_pytorch.safetensors")

# name, in, out, kernel, stride, padding ("same" or (h, w)), dilation, groups, bias, input shape
CONVS = [
    ("conv_plain", 3, 4, (3, 3), (1, 1), (0, 0), (1, 1), 1, True, (2, 3, 7, 7)),
    ("conv_stride_pad", 4, 6, (3, 2), (2, 2), (1, 1), (1, 1), 1, True, (2, 4, 7, 8)),
    ("conv_dilation", 2, 3, (3, 3), (1, 1), (2, 2), (2, 2), 1, True, (1, 2, 8, 9)),
    ("conv_groups", 4, 6, (3, 3), (1, 1), (1, 1), (1, 1), 2, True, (2, 4, 6, 6)),
    ("conv_depthwise_same", 3, 3, (5, 5), (1, 1), "same", (1, 1), 3, False, (2, 3, 7, 7)),
    ("conv_first_layer", 1, 5, (5, 5), (2, 1), (0, 1), (1, 1), 1, True, (3, 1, 12, 11)),
    ("conv_mixed", 6, 4, (3, 3), (2, 2), (1, 1), (2, 2), 2, True, (1, 6, 9, 8)),
    # A 1-channel first layer with "same" padding, and a small kernel over two channels.
    ("conv_one_channel_same", 1, 12, (3, 3), (1, 1), "same", (1, 1), 1, True, (2, 1, 9, 8)),
    ("conv_two_channels_2x3", 2, 4, (2, 3), (1, 1), (1, 0), (1, 1), 1, True, (2, 2, 6, 7)),
]
# name, kind, kernel, stride, padding, input shape
POOLS = [
    ("max_2", "max", (2, 2), (2, 2), (0, 0), (2, 2, 6, 6)),
    ("max_3_stride_2_pad_1", "max", (3, 3), (2, 2), (1, 1), (1, 2, 9, 7)),
    ("max_2x3_stride_1", "max", (2, 3), (1, 1), (0, 0), (1, 2, 5, 6)),
    ("avg_2", "avg", (2, 2), (2, 2), (0, 0), (2, 2, 6, 6)),
    ("avg_3_stride_2_pad_1", "avg", (3, 3), (2, 2), (1, 1), (1, 2, 9, 7)),
    ("avg_2x3_stride_1x2", "avg", (2, 3), (1, 2), (0, 1), (1, 2, 5, 6)),
]
BN_SHAPE = (4, 3, 4, 5)


def main():
    torch.manual_seed(0)
    tensors, cases = {}, []

    def put(name, t):
        tensors[name] = t.detach().contiguous().float()

    for name, cin, cout, k, s, p, d, g, bias, shape in CONVS:
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
        with torch.no_grad():
            conv.weight.normal_(0.0, 0.5)
            if bias:
                conv.bias.normal_(0.0, 0.5)
        x = torch.randn(shape, requires_grad=True)
        y = conv(x)
        gy = torch.randn(y.shape)
        y.backward(gy)
        for part, t in [("x", x), ("gy", gy), ("y", y), ("dx", x.grad), ("weight", conv.weight),
                        ("dweight", conv.weight.grad)]:
            put(f"{name}.{part}", t)
        if bias:
            put(f"{name}.bias", conv.bias)
            put(f"{name}.dbias", conv.bias.grad)
        padding = list(conv.padding) if isinstance(conv.padding, tuple) else [(kk - 1) // 2 for kk in k]
        cases.append({"name": name, "kind": "conv", "in": cin, "out": cout, "kernel": list(k), "stride": list(s),
                      "padding": padding, "same": p == "same", "dilation": list(d), "groups": g, "bias": bias})

    for name, kind, k, s, p, shape in POOLS:
        pool = nn.MaxPool2d(k, s, p) if kind == "max" else nn.AvgPool2d(k, s, p, count_include_pad=True)
        x = torch.randn(shape, requires_grad=True)
        y = pool(x)
        gy = torch.randn(y.shape)
        y.backward(gy)
        for part, t in [("x", x), ("gy", gy), ("y", y), ("dx", x.grad)]:
            put(f"{name}.{part}", t)
        cases.append({"name": name, "kind": kind, "kernel": list(k), "stride": list(s), "padding": list(p)})

    bn = nn.BatchNorm2d(BN_SHAPE[1])
    with torch.no_grad():
        bn.weight.normal_(1.0, 0.3)
        bn.bias.normal_(0.0, 0.3)
    put("bn.weight", bn.weight)
    put("bn.bias", bn.bias)
    x = (torch.randn(BN_SHAPE) * 3.0 + 2.0).requires_grad_(True)
    y = bn(x)
    gy = torch.randn(y.shape)
    y.backward(gy)
    for part, t in [("x", x), ("gy", gy), ("y", y), ("dx", x.grad), ("dweight", bn.weight.grad),
                    ("dbias", bn.bias.grad), ("running_mean", bn.running_mean), ("running_var", bn.running_var)]:
        put(f"bn.{part}", t)
    bn.eval()
    x_eval = torch.randn(BN_SHAPE) * 3.0 + 2.0
    put("bn.x_eval", x_eval)
    put("bn.y_eval", bn(x_eval))
    cases.append({"name": "bn", "kind": "batch_norm2d", "channels": BN_SHAPE[1]})

    meta = {"cases": json.dumps(cases), "torch": torch.__version__}
    save_file(tensors, OUT, metadata=meta)
    print(f"wrote {OUT}: {len(cases)} cases, {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
