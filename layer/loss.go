package layer

import (
	"fmt"
	"math"

	"github.com/pcnet/pcnet/tensor"
)

// Loss is a loss E(z, y) at logits or outputs z (B x K) and integer class labels y. The
// losses are NLL and SquaredError, averaged over the batch (docs/design.md §1), and
// SampleCrossEntropy and SampleSquaredError, summed per sample with the 1/B kept apart
// (§11). LossValue, NegGrad and NegGradValue compute them in either precision (a method
// cannot have a type parameter, so the Loss names the function and those three carry the
// element type).
//
// A loss and its per-sample twin have one value, the batch mean; they differ in where the
// 1/B goes. A mean loss puts it into the output error -dE/dz. A per-sample loss leaves
// the output error of each sample whole (-dE_b/dz_b, as μPC's energy F = (1/B) [Σ_l
// ½||e_l||² + Σ_b E_b] has it) and the weight updates take the 1/B instead: UpdateScale
// says which.
type Loss interface {
	// Name is a short name for flags and logs.
	Name() string
	// PerSample reports whether the output error has no 1/B (§11), so that the weight
	// updates must be scaled by UpdateScale.
	PerSample() bool
	// kind seals the interface: the functions below know every loss.
	kind() lossKind
}

type lossKind int

const (
	lossNLL lossKind = iota
	lossSquared
	lossSampleCE
	lossSampleSquared
)

// UpdateScale is the factor a weight update or gradient takes after the VJPs, for a batch
// of the given size: 1/B for a per-sample loss (§11: "+(1/B) a_l e_{l+1}ᵀ phi(x_l)"), 1
// for a mean loss, whose output error already carries the 1/B.
func UpdateScale(loss Loss, batch int) float64 {
	if loss.PerSample() {
		return 1 / float64(batch)
	}
	return 1
}

// NLL is the negative log-likelihood of log_softmax(z), averaged over the batch: PyTorch's
// nn.NLLLoss after nn.LogSoftmax. It is computed with the log-sum-exp shift, so logits of
// ±1000 give finite values and gradients.
type NLL struct{}

// Name returns "nll".
func (NLL) Name() string { return "nll" }

// PerSample returns false: the output error carries the 1/B.
func (NLL) PerSample() bool { return false }

func (NLL) kind() lossKind { return lossNLL }

// SquaredError is E = 1/(2B) Σ_b ||z_b - onehot(y_b)||², the energy of an output node
// clamped to one-hot targets.
type SquaredError struct{}

// Name returns "mse".
func (SquaredError) Name() string { return "mse" }

// PerSample returns false: the output error carries the 1/B.
func (SquaredError) PerSample() bool { return false }

func (SquaredError) kind() lossKind { return lossSquared }

// SampleCrossEntropy is μPC's cross-entropy of §11: E_b = -log_softmax(z_b)[y_b] for each
// sample, with the output error -dE_b/dz_b = onehot(y_b) - softmax(z_b) (no 1/B). Its
// value is NLL's, the batch mean of E_b.
type SampleCrossEntropy struct{}

// Name returns "ce".
func (SampleCrossEntropy) Name() string { return "ce" }

// PerSample returns true.
func (SampleCrossEntropy) PerSample() bool { return true }

func (SampleCrossEntropy) kind() lossKind { return lossSampleCE }

// SampleSquaredError is μPC's MSE of §11: E_b = ½||y_b - z_b||² with y_b = onehot(label),
// with the output error -dE_b/dz_b = y_b - z_b (no 1/B). Its value is SquaredError's, the
// batch mean of E_b.
type SampleSquaredError struct{}

// Name returns "sse" (the sum of squared errors, halved, per sample).
func (SampleSquaredError) Name() string { return "sse" }

// PerSample returns true.
func (SampleSquaredError) PerSample() bool { return true }

func (SampleSquaredError) kind() lossKind { return lossSampleSquared }

// LossValue returns E at z, the batch mean of the per-sample losses. The per-row terms
// are computed in T and summed in float64. NLL and SampleCrossEntropy:
// mean_b -log_softmax(z_b)[y_b]; SquaredError and SampleSquaredError:
// 1/(2B) Σ ||z - onehot(y)||².
func LossValue[T tensor.Float](loss Loss, z *tensor.Matrix[T], labels []int) float64 {
	if k := loss.kind(); k == lossNLL || k == lossSampleCE {
		r, _ := checkLabels("NLL.Value", z, labels)
		var sum float64
		for i := 0; i < r; i++ {
			row := z.Row(i)
			sum += float64(logSumExp(row) - row[labels[i]])
		}
		return sum / float64(r)
	}
	r, _ := checkLabels("SquaredError.Value", z, labels)
	var sum float64
	for i := 0; i < r; i++ {
		for j, v := range z.Row(i) {
			if j == labels[i] {
				v--
			}
			sum += float64(v * v)
		}
	}
	return sum / (2 * float64(r))
}

// NegGrad writes -dE/dz into dst (B x K): the output error of a PC network. NLL:
// (onehot(y) - softmax(z)) / B; SquaredError: (onehot(y) - z) / B; the per-sample losses
// the same without the 1/B (-dE_b/dz_b, §11).
func NegGrad[T tensor.Float](loss Loss, dst, z *tensor.Matrix[T], labels []int) {
	NegGradValue(loss, dst, z, labels)
}

// ParseLoss maps "nll", "mse", "ce" or "sse" to its Loss. The per-sample losses (ce, sse)
// are among its names because every engine applies UpdateScale to its weight updates
// (backprop.Net and GraphNet, and pcnet's nodes; docs/design.md §11).
func ParseLoss(s string) (Loss, error) {
	switch s {
	case "nll":
		return NLL{}, nil
	case "mse":
		return SquaredError{}, nil
	case "ce":
		return SampleCrossEntropy{}, nil
	case "sse":
		return SampleSquaredError{}, nil
	}
	return nil, fmt.Errorf("unknown loss %q (want nll, mse, ce or sse)", s)
}

// Correct counts the rows of z whose largest entry is at the label (ties go to the
// lowest index, as torch.argmax does).
func Correct[T tensor.Float](z *tensor.Matrix[T], labels []int) int {
	r, _ := checkLabels("Correct", z, labels)
	n := 0
	for i := 0; i < r; i++ {
		row := z.Row(i)
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == labels[i] {
			n++
		}
	}
	return n
}

// logSumExp is max + log Σ exp(v - max), with exp and log in float64 rounded to T and the
// sum in T.
func logSumExp[T tensor.Float](row []T) T {
	m := T(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var s T
	for _, v := range row {
		s += T(math.Exp(float64(v - m)))
	}
	return m + T(math.Log(float64(s)))
}

func checkLabels[T tensor.Float](op string, z *tensor.Matrix[T], labels []int) (int, int) {
	r, k := z.Dims()
	if len(labels) != r {
		panic(&ShapeError{Op: op, What: "labels", Got: [2]int{len(labels), 1}, Want: [2]int{r, 1}})
	}
	for _, y := range labels {
		if y < 0 || y >= k {
			panic(fmt.Sprintf("layer: %s: label %d out of range [0, %d)", op, y, k))
		}
	}
	return r, k
}

// NegGradValue writes -dE/dz into dst, as NegGrad does, and returns E, as LossValue does,
// both bit for bit, in one pass over z (a row's log-sum-exp serves both), so that an
// observer can have the loss at every inference step for little more than the output
// error costs. dst may be z.
func NegGradValue[T tensor.Float](loss Loss, dst, z *tensor.Matrix[T], labels []int) float64 {
	switch loss.kind() {
	case lossNLL:
		return nllNegGradValue(dst, z, labels, false)
	case lossSampleCE:
		return nllNegGradValue(dst, z, labels, true)
	case lossSampleSquared:
		return squaredNegGradValue(dst, z, labels, true)
	}
	return squaredNegGradValue(dst, z, labels, false)
}

// errorScale is the factor of the output error: 1/B rounded to T for a mean loss, 1 (no
// rounding at all) per sample.
func errorScale[T tensor.Float](rows int, perSample bool) T {
	if perSample {
		return 1
	}
	return 1 / T(rows)
}

// nllNegGradValue is NLL's (or, per sample, SampleCrossEntropy's) NegGrad and Value in
// one pass.
func nllNegGradValue[T tensor.Float](dst, z *tensor.Matrix[T], labels []int, perSample bool) float64 {
	r, k := checkLabels("NLL.NegGrad", z, labels)
	mustShape("NLL.NegGrad", "destination", dst, r, k)
	inv := errorScale[T](r, perSample)
	var sum float64
	for i := 0; i < r; i++ {
		row, out := z.Row(i), dst.Row(i)
		lse := logSumExp(row)
		sum += float64(lse - row[labels[i]]) // read before out is written: dst may be z
		for j, v := range row {
			out[j] = -T(math.Exp(float64(v-lse))) * inv
		}
		out[labels[i]] += inv
	}
	return sum / float64(r)
}

// squaredNegGradValue is SquaredError's (or, per sample, SampleSquaredError's) NegGrad
// and Value in one pass.
func squaredNegGradValue[T tensor.Float](dst, z *tensor.Matrix[T], labels []int, perSample bool) float64 {
	r, k := checkLabels("SquaredError.NegGrad", z, labels)
	mustShape("SquaredError.NegGrad", "destination", dst, r, k)
	inv := errorScale[T](r, perSample)
	var sum float64
	for i := 0; i < r; i++ {
		row, out := z.Row(i), dst.Row(i)
		for j, v := range row {
			d := v
			if j == labels[i] {
				d--
			}
			sum += float64(d * d)
			out[j] = -v * inv
		}
		out[labels[i]] += inv
	}
	return sum / (2 * float64(r))
}
