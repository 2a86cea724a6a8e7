#!/usr/bin/python3
"""PyTorch's side of TestTorchInterop: a float32 state dict through safetensors both ways.

PyTorch 1.13 (Debian's python3-torch) has no safetensors module, so the file is parsed and
written here with json and struct, the tensors made with torch.frombuffer in the dtype the
header names; the model is the nn.Sequential every command uses:
nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), float32, keys 0.weight, 0.bias,
2.weight, 2.bias.

  safetensors_torch.py load PATH   load PATH into the model (load_state_dict, strict) and print
                                   {name: {"file_dtype": torch dtype of the tensor as read,
                                   "param_dtype": the model's, "shape": [...], "bits": [hex of
                                   each float32 parameter value after loading]}}
  safetensors_torch.py save PATH   write the state dict of the model made with
                                   torch.manual_seed(0) as F32 tensors, and print what it wrote
                                   in load's form (file_dtype "torch.float32")
"""
import json
import struct
import sys

import torch
import torch.nn as nn

DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8)}


def model():
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(torch.float32)


def bits32(t):
    vals = t.detach().flatten().tolist()
    return [format(b, "08x") for b in struct.unpack("<%dI" % len(vals), struct.pack("<%df" % len(vals), *vals))]


def read(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop("__metadata__", None)
    body = buf[8 + n:]
    out = {}
    for name, info in header.items():
        dtype, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // size
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def load(path):
    state = read(path)
    m = model()
    m.load_state_dict(state, strict=True)
    params = m.state_dict()
    json.dump({k: {"file_dtype": str(state[k].dtype), "param_dtype": str(v.dtype), "shape": list(v.shape),
                   "bits": bits32(v)} for k, v in params.items()}, sys.stdout, sort_keys=True)


def save(path):
    torch.manual_seed(0)
    state = model().state_dict()
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(state):
        t = state[name]
        vals = t.flatten().tolist()
        blob = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    json.dump({k: {"file_dtype": str(v.dtype), "param_dtype": str(v.dtype), "shape": list(v.shape),
                   "bits": bits32(v)} for k, v in state.items()}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("load", "save"):
        sys.exit("usage: safetensors_torch.py load|save PATH")
    {"load": load, "save": save}[sys.argv[1]](sys.argv[2])
