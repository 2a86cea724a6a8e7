#!/usr/bin/python3
"""An independent PyTorch reference of one training step of every variant, in float64 or float32.

Usage: pc_torch.py [--dtype float64|float32] PROBLEM...

The variants (docs/design.md §2, §8), each from the batch and the initial weights of PROBLEM, with
PyTorch's autograd for every product and torch.optim for the optimiser step:

  bp      backprop: the gradient of E at the feed-forward values; update = -gradient
  pc      standard PC, T Jacobi steps of size gamma with the precisions pi_1..pi_H, then
          update_l = dW_l(x_l(T); pi_{l+1} e_{l+1}(T))
  scaled  variance-scaled PC: pc with every hidden precision k and step gamma / k
  fpa     FPA-PC: e_l integrated at the feed-forward predictions and Jacobians, update_l =
          dW_l(mu_l; e_{l+1}(T))
  zil     Z-IL: pc with pi = 1 and gamma = 1 (any other gamma is refused), update_l taken at
          step H - l from x_l(H - l) and e_{l+1}(H - l); zero when H - l > T
  ipc     incremental PC: T steps, each moving the states and taking one optimiser step of every
          layer (the input layer too) along dW_l(x_l(t); pi_{l+1} e_{l+1}(t)); update = the sum
          over t

On a layer graph with long skips (docs/design.md §11; metadata "skips", e.g. "1:3,0:2") a skip
i -> j adds x_i to the prediction of node j: mu_j = f_{j-1}(x_{j-1}) + x_i + ..., the error e_j
then reaches x_i through the identity, and every state step of x_i adds pi_j e_j of each skip
child j to its input VJP (FPA-PC: e_j to the error step's). zil refuses skips (its update step
H - l is the chain's).

Every variant but ipc then takes one torch.optim step of every layer along its update (the
gradient handed to torch is -update: a PC error is a negative gradient, docs/design.md §1).

How a Go test calls it (pcnet/torch_test.go does it for every variant in both dtypes, one
process per dtype; pcnet/graph_torch_test.go for every variant but zil on graphs with long
skips in float64; pcnet/incremental_torch_test.go for ipc in float64 through ipc_torch.py,
which runs this script):

  PROBLEM  a safetensors file written with package safetensors:
           tensors  "input" [B, n_0], "labels" [B] (class indices as floats),
                    "layers.<l>.weight" [n_{l+1}, n_l] and "layers.<l>.bias" [n_{l+1}], l = 0..H;
           metadata variant (above; default ipc), steps (T), gamma, precisions (comma list of
                    pi_1..pi_H; pc and ipc, default all 1), k (scaled), loss (nll, the default,
                    or mse), optimizer (sgd or adam), lr, momentum (sgd), beta1, beta2, eps
                    (adam), batches (the number of training steps, each on the same batch with
                    the one optimiser whose state carries over; default 1), skips (comma list
                    of i:j, default none). Numbers as
                    strconv.FormatFloat(v, 'g', -1, 64) writes them.
           Several PROBLEMs may follow one another: each is run on its own, and one process
           spares a table of tests the start of torch for every case.
  --dtype  the element type every product and the optimiser compute in (default float64). The
           tensors of PROBLEM must be stored in it: F64 for float64, F32 for float32
           (safetensors.NewTensor of a []float32 writes F32); labels may be either. Anything
           else is refused on stderr with exit status 1. In float32 the metadata's numbers
           (gamma, pi, k, lr, ...) reach each float32 operation as torch applies a Python float
           to a float32 tensor: rounded to float32 there.
  stdout   one line for each PROBLEM, in order, with one JSON object: {"variant", "dtype",
           "loss": E at the feed-forward values of the last step,
           "layers": [[W_l flattened row-major, b_l], ...] after the last step,
           "updates": [[dW_l flattened, db_l], ...] of the last step} (l = 0..H). In float32
           every number is exactly a float32 value (float32(v) in Go loses nothing).

Every layer is tanh except the last (identity); the loss is the mean NLL of log_softmax (mse:
1/(2B) sum ||z - onehot(y)||^2). TestVariantsMatchPyTorch (pcnet/torch_test.go) holds pcnet's
float64 engine to the float64 run to 1e-10, and its float32 engine to the float32 run to a
relative error of 1e-5 per tensor (issue 18), with the float64 run on the same float32-rounded
problem as the exact answer that tells float32's own error from a disagreement.
"""

import argparse
import json
import struct
import sys

import torch

DTYPES = {"float64": (torch.float64, "F64"), "float32": (torch.float32, "F32")}
FILE_DTYPES = {"F64": (torch.float64, 8), "F32": (torch.float32, 4)}
VARIANTS = ("bp", "pc", "scaled", "fpa", "zil", "ipc")


def fail(msg):
    sys.stderr.write("pc_torch.py: " + msg + "\n")
    sys.exit(1)


def read_safetensors(path, dtype_name):
    """Returns the metadata and the tensors of PATH; every tensor but "labels" must be stored in
    the dtype --dtype names."""
    want = DTYPES[dtype_name][1]
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in FILE_DTYPES:
            fail("tensor %r: dtype %s, want F64 or F32" % (name, info["dtype"]))
        if info["dtype"] != want and name != "labels":
            fail("tensor %r is %s, but --dtype %s needs %s" % (name, info["dtype"], dtype_name, want))
        dtype, _ = FILE_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
    return meta, tensors


class Problem:
    """The batch, the weights (leaf tensors that require grad), the settings and the optimiser."""

    def __init__(self, meta, t):
        self.x0 = t["input"]
        self.labels = t["labels"].long()
        self.n_layers = len([k for k in t if k.endswith(".weight")])
        self.H = self.n_layers - 1
        self.W = [t[f"layers.{l}.weight"].clone().requires_grad_(True) for l in range(self.n_layers)]
        self.b = [t[f"layers.{l}.bias"].clone().requires_grad_(True) for l in range(self.n_layers)]
        self.variant = meta.get("variant", "ipc")
        if self.variant not in VARIANTS:
            fail("variant %r, want one of %s" % (self.variant, ", ".join(VARIANTS)))
        self.T = int(meta.get("steps", "0"))
        self.gamma = float(meta.get("gamma", "1"))
        self.loss = meta.get("loss", "nll")
        if self.loss not in ("nll", "mse"):
            fail("loss %r, want nll or mse" % self.loss)
        hidden = [1.0] * self.H
        if self.variant == "scaled":
            hidden = [float(meta["k"])] * self.H
        elif self.variant in ("pc", "ipc") and meta.get("precisions"):
            hidden = [float(p) for p in meta["precisions"].split(",")]
            if len(hidden) != self.H:
                fail("%d precisions for %d hidden nodes" % (len(hidden), self.H))
        self.pi = [1.0] + hidden + [1.0]  # pi_0 (unused), pi_1..pi_H, pi_{H+1}
        if self.variant == "zil" and self.gamma != 1:
            fail("zil needs gamma 1, got %r" % self.gamma)
        self.step = self.gamma / float(meta["k"]) if self.variant == "scaled" else self.gamma
        self.skips_into = [[] for _ in range(self.H + 2)]  # node j: the sources i of skips i -> j
        self.skips_from = [[] for _ in range(self.H + 2)]  # node i: the targets j of skips i -> j
        for item in filter(None, meta.get("skips", "").split(",")):
            i, j = (int(v) for v in item.split(":"))
            if not (0 <= i and j <= self.H + 1 and j >= i + 2):
                fail("skip %d:%d out of range for H = %d" % (i, j, self.H))
            self.skips_into[j].append(i)
            self.skips_from[i].append(j)
        for lst in self.skips_into + self.skips_from:
            lst.sort()
        if self.variant == "zil" and any(self.skips_from):
            fail("zil runs on chains only, and PROBLEM has skips")
        params = [p for l in range(self.n_layers) for p in (self.W[l], self.b[l])]
        if meta["optimizer"] == "sgd":
            self.opt = torch.optim.SGD(params, lr=float(meta["lr"]), momentum=float(meta.get("momentum", "0")))
        elif meta["optimizer"] == "adam":
            self.opt = torch.optim.Adam(params, lr=float(meta["lr"]),
                                        betas=(float(meta["beta1"]), float(meta["beta2"])), eps=float(meta["eps"]))
        else:
            fail("optimizer %r, want sgd or adam" % meta["optimizer"])

    def f(self, l, v):
        a = v @ self.W[l].T + self.b[l]
        return torch.tanh(a) if l < self.H else a

    def pred(self, l, x):
        """The prediction of node l (1..H+1) from the values x_0..x_{l-1}: the chain term, then
        the skips' sources ascending (backprop.GraphNet's order)."""
        z = self.f(l - 1, x[l - 1])
        for i in self.skips_into[l]:
            z = z + x[i]
        return z

    def skip_errors(self, l, e, pi):
        """sum of pi_j e_j over node l's skip children j (0 without)."""
        out = 0
        for j in self.skips_from[l]:
            out = out + pi[j] * e[j]
        return out

    def energy(self, z):
        """E of the logits z, the mean over the batch."""
        if self.loss == "nll":
            return torch.nn.functional.nll_loss(torch.log_softmax(z, dim=1), self.labels)
        onehot = torch.nn.functional.one_hot(self.labels, z.shape[1]).to(z.dtype)
        return ((z - onehot) ** 2).sum() / (2 * z.shape[0])

    def output_error(self, z):
        """e_{H+1} = -dE/dz at the prediction z of the output node."""
        z = z.detach().requires_grad_(True)
        (dz,) = torch.autograd.grad(self.energy(z), z)
        return -dz

    def vjp(self, l, v, c):
        """dW_l(v; c), db_l(v; c) and, for a hidden node (l > 0), J_l(v)^T c."""
        v = v.detach().clone().requires_grad_(l > 0)
        inputs = [self.W[l], self.b[l]] + ([v] if l > 0 else [])
        grads = torch.autograd.grad(self.f(l, v), inputs, grad_outputs=c)
        return grads[0], grads[1], (grads[2] if l > 0 else None)

    def feed_forward(self):
        with torch.no_grad():
            mu = [self.x0]
            for l in range(1, self.H + 2):
                mu.append(self.pred(l, mu))
        return mu  # mu_0 .. mu_{H+1}

    def errors(self, x):
        """e_1..e_{H+1} of the states x_0..x_H at the current weights (index 0 unused)."""
        with torch.no_grad():
            e = [None] + [x[l] - self.pred(l, x) for l in range(1, self.H + 1)]
            z = self.pred(self.H + 1, x)
        return e + [self.output_error(z)]

    def apply(self, updates):
        """One optimiser step of every layer along its update."""
        self.opt.zero_grad()
        for l, (dW, db) in enumerate(updates):
            self.W[l].grad, self.b[l].grad = -dW, -db
        self.opt.step()


def bp(p):
    z = [p.x0]
    for l in range(1, p.H + 2):
        z.append(p.pred(l, z))
    grads = torch.autograd.grad(p.energy(z[-1]), [q for l in range(p.n_layers) for q in (p.W[l], p.b[l])])
    return [(-grads[2 * l], -grads[2 * l + 1]) for l in range(p.n_layers)]


def standard(p):
    """pc, scaled and zil: Jacobi steps on the states; zil takes layer l's update at step H - l."""
    pi, H = p.pi, p.H
    x = [v.clone() for v in p.feed_forward()[: H + 1]]
    updates = [(torch.zeros_like(p.W[l]), torch.zeros_like(p.b[l])) for l in range(p.n_layers)]
    for t in range(p.T + 1):
        e = p.errors(x)
        for l in range(p.n_layers):
            if (p.variant == "zil" and t == H - l) or (p.variant != "zil" and t == p.T):
                dW, db, _ = p.vjp(l, x[l], pi[l + 1] * e[l + 1])
                updates[l] = (dW, db)
        if t == p.T:
            break
        new_x = [x[0]]
        for l in range(1, H + 1):
            _, _, jte = p.vjp(l, x[l], pi[l + 1] * e[l + 1])
            with torch.no_grad():
                new_x.append(x[l] - p.step * (pi[l] * e[l] - (jte + p.skip_errors(l, e, pi))))
        x = new_x
    return updates


def fpa(p):
    """FPA-PC: the errors integrated at the feed-forward predictions and Jacobians."""
    H = p.H
    mu = p.feed_forward()
    e = [None] + [torch.zeros_like(mu[l]) for l in range(1, H + 1)] + [p.output_error(mu[H + 1])]
    for _ in range(p.T):
        new_e = [None]
        for l in range(1, H + 1):
            _, _, jte = p.vjp(l, mu[l], e[l + 1])
            with torch.no_grad():
                new_e.append(e[l] - p.gamma * (e[l] - (jte + p.skip_errors(l, e, p.pi))))
        e = new_e + [e[H + 1]]
    return [p.vjp(l, mu[l], e[l + 1])[:2] for l in range(p.n_layers)]


def incremental(p):
    """iPC (docs/design.md §8): states and weights move at every step; returns the summed update."""
    pi, H = p.pi, p.H
    x = [v.clone() for v in p.feed_forward()[: H + 1]]  # x_0 clamped, x_1..x_H states
    sums = [(torch.zeros_like(p.W[l]), torch.zeros_like(p.b[l])) for l in range(p.n_layers)]
    for _ in range(p.T):
        e = p.errors(x)  # errors of step t at the weights of step t
        new_x, step = [x[0]], []
        for l in range(p.n_layers):
            dW, db, jte = p.vjp(l, x[l], pi[l + 1] * e[l + 1])
            sums[l][0].add_(dW)
            sums[l][1].add_(db)
            step.append((dW, db))
            if l > 0:
                with torch.no_grad():
                    new_x.append(x[l] - p.gamma * (pi[l] * e[l] - (jte + p.skip_errors(l, e, pi))))
        p.apply(step)
        x = new_x
    return sums


def run(path, dtype_name, variant=None):
    """One step of the variant PROBLEM names; variant, when set, is the only one accepted."""
    meta, t = read_safetensors(path, dtype_name)
    if variant is not None and meta.get("variant", variant) != variant:
        fail("PROBLEM names variant %r, this script runs %r" % (meta["variant"], variant))
    p = Problem(meta, t)
    batches = int(meta.get("batches", "1"))
    if batches < 1:
        fail("batches %d, want >= 1" % batches)
    for _ in range(batches):
        with torch.no_grad():
            mu = p.feed_forward()
            loss = p.energy(mu[-1]).item()
        if p.variant == "ipc":
            updates = incremental(p)
        else:
            updates = {"bp": bp, "fpa": fpa}.get(p.variant, standard)(p)
            p.apply(updates)
    return {
        "variant": p.variant,
        "dtype": dtype_name,
        "loss": loss,
        "layers": [[p.W[l].detach().flatten().tolist(), p.b[l].detach().tolist()] for l in range(p.n_layers)],
        "updates": [[dW.flatten().tolist(), db.tolist()] for dW, db in updates],
    }


def main(argv=None, variant=None):
    ap = argparse.ArgumentParser(description="One training step of a pcnet variant on PyTorch.")
    ap.add_argument("--dtype", default="float64", choices=sorted(DTYPES))
    ap.add_argument("problem", nargs="+")
    args = ap.parse_args(argv)
    for path in args.problem:
        json.dump(run(path, args.dtype, variant), sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
