"""Workload W in numpy, written the way the notebook nn ports writes it: layer objects with
forward and backward, a network that chains them, and Adam over a dict of parameters.

MLP 784 -> 128 -> 64 -> 10, each hidden layer Affine -> BatchNorm -> ReLU, He init, softmax
cross-entropy, Adam (lr 1e-3). Flags as common.py describes; the threads are numpy's BLAS
threads (threadpoolctl)."""
import numpy as np

import common


class Affine:
    def __init__(self, w, b):
        self.params = {"W": w, "b": b}
        self.grads = {}

    def forward(self, x, train):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class BatchNorm:
    def __init__(self, n, momentum=0.1, eps=1e-5):
        self.params = {"gamma": np.ones(n, np.float32), "beta": np.zeros(n, np.float32)}
        self.grads = {}
        self.running_mean, self.running_var = np.zeros(n, np.float32), np.ones(n, np.float32)
        self.momentum, self.eps = np.float32(momentum), np.float32(eps)

    def forward(self, x, train):
        if train:
            mu = x.mean(axis=0)
            self.xc = x - mu
            var = (self.xc ** 2).mean(axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn = self.xc / self.std
            m = self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mu
            self.running_var = (1 - m) * self.running_var + m * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.params["gamma"] * xn + self.params["beta"]

    def backward(self, dout):
        n = dout.shape[0]
        self.grads["beta"] = dout.sum(axis=0)
        self.grads["gamma"] = (self.xn * dout).sum(axis=0)
        dxn = self.params["gamma"] * dout
        dxc = dxn / self.std
        dstd = -((dxn * self.xc) / (self.std * self.std)).sum(axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        return dxc - dxc.mean(axis=0)


class Relu:
    def forward(self, x, train):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()  # the notebook wrote into dout itself; a layer must not change its input
        dx[self.mask] = 0
        return dx


class SoftmaxWithLoss:
    def forward(self, logits, labels):
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        self.probabilities = e / e.sum(axis=1, keepdims=True)
        self.labels = labels
        n = len(labels)
        return -np.log(self.probabilities[np.arange(n), labels] + 1e-7).mean()

    def backward(self):
        n = len(self.labels)
        dx = self.probabilities.copy()
        dx[np.arange(n), self.labels] -= 1
        return dx / n


class Adam:
    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def update(self, layers):
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for i, layer in enumerate(layers):
            for name, p in getattr(layer, "params", {}).items():
                g, key = layer.grads[name], (i, name)
                if key not in self.m:
                    self.m[key], self.v[key] = np.zeros_like(p), np.zeros_like(p)
                self.m[key] += (1 - self.beta1) * (g - self.m[key])
                self.v[key] += (1 - self.beta2) * (g * g - self.v[key])
                p -= (lr_t * self.m[key] / (np.sqrt(self.v[key]) + self.eps)).astype(np.float32)


def he(rng, n_in, n_out):
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32)


def main():
    a = common.flags(__doc__.splitlines()[0])
    from threadpoolctl import threadpool_limits

    threadpool_limits(a.threads)
    xtr, ytr, xte, yte = common.data(a)
    rng = np.random.default_rng(a.seed)
    sizes = [784, 128, 64, 10]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(Affine(he(rng, n_in, n_out), np.zeros(n_out, np.float32)))
        if i < len(sizes) - 2:
            layers += [BatchNorm(n_out), Relu()]
    loss_layer, opt = SoftmaxWithLoss(), Adam()
    n, bs = len(xtr), a.batch_size

    def forward(x, train):
        for layer in layers:
            x = layer.forward(x, train)
        return x

    def train_epoch(_epoch):
        perm = rng.permutation(n)
        loss = float("nan")
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = loss_layer.forward(forward(xtr[idx], True), ytr[idx])
            grad = loss_layer.backward()
            for layer in reversed(layers):
                grad = layer.backward(grad)
            opt.update(layers)
        return loss

    def infer():
        return float((forward(xte, False).argmax(axis=1) == yte).mean())

    source = a.data_dir or "synthetic"
    common.run(a, f"W: 784-128-64-10 MLP in the notebook's numpy style, numpy {np.__version__}, batch {bs}, "
               f"{n} samples/epoch ({source}), {a.threads} threads", train_epoch, infer)


if __name__ == "__main__":
    main()
