"""Loads a pcnet checkpoint into a PyTorch model and prints its outputs on an input.

Usage: load_torch.py CHECKPOINT INPUT

CHECKPOINT is a safetensors file written by pcnet; INPUT a safetensors file holding one
F64 tensor "input" [B, 784]. The script reads both with its own few lines of header
parsing (json + struct), so it needs torch but not the safetensors package, builds the
model a PyTorch user would build from the checkpoint's metadata (an nn.ModuleList named
layers of nn.Linear, tanh between them), loads layers.* with load_state_dict(strict=True)
and prints {"sizes": [...], "output": [[...], ...]} as JSON.
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
        assert info["dtype"] == "F64", (name, info["dtype"])
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float64)
        tensors[name] = t.reshape(info["shape"])
    return meta, tensors


ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda x: x}


class MLP(nn.Module):
    def __init__(self, sizes, activation):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.act = ACTIVATIONS[activation]

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


def main():
    meta, tensors = read_safetensors(sys.argv[1])
    _, inputs = read_safetensors(sys.argv[2])
    sizes = [int(s) for s in meta["sizes"].split(",")]
    model = MLP(sizes, meta["activation"]).double()
    state = {k: v for k, v in tensors.items() if k.startswith("layers.")}
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = model(inputs["input"])
    json.dump({"sizes": sizes, "output": out.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
