"""Writes nn-core/tests/fixtures/layers_pytorch.safetensors: forward outputs, input gradients and
parameter gradients computed by PyTorch for the element-wise activations (ReLU, LeakyReLU, ELU,
sigmoid, tanh, GELU exact and tanh, SiLU, Softplus), Softmax, LayerNorm, GroupNorm,
AdaptiveAvgPool2d, Upsample (nearest, bilinear) and ConvTranspose2d, in several configurations,
on fixed inputs. nn-core/tests/pytorch_fixture.rs checks nn against it.

Run from the project root (needs torch and safetensors; CI only reads the committed file):
    ~/.cache/nn-bench/venv/bin/python tools/make_layers_fixture.py
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn-core", "tests", "fixtures",
                   "layers_pytorch.safetensors")

# name, module, options for nn (as the Rust test reads them)
ACTIVATIONS = [
    ("relu", nn.ReLU(), {"kind": "relu"}),
    ("leaky_relu_default", nn.LeakyReLU(), {"kind": "leaky_relu", "negative_slope": 0.01}),
    ("leaky_relu_0.2", nn.LeakyReLU(0.2), {"kind": "leaky_relu", "negative_slope": 0.2}),
    ("elu_default", nn.ELU(), {"kind": "elu", "alpha": 1.0}),
    ("elu_0.5", nn.ELU(0.5), {"kind": "elu", "alpha": 0.5}),
    ("sigmoid", nn.Sigmoid(), {"kind": "sigmoid"}),
    ("tanh", nn.Tanh(), {"kind": "tanh"}),
    ("gelu_none", nn.GELU(), {"kind": "gelu", "approximate": "none"}),
    ("gelu_tanh", nn.GELU(approximate="tanh"), {"kind": "gelu", "approximate": "tanh"}),
    ("silu", nn.SiLU(), {"kind": "silu"}),
    ("softplus_default", nn.Softplus(), {"kind": "softplus", "beta": 1.0, "threshold": 20.0}),
    # beta 2, threshold 3: inputs above 1.5 take the linear branch.
    ("softplus_2_3", nn.Softplus(beta=2.0, threshold=3.0), {"kind": "softplus", "beta": 2.0, "threshold": 3.0}),
]
# name, dim, input shape
SOFTMAXES = [
    ("softmax_rows", 1, (3, 5)),
    ("softmax_channels", 1, (2, 3, 4, 4)),
    ("softmax_last", -1, (2, 3, 5)),
    ("softmax_batch", 0, (3, 4)),
]
# name, normalized_shape, eps, affine, input shape
LAYER_NORMS = [
    ("layer_norm_features", [8], 1e-5, True, (3, 8)),
    ("layer_norm_planes", [4, 5], 1e-5, True, (2, 3, 4, 5)),
    ("layer_norm_plain_eps", [6], 1e-3, False, (2, 4, 6)),
]
# name, groups, channels, eps, affine, input shape
GROUP_NORMS = [
    ("group_norm_2x4", 2, 4, 1e-5, True, (2, 4, 3, 3)),
    ("group_norm_one_group", 1, 3, 1e-5, True, (2, 3, 4)),
    ("group_norm_instance", 6, 6, 1e-5, True, (2, 6, 5, 5)),
    ("group_norm_plain_eps", 2, 4, 1e-3, False, (3, 4, 2, 2)),
]
# name, output size, input shape
ADAPTIVE = [
    ("adaptive_7_to_3", (3, 3), (2, 3, 7, 7)),
    ("adaptive_5x9_to_2x4", (2, 4), (1, 2, 5, 9)),
    ("adaptive_3x2_to_5x4", (5, 4), (2, 2, 3, 2)),
    ("adaptive_global", (1, 1), (2, 3, 6, 6)),
    ("adaptive_10x7_to_4x3", (4, 3), (1, 2, 10, 7)),
]
# name, mode, align_corners, scale factor (h, w) or None, size or None, input shape
UPSAMPLES = [
    ("nearest_2", "nearest", None, (2.0, 2.0), None, (2, 2, 3, 4)),
    ("nearest_1.5x2.5", "nearest", None, (1.5, 2.5), None, (1, 2, 4, 3)),
    ("nearest_size_5x3", "nearest", None, None, (5, 3), (1, 2, 3, 4)),
    ("bilinear_2", "bilinear", False, (2.0, 2.0), None, (2, 2, 3, 4)),
    ("bilinear_2_align", "bilinear", True, (2.0, 2.0), None, (2, 2, 3, 4)),
    ("bilinear_1.7x1.3", "bilinear", False, (1.7, 1.3), None, (1, 2, 5, 5)),
    ("bilinear_size_5x7_align", "bilinear", True, None, (5, 7), (1, 2, 3, 4)),
    ("bilinear_size_2x3", "bilinear", False, None, (2, 3), (1, 2, 5, 4)),
]
# name, in, out, kernel, stride, padding, output_padding, dilation, groups, bias, input shape
CONV_TRANSPOSES = [
    ("convt_plain", 2, 3, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, True, (2, 2, 4, 3)),
    ("convt_stride_2_output_padding", 3, 2, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, True, (2, 3, 3, 4)),
    ("convt_asymmetric", 2, 2, (2, 3), (2, 3), (0, 1), (1, 2), (1, 1), 1, True, (1, 2, 3, 3)),
    ("convt_dilation", 2, 2, (3, 3), (1, 1), (0, 0), (1, 1), (2, 2), 1, True, (2, 2, 3, 3)),
    ("convt_groups", 4, 6, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1), 2, True, (2, 4, 3, 4)),
    ("convt_depthwise_no_bias", 3, 3, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 3, False, (2, 3, 3, 2)),
    ("convt_decoder", 8, 4, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1, True, (2, 8, 4, 4)),
]


def main():
    torch.manual_seed(0)
    tensors, cases = {}, []

    def put(name, t):
        tensors[name] = t.detach().contiguous().float()

    def run(name, module, x, case):
        """Forward in training mode, backward of a random gradient, then forward in eval mode."""
        x = x.clone().requires_grad_(True)
        module.train()
        y = module(x)
        gy = torch.randn(y.shape)
        y.backward(gy)
        for part, t in [("x", x), ("gy", gy), ("y", y), ("dx", x.grad)]:
            put(f"{name}.{part}", t)
        for pname, p in module.named_parameters():
            put(f"{name}.{pname}", p)
            put(f"{name}.d{pname}", p.grad)
        module.eval()
        with torch.no_grad():
            put(f"{name}.y_eval", module(x))
        cases.append({"name": name, **case})

    for name, module, case in ACTIVATIONS:
        # Wide inputs: both tails, values near 0, and the softplus threshold.
        x = torch.cat([torch.randn(3, 7) * 3.0, torch.linspace(-12.0, 12.0, 7).unsqueeze(0)])
        run(name, module, x, case)

    for name, dim, shape in SOFTMAXES:
        run(name, nn.Softmax(dim=dim), torch.randn(shape) * 2.0, {"kind": "softmax", "dim": dim})

    for name, normalized, eps, affine, shape in LAYER_NORMS:
        module = nn.LayerNorm(normalized, eps=eps, elementwise_affine=affine)
        if affine:
            with torch.no_grad():
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)
        run(name, module, torch.randn(shape) * 3.0 + 2.0,
            {"kind": "layer_norm", "normalized_shape": normalized, "eps": eps, "affine": affine})

    for name, groups, channels, eps, affine, shape in GROUP_NORMS:
        module = nn.GroupNorm(groups, channels, eps=eps, affine=affine)
        if affine:
            with torch.no_grad():
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)
        run(name, module, torch.randn(shape) * 3.0 + 2.0,
            {"kind": "group_norm", "groups": groups, "channels": channels, "eps": eps, "affine": affine})

    for name, out, shape in ADAPTIVE:
        run(name, nn.AdaptiveAvgPool2d(out), torch.randn(shape), {"kind": "adaptive_avg_pool", "output": list(out)})

    for name, mode, align, scale, size, shape in UPSAMPLES:
        module = nn.Upsample(size=size, scale_factor=scale, mode=mode, align_corners=align)
        run(name, module, torch.randn(shape),
            {"kind": "upsample", "mode": mode, "align_corners": bool(align),
             "scale": list(scale) if scale else None, "size": list(size) if size else None})

    for name, cin, cout, k, s, p, op, d, g, bias, shape in CONV_TRANSPOSES:
        module = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, groups=g, bias=bias,
                                    dilation=d)
        with torch.no_grad():
            module.weight.normal_(0.0, 0.5)
            if bias:
                module.bias.normal_(0.0, 0.5)
        run(name, module, torch.randn(shape),
            {"kind": "conv_transpose", "in": cin, "out": cout, "kernel": list(k), "stride": list(s),
             "padding": list(p), "output_padding": list(op), "dilation": list(d), "groups": g, "bias": bias})

    meta = {"cases": json.dumps(cases), "torch": torch.__version__}
    save_file(tensors, OUT, metadata=meta)
    print(f"wrote {OUT}: {len(cases)} cases, {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
