"""Loads a pcnet checkpoint into a PyTorch model and prints its outputs on an input.

Usage: load_torch.py CHECKPOINT INPUT

CHECKPOINT is a safetensors file written by pcnet, F32 or F64 as its run's precision;
INPUT a safetensors file holding a tensor "input" [B, 784] of the checkpoint's dtype and,
optionally, "test_input" [N, 784] and "test_labels" [N]. The script reads both with its
own few lines of header parsing (json + struct), so it needs torch but not the
safetensors package, builds the model a PyTorch user would build from the checkpoint's
metadata (an nn.Sequential of nn.Linear with the activation's module between them, so
layers.<l> is renamed <2l>) in the checkpoint's dtype (float32: PyTorch's default, no
conversion), loads the layers with load_state_dict(strict=True), checks that every
parameter kept the file's dtype, and prints {"sizes": [...], "dtype": "float32",
"output": [[...], ...], "correct": n} as JSON (correct: how many of test_input's argmax
predictions equal test_labels; -1 when the file has none).
"""

import json
import struct
import sys

import torch
from torch import nn


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] in DTYPES, (name, info["dtype"])
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return meta, tensors


DTYPES = {"F32": torch.float32, "F64": torch.float64}

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}


def mlp(sizes, activation):
    """nn.Sequential(Linear, act, Linear, act, ..., Linear): Linear l is module 2l."""
    modules = []
    for a, b in zip(sizes, sizes[1:]):
        modules += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return nn.Sequential(*modules[:-1])


def main():
    meta, tensors = read_safetensors(sys.argv[1])
    _, inputs = read_safetensors(sys.argv[2])
    sizes = [int(s) for s in meta["sizes"].split(",")]
    dtype = tensors["layers.0.weight"].dtype
    model = mlp(sizes, meta["activation"]).to(dtype)
    state = {}
    for k, v in tensors.items():
        if k.startswith("layers."):
            _, l, param = k.split(".")
            state[f"{2 * int(l)}.{param}"] = v
    model.load_state_dict(state, strict=True)
    for name, p in model.named_parameters():
        assert p.dtype == dtype == state[name].dtype, (name, p.dtype, state[name].dtype)
    correct = -1
    with torch.no_grad():
        out = model(inputs["input"])
        if "test_input" in inputs:
            pred = model(inputs["test_input"]).argmax(dim=1)
            correct = int((pred == inputs["test_labels"].long()).sum())
    json.dump({"sizes": sizes, "dtype": str(dtype).removeprefix("torch."), "output": out.tolist(), "correct": correct}, sys.stdout)


if __name__ == "__main__":
    main()
