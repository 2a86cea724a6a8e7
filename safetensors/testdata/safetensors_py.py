#!/usr/bin/python3
"""An independent safetensors reader and writer for TestPythonInterop.

Uses only the standard library (json and struct), following the format
description at https://github.com/huggingface/safetensors, so that it shares
no code or assumptions with the Go package beyond the spec.

  safetensors_py.py read PATH    validate PATH strictly and print its content
                                 as JSON; float values as the hex of their bits
  safetensors_py.py write PATH   write a file with F32 and F64 tensors, laid
                                 out the way the reference writer lays them out
"""
import json
import struct
import sys

SIZES = {"F64": 8, "F32": 4}
FORMATS = {"F64": "<%dd", "F32": "<%df"}
BITS = {"F64": ("<%dQ", 16), "F32": ("<%dI", 8)}


def fail(msg):
    sys.stderr.write("safetensors_py: " + msg + "\n")
    sys.exit(1)


def read(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        fail("header length %d beyond end of file" % n)
    raw = buf[8 : 8 + n]
    if not raw.startswith(b"{"):
        fail("header does not start with {")
    text = raw.decode("utf-8")
    stripped = text.rstrip(" ")
    if not stripped.endswith("}"):
        fail("header is not padded with spaces only")
    if (8 + n) % 8 != 0:
        fail("data does not start 8-byte aligned (header length %d)" % n)
    header = json.loads(stripped)
    data = buf[8 + n :]
    metadata = header.pop("__metadata__", {})
    for k, v in metadata.items():
        if not isinstance(v, str):
            fail("metadata %r is not a string" % k)
    tensors = {}
    spans = []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("tensor %r has fields %r" % (name, sorted(info)))
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * SIZES[dtype]:
            fail("tensor %r: offsets do not match shape" % name)
        fmt, width = BITS[dtype]
        bits = struct.unpack(fmt % count, data[begin:end])
        tensors[name] = {
            "dtype": dtype,
            "shape": shape,
            "bits": [format(b, "0%dx" % width) for b in bits],
        }
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            fail("tensor %r starts at %d, expected %d" % (name, begin, pos))
        pos = end
    if pos != len(data):
        fail("tensors cover %d bytes of %d" % (pos, len(data)))
    names = list(header)
    if names != sorted(names):
        fail("tensors not written in name order: %r" % names)
    json.dump({"metadata": metadata, "tensors": tensors}, sys.stdout, sort_keys=True)


def write(path):
    # Data deliberately not in name order, json.dumps's default spacing, and
    # the metadata first: all as other writers may produce.
    tensors = [
        ("z.f32", "F32", [2, 2], [1.5, -2.25, 3.1, 1e-8]),
        ("a.f64", "F64", [3], [0.1, -0.0, 1e300]),
        ("m.scalar", "F64", [], [2.718281828459045]),
        ("e.empty", "F32", [0, 4], []),
    ]
    header = {"__metadata__": {"format": "pt", "note": "written by python"}}
    chunks = []
    offset = 0
    for name, dtype, shape, values in tensors:
        blob = struct.pack(FORMATS[dtype] % len(values), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in chunks:
            f.write(blob)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("read", "write"):
        fail("usage: safetensors_py.py read|write PATH")
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
