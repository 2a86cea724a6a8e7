// Package safetensors reads and writes checkpoints in the Hugging Face
// safetensors format, so that PyTorch, JAX and friends can load what pcnet
// saves, and pcnet can load what they save.
//
// # Format
//
// A file is an 8-byte little-endian uint64 N, then N bytes of UTF-8 JSON
// header, then the tensor data:
//
//	{"__metadata__": {"key": "value", ...},
//	 "layer0.weight": {"dtype": "F64", "shape": [784, 256], "data_offsets": [0, 1605632]},
//	 ...}
//
// data_offsets are [begin, end) byte offsets into the data that follows the
// header; the tensors tile the data exactly, with no gaps or overlaps, and
// values are little-endian. The header may end in spaces that pad it to a
// multiple of 8 bytes. Metadata values are strings only.
//
// pcnet writes F64 and reads F64 and F32 (converting to float64); other
// dtypes are rejected.
//
// # Safety
//
// [Decode] and [ReadFile] treat their input as hostile: every size, offset
// and shape is checked before it is used, a malformed file yields an error
// that says what is wrong (never a panic), and nothing larger than the input
// actually supplies (or the caller's limit allows) is allocated. The fuzz
// target FuzzDecode holds the decoder to that.
//
// # Atomic writes
//
// [WriteFileAtomic] and the general [WriteAtomic] write to a temporary file
// in the destination directory, fsync it and rename it over the
// destination, so that a crash or a failed write leaves either the old file
// or the new one, never a torn mixture.
package safetensors
