"""jpc's μPC training step, written independently of pcnet for the depth experiment's test.

It follows thebuckleylab/jpc (examples/mupc.ipynb with jpc's pc_energy_fn,
update_activities and update_params): the energy 1/B [sum_l ½||z_l - f_l(z_{l-1})||² +
½||y - f_L(z_{L-1})||²] of the residual μPC network (a_0 = 1/sqrt(D), a_h = 1/sqrt(N L),
a_L = 1/N, ReLU, no biases), activities started from a feed-forward pass, L steps of
plain gradient descent on them with step 0.5, then one Adam step (lr 0.1) on the weights
at the final activities. Gradients come from torch's autograd, in float64.

Usage: jpc_mupc.py DUMP.json, where the dump holds the initial weights "w0" (one flat
row-major Out x In list per layer), the normalised batches "x" (flat B x D) with their
labels "y", and pcnet's weights "w" after one update per batch. It prints the largest
relative difference (Frobenius norm) between its weights and pcnet's over the layers.
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)
d = json.load(open(sys.argv[1]))
L, N, D, K = len(d["w0"]), d["width"], d["input"], d["classes"]
shapes = [(N, D)] + [(N, N)] * (L - 2) + [(K, N)]
W = [torch.tensor(w).reshape(s).requires_grad_(True) for w, s in zip(d["w0"], shapes)]
a = [1 / math.sqrt(D)] + [1 / math.sqrt(N * L)] * (L - 2) + [1 / N]


def f(l, z):
    if l == 0:
        return a[0] * z @ W[0].T
    if l == L - 1:
        return a[l] * torch.relu(z) @ W[l].T
    return z + a[l] * torch.relu(z) @ W[l].T


def energy(zs, x, y):
    e = 0.5 * ((y - f(L - 1, zs[-1])) ** 2).sum()
    for l in range(1, L - 1):
        e = e + 0.5 * ((zs[l] - f(l, zs[l - 1])) ** 2).sum()
    e = e + 0.5 * ((zs[0] - f(0, x)) ** 2).sum()
    return e / x.shape[0]


opt = torch.optim.Adam(W, lr=d["lr"], betas=(0.9, 0.999), eps=1e-8)
for x, lab in zip(d["x"], d["y"]):
    x = torch.tensor(x).reshape(len(lab), D)
    y = torch.nn.functional.one_hot(torch.tensor(lab), K).double()
    with torch.no_grad():
        zs, z = [], x
        for l in range(L - 1):
            z = f(l, z)
            zs.append(z.clone())
    zs = [z.requires_grad_(True) for z in zs]
    for _ in range(L):
        g = torch.autograd.grad(energy(zs, x, y), zs)
        with torch.no_grad():
            zs = [(z - d["eta"] * gz).requires_grad_(True) for z, gz in zip(zs, g)]
    opt.zero_grad()
    energy([z.detach() for z in zs], x, y).backward()
    opt.step()

worst = 0.0
for w, want, s in zip(W, d["w"], shapes):
    want = torch.tensor(want).reshape(s)
    worst = max(worst, ((w.detach() - want).norm() / want.norm()).item())
print(repr(worst))
