package vmath

import (
	"fmt"
	"math"
)

// MomentumStep32 is the float32 SGD step with momentum after the first, the loop that
// dominates a float32 backprop step once the products are fast (issue 18): for every i,
//
//	b := FMA32(grad[i], keep, buf[i]*momentum) // the product rounded to float32 first
//	buf[i] = b
//	param[i] = FMA32(b, negLR, param[i])
//
// which is torch's buf.mul_(momentum).add_(grad, alpha=keep); param.add_(buf, alpha=-lr)
// on CPUs with FMA (optim's stepSGD says why). Passing -keep gives the step for -grad bit
// for bit, since negating one factor of a product is exact. On amd64 with AVX2 and FMA it
// runs eight lanes at a time in assembly, which rounds exactly as this loop does (one
// VFMADD per FMA32, one VMULPS per product), so the result is the same on every CPU.
// A long step is cut in two halves that run on two cores at once (split.go).
//
// It reports whether every new param[i] is finite, found in the same pass (the check a PC
// network makes of its weights after each step, which a second pass over them would cost
// as much as a quarter of the step). It panics unless the three slices have the same length.
func MomentumStep32(param, grad, buf []float32, negLR, keep, momentum float32) (finite bool) {
	if len(grad) != len(param) || len(buf) != len(param) {
		panic(fmt.Sprintf("vmath: MomentumStep32: len(param) = %d, len(grad) = %d, len(buf) = %d, want them equal", len(param), len(grad), len(buf)))
	}
	h, ok := split(len(param))
	if !ok {
		return momentumStep32(param, grad, buf, negLR, keep, momentum)
	}
	j := getJob()
	j.p32, j.g32, j.b32 = param[h:], grad[h:], buf[h:]
	j.negLR, j.keep, j.momentum = float64(negLR), float64(keep), float64(momentum)
	return run(j, func() bool { return momentumStep32(param[:h], grad[:h], buf[:h], negLR, keep, momentum) })
}

// momentumStep32Go is MomentumStep32's loop in Go: the assembly's twin and its tail.
func momentumStep32Go(param, grad, buf []float32, negLR, keep, momentum float32) (finite bool) {
	grad, buf = grad[:len(param)], buf[:len(param)]
	finite = true
	for i, p := range param {
		b := FMA32(grad[i], keep, float32(buf[i]*momentum))
		buf[i] = b
		v := FMA32(b, negLR, p)
		param[i] = v
		finite = finite && v-v == 0
	}
	return finite
}

// MomentumStep is MomentumStep32 in float64, with math.FMA for FMA32: the loop of optim's
// float64 SGD step with momentum after the first, four lanes at a time in assembly on
// amd64 with AVX2 and FMA, rounding as the loop does. It reports whether every new param[i]
// is finite.
func MomentumStep(param, grad, buf []float64, negLR, keep, momentum float64) (finite bool) {
	if len(grad) != len(param) || len(buf) != len(param) {
		panic(fmt.Sprintf("vmath: MomentumStep: len(param) = %d, len(grad) = %d, len(buf) = %d, want them equal", len(param), len(grad), len(buf)))
	}
	h, ok := split(len(param))
	if !ok {
		return momentumStep64(param, grad, buf, negLR, keep, momentum)
	}
	j := getJob()
	j.p64, j.g64, j.b64 = param[h:], grad[h:], buf[h:]
	j.negLR, j.keep, j.momentum = negLR, keep, momentum
	return run(j, func() bool { return momentumStep64(param[:h], grad[:h], buf[:h], negLR, keep, momentum) })
}

// momentumStep64Go is MomentumStep's loop in Go: the assembly's twin and its tail.
func momentumStep64Go(param, grad, buf []float64, negLR, keep, momentum float64) (finite bool) {
	grad, buf = grad[:len(param)], buf[:len(param)]
	finite = true
	for i, p := range param {
		b := math.FMA(grad[i], keep, float64(buf[i]*momentum))
		buf[i] = b
		v := math.FMA(b, negLR, p)
		param[i] = v
		finite = finite && v-v == 0
	}
	return finite
}
