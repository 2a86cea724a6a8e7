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
// pcnet reads and writes F64 and F32; other dtypes are rejected. Every
// [Tensor] names its dtype and holds its values as float64 (an F32 value
// exactly, as every float32 is a float64): the float64 path is the one it
// always was, and a tensor with no DType is F64. [NewTensor] makes a tensor
// of a []float32 or []float64 in that precision, and [Values] gives the
// values back in the caller's precision, an error when that is not the
// tensor's dtype (a float32 run does not take a float64 checkpoint's
// values unawares). PyTorch loads an F32 file as a float32 state dict
// (TestTorchInterop).
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
