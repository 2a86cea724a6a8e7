// Package checkpoint saves and loads pcnet training checkpoints as safetensors files
// (package safetensors), so that a run can stop and resume exactly, and so that PyTorch
// users can load the weights.
//
// # Tensors
//
// Every weight and optimiser buffer is in the run's precision (spec.Precision): F32 for a
// float32 run, F64 for a float64 one; the optimiser's step counts are F64 scalars in
// both, since float32 holds integers exactly only up to 2^24. Decode checks every
// tensor's dtype against the precision the metadata records, and reads a checkpoint in
// the T its caller names (Open tells which). Weight layer l of the MLP (it maps node l to node l+1,
// l = 0..H) is stored as PyTorch's nn.Linear stores it:
//
//	layers.<l>.weight   [out, in]
//	layers.<l>.bias     [out]
//
// With an optimiser, the state of each parameter tensor sits beside it under
// torch.optim's names:
//
//	optimizer.layers.<l>.weight.step              []  (a scalar: updates applied)
//	optimizer.layers.<l>.weight.momentum_buffer   [out, in]  (SGD with momentum)
//	optimizer.layers.<l>.weight.exp_avg           [out, in]  (Adam)
//	optimizer.layers.<l>.weight.exp_avg_sq        [out, in]  (Adam)
//
// and the same for .bias.
//
// A layer graph's pre-activation maps (docs/design.md §11: a residual network or μPC's
// parameterisation) have no bias: their checkpoint holds layers.<l>.weight and its
// optimiser state only, and the metadata says how to rebuild the forward pass (below).
//
// # Metadata
//
// The header's __metadata__ holds the run's specification (a spec.Run, stored as is:
// the architecture and the run's settings) and where the run stands, all as strings
// (floats in Go's shortest round-trip form):
//
//	format       pcnet-checkpoint/1
//	precision    f32 | f64            (absent in checkpoints written before the choice:
//	                                   f64)
//	sizes        784,64,64,64,64,10   (node widths: input, H hidden, output)
//	hidden       4                    (H)
//	activation   tanh                 (of the hidden layers; the last layer is linear)
//	loss         nll | mse | ce | sse
//	arch, param, skips                (the layer graph: residual, mupc, "1:4,3:8"; absent
//	                                   for the chain, the standard parameterisation and
//	                                   no skip, as in checkpoints written before graphs)
//	multipliers                       (a pre-activation run's a_l per map l, for a reader
//	                                   without pcnet; Decode checks them)
//	variant      bp | fpa | pc | scaled | zil | ipc
//	steps, gamma, k, precisions       (inference settings; precisions only when set)
//	schedule, engine                  (event | dense, parallel | sequential; absent in
//	                                   checkpoints written before they were stored)
//	data                              (the MNIST directory; absent when the default)
//	optimizer    sgd | adam, with lr, weight_decay and momentum, dampening, nesterov
//	             (sgd) or beta1, beta2, eps (adam)
//	seed, batch, max_train, epochs    (what fixes the data order and the run's length)
//	epoch, batch_index, samples       (the position to resume from: epoch counts the
//	                                   finished epochs, batch_index the batches done in
//	                                   the next one)
//	step                              (optimiser updates applied so far)
//
// # Loading in PyTorch
//
// The layer names follow a module that keeps its Linear layers in an nn.ModuleList
// called layers, with the activations applied between them in forward:
//
//	class MLP(nn.Module):
//	    def __init__(self, sizes):
//	        super().__init__()
//	        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
//	    def forward(self, x):
//	        for l in self.layers[:-1]:
//	            x = torch.tanh(l(x))
//	        return self.layers[-1](x)
//
//	model = MLP([784, 64, 64, 64, 64, 10])   # float32; .double() for an f64 checkpoint
//	state = read_safetensors("runs/fpa-H4.safetensors")
//	model.load_state_dict({k: v for k, v in state.items() if k.startswith("layers.")})
//
// read_safetensors needs nothing beyond Debian's python3-torch (apt-get install -y
// python3-torch): the format is an 8-byte little-endian header length, a JSON header and
// the raw tensors, each F32 or F64 as its header entry says:
//
//	import json, struct, torch
//	DTYPES = {"F32": torch.float32, "F64": torch.float64}
//	def read_safetensors(path):
//	    data = open(path, "rb").read()
//	    (n,) = struct.unpack("<Q", data[:8])
//	    header = json.loads(data[8:8 + n])
//	    header.pop("__metadata__", None)
//	    body = data[8 + n:]
//	    return {k: torch.frombuffer(bytearray(body[v["data_offsets"][0]:v["data_offsets"][1]]),
//	                                dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
//	            for k, v in header.items()}
//
// Hugging Face's safetensors package does the same in one call,
// safetensors.torch.load_file(path), but Debian does not ship it: it comes from PyPI
// (pip install safetensors, in a virtual environment on Debian). The test suite loads
// checkpoints in PyTorch the first way (cmd/pcnet/testdata/load_torch.py).
//
// An nn.Sequential with activation modules in between numbers its Linear layers 0, 2,
// 4, ...: rename layers.<l> to <2l> for it. The test suite loads a float32 checkpoint
// that way, as a float32 state dict, and its test accuracy in PyTorch is pcnet eval's
// (TestCheckpointLoadsInPyTorch).
//
// # Reading untrusted files
//
// [Load] and [Read] never panic and never allocate more than the input holds (or the
// caller's limit allows): the safetensors decoder bounds the tensor data by the input's
// size, and every tensor's presence and shape is checked against the metadata before
// any layer is built. Errors name the file and the tensor or metadata key that is wrong.
// FuzzLoad holds the reader to that.
package checkpoint
