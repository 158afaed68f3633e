"""Writes nn-core/tests/fixtures/loss_pytorch.safetensors: values and gradients (with respect to
the network's output) computed by PyTorch for nn.CrossEntropyLoss (class indices, class
probabilities, label smoothing, both reductions, logits of magnitude 1e4), nn.MSELoss,
nn.L1Loss, nn.HuberLoss (three deltas) and nn.BCEWithLogitsLoss (soft and 0/1 targets, logits
of magnitude 1e4). nn-core/tests/loss_pytorch.rs checks nn's losses against it.

Inputs are drawn in float32 (what nn computes in); PyTorch computes in float64 from those same
values, so the fixture holds the exact answers rounded once to float32.

Run from the project root (needs torch and safetensors; CI only reads the committed file):
    ~/.cache/nn-bench/venv/bin/python tools/make_loss_fixture.py
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn-core", "tests", "fixtures",
                   "loss_pytorch.safetensors")


def ce_cases():
    n, c = 6, 5
    logits = torch.randn(n, c) * 3
    classes = torch.randint(0, c, (n,))
    probs = torch.softmax(torch.randn(n, c), dim=1)
    extreme = torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4 + 2.0, -1e4], [1e4, 1e4, 1e4],
                            [0.0, 0.0, 0.0]])
    extreme_classes = torch.tensor([2, 1, 0, 1])
    yield "ce_classes", {}, logits, classes
    yield "ce_classes_smoothing", {"label_smoothing": 0.1}, logits, classes
    yield "ce_classes_sum", {"reduction": "sum"}, logits, classes
    yield "ce_probabilities", {}, logits, probs
    yield "ce_probabilities_smoothing_sum", {"label_smoothing": 0.2, "reduction": "sum"}, logits, probs
    yield "ce_one_hot", {}, logits, nn.functional.one_hot(classes, c).float()
    yield "ce_extreme", {}, extreme, extreme_classes
    yield "ce_extreme_smoothing", {"label_smoothing": 0.05}, extreme, extreme_classes


def elementwise_cases():
    y, t = torch.randn(4, 3, 2) * 2, torch.randn(4, 3, 2) * 2
    for loss in ["mse", "l1"]:
        yield loss, {}, y, t
        yield loss + "_sum", {"reduction": "sum"}, y, t
    for delta in [1.0, 0.5, 2.0]:
        yield f"huber_{delta}", {"delta": delta}, y, t
    yield "huber_0.5_sum", {"delta": 0.5, "reduction": "sum"}, y, t
    x = torch.randn(5, 4) * 4
    yield "bce_soft", {}, x, torch.rand(5, 4)
    yield "bce_multilabel", {}, x, torch.randint(0, 2, (5, 4)).float()
    yield "bce_sum", {"reduction": "sum"}, x, torch.rand(5, 4)
    big = torch.tensor([[1e4, -1e4, 1e4, -1e4], [30.0, -30.0, 0.0, 1e-3]])
    yield "bce_extreme", {}, big, torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.5, 0.25]])


def torch_loss(name, options):
    reduction = options.get("reduction", "mean")
    if name.startswith("ce"):
        return nn.CrossEntropyLoss(reduction=reduction, label_smoothing=options.get("label_smoothing", 0.0))
    if name.startswith("mse"):
        return nn.MSELoss(reduction=reduction)
    if name.startswith("l1"):
        return nn.L1Loss(reduction=reduction)
    if name.startswith("huber"):
        return nn.HuberLoss(reduction=reduction, delta=options["delta"])
    return nn.BCEWithLogitsLoss(reduction=reduction)


def main():
    torch.manual_seed(0)
    tensors, cases = {}, {}
    for name, options, output, target in list(ce_cases()) + list(elementwise_cases()):
        output = output.float()
        x = output.double().requires_grad_(True)
        classes = target.dtype == torch.int64
        t = target if classes else target.float().double()
        loss = torch_loss(name, options)(x, t)
        loss.backward()
        tensors[f"{name}.output"] = output.clone()
        tensors[f"{name}.target"] = target.float().clone()
        tensors[f"{name}.loss"] = loss.detach().float().reshape(1)
        tensors[f"{name}.grad"] = x.grad.float().contiguous()
        cases[name] = dict(options, targets="classes" if classes else "values")
    save_file(tensors, OUT, metadata={"cases": json.dumps(cases), "torch": torch.__version__})
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
