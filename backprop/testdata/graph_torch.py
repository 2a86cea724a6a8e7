#!/usr/bin/python3
"""An independent PyTorch reference of docs/design.md §11: the gradients of a network on a layer graph.

Usage: graph_torch.py PROBLEM...

The network, written from §11 with PyTorch's autograd for every derivative, in float64:

  maps=preact   §11's pre-activation maps, no biases, multipliers kept apart from the weights:
                  mu_1     = a_0 * x_0 @ W_0.T                               (no activation)
                  mu_{l+1} = [x_l +] a_h * phi(x_l) @ W_l.T     l = 1..H-1   (the skip: arch=residual)
                  mu_{H+1} = a_L * phi(x_H) @ W_H.T                          (readout)
                param=mupc: a_0 = 1/sqrt(D), a_h = 1/sqrt(N L), a_L = 1/N with L = H+1 and N, D the
                width the layer reads; param=standard: every multiplier 1.
  maps=dense    today's dense layers, mu_{l+1} = act(x_l @ W_l.T + b_l), the last one linear.
  skips         "i:j,...": mu_j += mu_i (after the map's term, sources ascending).
  loss          nll (mean of -log_softmax[y]), mse (1/(2B) sum ||z - onehot(y)||^2), and §11's
                per-sample ce and sse, whose batch energy is (1/B) sum_b loss_b: the same values,
                computed here from the per-sample terms.

The gradient is that of the loss with respect to every weight (and bias), by autograd.

  PROBLEM  a safetensors file written by backprop's tests (package safetensors), all F64:
           tensors  "input" [B, D], "labels" [B] (class indices as floats),
                    "layers.<l>.weight" [n_{l+1}, n_l] and, for maps=dense, "layers.<l>.bias";
           metadata maps, arch (chain or residual), param (standard or mupc), act (identity,
                    tanh, relu, sigmoid), loss, skips.
  stdout   a JSON list with one object per PROBLEM, in order (one run pays for importing torch
           once): {"loss": E, "output": mu_{H+1} flattened row-major,
           "grads": [[dE/dW_l flattened row-major, dE/db_l (empty without a bias)], ...]}.
Anything malformed is refused on stderr with exit status 1.
"""

import json
import math
import struct
import sys

import torch

ACTS = {
    "identity": lambda v: v,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}
LOSSES = ("nll", "mse", "ce", "sse")


def fail(msg):
    sys.stderr.write("graph_torch.py: " + msg + "\n")
    sys.exit(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F64":
            fail("tensor %r: dtype %s, want F64" % (name, info["dtype"]))
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float64) if end > begin else torch.empty(0, dtype=torch.float64)
        tensors[name] = t.reshape(info["shape"])
    return meta, tensors


def parse_skips(s):
    skips = []
    for item in filter(None, (p.strip() for p in s.split(","))):
        i, j = item.split(":")
        skips.append((int(i), int(j)))
    return sorted(skips)


def multiplier(param, l, layers, width):
    if param == "standard":
        return 1.0
    if l == 0:
        return 1 / math.sqrt(width)
    if l == layers - 1:
        return 1 / width
    return 1 / math.sqrt(width * layers)


def loss_of(kind, z, labels):
    B, K = z.shape
    if kind in ("nll", "ce"):
        per_sample = -torch.log_softmax(z, dim=1).gather(1, labels[:, None])[:, 0]
    else:
        y = torch.nn.functional.one_hot(labels, K).to(z.dtype)
        per_sample = 0.5 * ((y - z) ** 2).sum(dim=1)
    if kind in ("ce", "sse"):
        return per_sample.sum() / B  # §11: F's loss term (1/B) sum_b loss_b
    return per_sample.mean()


def run(path):
    meta, t = read_safetensors(path)
    maps, arch, param = meta.get("maps", "preact"), meta.get("arch", "chain"), meta.get("param", "standard")
    act, loss = meta.get("act", "tanh"), meta.get("loss", "nll")
    if maps not in ("preact", "dense") or arch not in ("chain", "residual") or param not in ("standard", "mupc"):
        fail("maps %r, arch %r, param %r: want preact|dense, chain|residual, standard|mupc" % (maps, arch, param))
    if act not in ACTS or loss not in LOSSES:
        fail("act %r, loss %r: want one of %s and of %s" % (act, loss, ", ".join(ACTS), ", ".join(LOSSES)))
    phi = ACTS[act]
    x0, labels = t["input"], t["labels"].long()
    L = len([k for k in t if k.endswith(".weight")])
    W = [t[f"layers.{l}.weight"].clone().requires_grad_(True) for l in range(L)]
    b = [t[f"layers.{l}.bias"].clone().requires_grad_(True) for l in range(L)] if maps == "dense" else None
    into = {}
    for i, j in parse_skips(meta.get("skips", "")):
        into.setdefault(j, []).append(i)

    mu = [x0]
    for l in range(L):
        v = mu[l]
        if maps == "dense":
            a = v @ W[l].T + b[l]
            out = a if l == L - 1 else phi(a)
        else:
            p = v if l == 0 else phi(v)
            out = multiplier(param, l, L, W[l].shape[1]) * (p @ W[l].T)
            if arch == "residual" and 0 < l < L - 1:
                out = v + out
        for i in into.get(l + 1, []):
            out = out + mu[i]
        mu.append(out)
    E = loss_of(loss, mu[L], labels)
    params = [p for l in range(L) for p in ((W[l], b[l]) if b else (W[l],))]
    grads = torch.autograd.grad(E, params)
    per = 2 if b else 1
    out = []
    for l in range(L):
        gw = grads[per * l].reshape(-1).tolist()
        gb = grads[per * l + 1].tolist() if b else []
        out.append([gw, gb])
    return {"loss": E.item(), "output": mu[L].detach().reshape(-1).tolist(), "grads": out}


def main():
    if len(sys.argv) < 2:
        fail("usage: graph_torch.py PROBLEM...")
    json.dump([run(path) for path in sys.argv[1:]], sys.stdout)


if __name__ == "__main__":
    main()
