"""The PyTorch side of the twins: one training step as every twin takes it (eager mode, CPU,
Adam lr 1e-3, betas 0.9 / 0.999, eps 1e-8, softmax cross-entropy) and the timed run."""
import common


def run(a, model, describe, images):
    """Trains `model` with the flags `a` and prints the summary line. `images`: the samples are
    [N, 1, 28, 28] rather than flat [N, 784]."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    xtr, ytr, xte, yte = (torch.from_numpy(t) for t in common.data(a))
    if images:
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    order = torch.Generator().manual_seed(a.seed)
    n, bs = len(xtr), a.batch_size

    def train_epoch(_epoch):
        model.train()
        perm = torch.randperm(n, generator=order)
        loss = torch.tensor(float("nan"))
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    def infer():
        model.eval()
        with torch.inference_mode():
            return (model(xte).argmax(1) == yte).float().mean().item()

    source = a.data_dir or "synthetic"
    common.run(a, f"{describe}, PyTorch {torch.__version__}, batch {bs}, {n} samples/epoch "
               f"({source}), {torch.get_num_threads()} threads", train_epoch, infer)


def he_init(model):
    """He-normal weights (fan in, ReLU gain) for every convolution and linear layer, zero biases:
    nn's `Init::He`."""
    import torch.nn as nn

    torch_layers = (nn.Conv2d, nn.Linear)
    for m in model.modules():
        if isinstance(m, torch_layers):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
