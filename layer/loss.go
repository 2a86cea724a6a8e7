package layer

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Loss is a loss E(z, y) averaged over the batch, at logits or outputs z (B x K) and
// integer class labels y.
type Loss interface {
	// Name is a short name for flags and logs.
	Name() string
	// Value returns E.
	Value(z *mat.Dense, labels []int) float64
	// NegGrad writes -dE/dz into dst (B x K): the output error of a PC network.
	NegGrad(dst, z *mat.Dense, labels []int)
}

// NLL is the negative log-likelihood of log_softmax(z), averaged over the batch: PyTorch's
// nn.NLLLoss after nn.LogSoftmax. It is computed with the log-sum-exp shift, so logits of
// ±1000 give finite values and gradients.
type NLL struct{}

// Name returns "nll".
func (NLL) Name() string { return "nll" }

// Value returns mean_b -log_softmax(z_b)[y_b].
func (NLL) Value(z *mat.Dense, labels []int) float64 {
	r, k := checkLabels("NLL.Value", z, labels)
	zr := raw(z)
	var sum float64
	for i := 0; i < r; i++ {
		row := zr.Data[i*zr.Stride : i*zr.Stride+k]
		sum += logSumExp(row) - row[labels[i]]
	}
	return sum / float64(r)
}

// NegGrad writes (onehot(y) - softmax(z)) / B.
func (NLL) NegGrad(dst, z *mat.Dense, labels []int) {
	r, k := checkLabels("NLL.NegGrad", z, labels)
	mustShape("NLL.NegGrad", "destination", dst, r, k)
	zr, dr := raw(z), raw(dst)
	inv := 1 / float64(r)
	for i := 0; i < r; i++ {
		row := zr.Data[i*zr.Stride : i*zr.Stride+k]
		out := dr.Data[i*dr.Stride : i*dr.Stride+k]
		lse := logSumExp(row)
		for j, v := range row {
			out[j] = -math.Exp(v-lse) * inv
		}
		out[labels[i]] += inv
	}
}

// SquaredError is E = 1/(2B) Σ_b ||z_b - onehot(y_b)||², the energy of an output node
// clamped to one-hot targets.
type SquaredError struct{}

// Name returns "mse".
func (SquaredError) Name() string { return "mse" }

// Value returns 1/(2B) Σ ||z - onehot(y)||².
func (SquaredError) Value(z *mat.Dense, labels []int) float64 {
	r, k := checkLabels("SquaredError.Value", z, labels)
	zr := raw(z)
	var sum float64
	for i := 0; i < r; i++ {
		for j, v := range zr.Data[i*zr.Stride : i*zr.Stride+k] {
			if j == labels[i] {
				v--
			}
			sum += v * v
		}
	}
	return sum / (2 * float64(r))
}

// NegGrad writes (onehot(y) - z) / B.
func (SquaredError) NegGrad(dst, z *mat.Dense, labels []int) {
	r, k := checkLabels("SquaredError.NegGrad", z, labels)
	mustShape("SquaredError.NegGrad", "destination", dst, r, k)
	zr, dr := raw(z), raw(dst)
	inv := 1 / float64(r)
	for i := 0; i < r; i++ {
		out := dr.Data[i*dr.Stride : i*dr.Stride+k]
		for j, v := range zr.Data[i*zr.Stride : i*zr.Stride+k] {
			out[j] = -v * inv
		}
		out[labels[i]] += inv
	}
}

// ParseLoss maps "nll" or "mse" to its Loss.
func ParseLoss(s string) (Loss, error) {
	switch s {
	case "nll":
		return NLL{}, nil
	case "mse":
		return SquaredError{}, nil
	}
	return nil, fmt.Errorf("unknown loss %q (want nll or mse)", s)
}

// Correct counts the rows of z whose largest entry is at the label (ties go to the
// lowest index, as torch.argmax does).
func Correct(z *mat.Dense, labels []int) int {
	r, k := checkLabels("Correct", z, labels)
	zr := raw(z)
	n := 0
	for i := 0; i < r; i++ {
		row := zr.Data[i*zr.Stride : i*zr.Stride+k]
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

func logSumExp(row []float64) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = max(m, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

func checkLabels(op string, z *mat.Dense, labels []int) (int, int) {
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

// NegGradValue writes -dE/dz into dst, as loss.NegGrad does, and returns E, as
// loss.Value does, both bit for bit. For NLL and SquaredError it makes one pass over z (a
// row's log-sum-exp serves both), so that an observer can have the loss at every
// inference step for little more than the output error costs; any other Loss is called
// twice.
func NegGradValue(loss Loss, dst, z *mat.Dense, labels []int) float64 {
	switch loss.(type) {
	case NLL:
		return nllNegGradValue(dst, z, labels)
	case SquaredError:
		return squaredNegGradValue(dst, z, labels)
	}
	loss.NegGrad(dst, z, labels)
	return loss.Value(z, labels)
}

// nllNegGradValue is NLL's NegGrad and Value in one pass, with their arithmetic.
func nllNegGradValue(dst, z *mat.Dense, labels []int) float64 {
	r, k := checkLabels("NLL.NegGrad", z, labels)
	mustShape("NLL.NegGrad", "destination", dst, r, k)
	zr, dr := raw(z), raw(dst)
	inv := 1 / float64(r)
	var sum float64
	for i := 0; i < r; i++ {
		row := zr.Data[i*zr.Stride : i*zr.Stride+k]
		out := dr.Data[i*dr.Stride : i*dr.Stride+k]
		lse := logSumExp(row)
		sum += lse - row[labels[i]] // read before out is written: dst may be z
		for j, v := range row {
			out[j] = -math.Exp(v-lse) * inv
		}
		out[labels[i]] += inv
	}
	return sum / float64(r)
}

// squaredNegGradValue is SquaredError's NegGrad and Value in one pass, with their
// arithmetic.
func squaredNegGradValue(dst, z *mat.Dense, labels []int) float64 {
	r, k := checkLabels("SquaredError.NegGrad", z, labels)
	mustShape("SquaredError.NegGrad", "destination", dst, r, k)
	zr, dr := raw(z), raw(dst)
	inv := 1 / float64(r)
	var sum float64
	for i := 0; i < r; i++ {
		out := dr.Data[i*dr.Stride : i*dr.Stride+k]
		for j, v := range zr.Data[i*zr.Stride : i*zr.Stride+k] {
			d := v
			if j == labels[i] {
				d--
			}
			sum += d * d
			out[j] = -v * inv
		}
		out[labels[i]] += inv
	}
	return sum / (2 * float64(r))
}
