"""An independent PyTorch reference of incremental PC (docs/design.md §8) on one batch.

Usage: ipc_torch.py PROBLEM

PROBLEM is a safetensors file (F64) with the batch "input" [B, n0], "labels" [B] (class
indices as floats), the initial weights "layers.<l>.weight" / "layers.<l>.bias" and
metadata: steps (T), gamma, precisions (comma list of pi_1..pi_H), optimizer (sgd or
adam), lr, momentum (sgd), beta1, beta2, eps (adam). Every layer is tanh except the last
(identity); the loss is the mean NLL of log_softmax.

From x_l(0) = mu_l (the feed-forward values), at every step t = 0..T-1: the errors
e_l = x_l - f_{l-1}(x_{l-1}) (hidden l) and e_{H+1} = -dE/dz at z = f_H(x_H), all with
the weights of step t; then, from those values, x_l <- x_l - gamma (pi_l e_l -
J_l(x_l)^T pi_{l+1} e_{l+1}) and one torch.optim step of every layer along the gradient
-dW_l(x_l; pi_{l+1} e_{l+1}). Products come from autograd, the optimiser is torch's own.

Prints {"layers": [[W flattened, b], ...], "updates": [[dW summed over t, db summed], ...]}.
"""

import json
import struct
import sys

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F64", (name, info["dtype"])
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float64)
        tensors[name] = t.reshape(info["shape"])
    return meta, tensors


def main():
    meta, t = read_safetensors(sys.argv[1])
    x0 = t["input"]
    labels = t["labels"].long()
    n_layers = len([k for k in t if k.endswith(".weight")])
    H = n_layers - 1
    W = [t[f"layers.{l}.weight"].clone().requires_grad_(True) for l in range(n_layers)]
    b = [t[f"layers.{l}.bias"].clone().requires_grad_(True) for l in range(n_layers)]
    T = int(meta["steps"])
    gamma = float(meta["gamma"])
    pi = [1.0] + [float(p) for p in meta["precisions"].split(",")] + [1.0]
    params = [p for l in range(n_layers) for p in (W[l], b[l])]
    if meta["optimizer"] == "sgd":
        opt = torch.optim.SGD(params, lr=float(meta["lr"]), momentum=float(meta["momentum"]))
    else:
        opt = torch.optim.Adam(params, lr=float(meta["lr"]), betas=(float(meta["beta1"]), float(meta["beta2"])), eps=float(meta["eps"]))

    def f(l, v):
        a = v @ W[l].T + b[l]
        return torch.tanh(a) if l < H else a

    with torch.no_grad():
        x = [x0]
        for l in range(n_layers):
            x.append(f(l, x[-1]))
    x = [v.clone() for v in x[: H + 1]]  # x_0 clamped, x_1..x_H states
    sums = [(torch.zeros_like(W[l]), torch.zeros_like(b[l])) for l in range(n_layers)]

    for _ in range(T):
        # Errors of step t at the weights of step t.
        with torch.no_grad():
            e = [None] + [x[l] - f(l - 1, x[l - 1]) for l in range(1, H + 1)]
        z = f(H, x[H]).detach().requires_grad_(True)
        loss = torch.nn.functional.nll_loss(torch.log_softmax(z, dim=1), labels)
        (dz,) = torch.autograd.grad(loss, z)
        e.append(-dz)
        # Products at step t's states and weights, from the cotangent pi_{l+1} e_{l+1}.
        new_x = [x[0]]
        opt.zero_grad()
        for l in range(n_layers):
            v = x[l].clone().requires_grad_(l > 0)
            out = f(l, v)
            inputs = [W[l], b[l]] + ([v] if l > 0 else [])
            grads = torch.autograd.grad(out, inputs, grad_outputs=pi[l + 1] * e[l + 1])
            dW, db = grads[0], grads[1]
            sums[l][0].add_(dW)
            sums[l][1].add_(db)
            W[l].grad, b[l].grad = -dW, -db  # PC's update is a negative gradient
            if l > 0:
                jte = grads[2]
                with torch.no_grad():
                    new_x.append(x[l] - gamma * (pi[l] * e[l] - jte))
        opt.step()
        x = new_x

    out = {
        "layers": [[W[l].detach().flatten().tolist(), b[l].detach().tolist()] for l in range(n_layers)],
        "updates": [[sums[l][0].flatten().tolist(), sums[l][1].tolist()] for l in range(n_layers)],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
