"""An independent PyTorch reference of incremental PC (docs/design.md §8) on one batch.

Usage: ipc_torch.py [--dtype float64|float32] PROBLEM

The iPC step of pc_torch.py beside this file, which holds the implementation, the format of
PROBLEM and of the output, and the other variants; this name stays for
TestIncrementalMatchesPyTorchReference. PROBLEM is a safetensors file with the batch "input"
[B, n0], "labels" [B] (class indices as floats), the initial weights "layers.<l>.weight" /
"layers.<l>.bias" and metadata: steps (T), gamma, precisions (comma list of pi_1..pi_H),
optimizer (sgd or adam), lr, momentum (sgd), beta1, beta2, eps (adam); a "variant" entry, if
any, must say ipc. --dtype (default float64) is the element type of the computation, and the
tensors must be stored in it (F64 or F32).

From x_l(0) = mu_l (the feed-forward values), at every step t = 0..T-1: the errors
e_l = x_l - f_{l-1}(x_{l-1}) (hidden l) and e_{H+1} = -dE/dz at z = f_H(x_H), all with
the weights of step t; then, from those values, x_l <- x_l - gamma (pi_l e_l -
J_l(x_l)^T pi_{l+1} e_{l+1}) and one torch.optim step of every layer along the gradient
-dW_l(x_l; pi_{l+1} e_{l+1}). Products come from autograd, the optimiser is torch's own.

Prints {"layers": [[W flattened, b], ...], "updates": [[dW summed over t, db summed], ...]}
(and the fields pc_torch.py adds).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pc_torch  # noqa: E402

if __name__ == "__main__":
    pc_torch.main(variant="ipc")
