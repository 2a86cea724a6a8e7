// Command asmgen writes gemm_amd64.s, the register-blocked micro-kernels of package gemm,
// in float64 and float32:
//
//	go generate ./internal/gemm
//
// Each kernel keeps an mr x nr tile of C in vector accumulators, walks the packed slivers
// (a: kc x mr, b: kc x nr, both p-major) four p at a time, then scales the tile by alpha
// and, unless beta is zero, adds beta C with an FMA before storing it. The rows of C are
// prefetched first, so that their cache misses overlap the k loop. The float32 kernels are
// the float64 ones with twice the lanes per register: the same loop, the same registers,
// the PS forms of the instructions. Package gemm's twinKernel is this loop in Go.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
)

// kernel describes one micro-kernel: rows mr, vector registers per row (vecs) of lanes
// elements each, the element size in bytes (8 or 4), register prefix ("Y" or "Z"), and the
// registers that hold the accumulators, the B vectors and the A broadcasts.
type kernel struct {
	name      string
	mr, vecs  int
	lanes     int
	size      int
	reg       string
	acc       int // first accumulator register; row i, vector v is acc + i*vecs + v
	bReg      int // first of vecs registers holding one p-row of the B sliver
	aRegs     []int
	zero      string // instruction that zeroes a register with itself
	prefetchs []int  // byte offsets within a C row to prefetch
}

func (k kernel) nr() int { return k.vecs * k.lanes }

var kernels = []kernel{
	{
		name: "kernel6x8", mr: 6, vecs: 2, lanes: 4, size: 8, reg: "Y", acc: 4, bReg: 0,
		aRegs: []int{2, 3}, zero: "VXORPD", prefetchs: []int{0, 56},
	},
	{
		name: "kernel8x16", mr: 8, vecs: 2, lanes: 8, size: 8, reg: "Z", acc: 16, bReg: 0,
		aRegs: []int{2, 3, 4, 5, 6, 7, 8, 9}, zero: "VPXORQ", prefetchs: []int{0, 64, 120},
	},
	{
		name: "kernel6x16f32", mr: 6, vecs: 2, lanes: 8, size: 4, reg: "Y", acc: 4, bReg: 0,
		aRegs: []int{2, 3}, zero: "VXORPS", prefetchs: []int{0, 60},
	},
	{
		name: "kernel8x32f32", mr: 8, vecs: 2, lanes: 16, size: 4, reg: "Z", acc: 16, bReg: 0,
		aRegs: []int{2, 3, 4, 5, 6, 7, 8, 9}, zero: "VPXORQ", prefetchs: []int{0, 64, 124},
	},
}

// op names the instruction of this kernel's precision: the PD form for float64, the PS
// form for float32 (a broadcast's SD becomes SS).
func (k kernel) op(pd string) string {
	if k.size == 8 {
		return pd
	}
	switch pd {
	case "VBROADCASTSD":
		return "VBROADCASTSS"
	default:
		return pd[:len(pd)-2] + "PS"
	}
}

// goType is the Go element type of the kernel's arguments.
func (k kernel) goType() string {
	if k.size == 8 {
		return "float64"
	}
	return "float32"
}

type writer struct{ bytes.Buffer }

func (w *writer) f(format string, args ...any) { fmt.Fprintf(&w.Buffer, format+"\n", args...) }

func (k kernel) r(n int) string { return fmt.Sprintf("%s%d", k.reg, n) }

// step emits one p of the k loop at byte offsets offA into the A sliver and offB into
// the B sliver.
func (k kernel) step(w *writer, offA, offB int) {
	for v := range k.vecs {
		w.f("\t%s %d(DI), %s", k.op("VMOVUPD"), offB+v*k.lanes*k.size, k.r(k.bReg+v))
	}
	for i := range k.mr {
		a := k.aRegs[i%len(k.aRegs)]
		w.f("\t%s %d(SI), %s", k.op("VBROADCASTSD"), offA+k.size*i, k.r(a))
		for v := range k.vecs {
			w.f("\t%s %s, %s, %s", k.op("VFMADD231PD"), k.r(k.bReg+v), k.r(a), k.r(k.acc+i*k.vecs+v))
		}
	}
}

func (k kernel) store(w *writer, withBeta bool) {
	for i := range k.mr {
		for v := range k.vecs {
			acc := k.r(k.acc + i*k.vecs + v)
			if withBeta {
				w.f("\t%s %d(DX), %s, %s", k.op("VFMADD231PD"), v*k.lanes*k.size, k.r(1), acc)
			}
			w.f("\t%s %s, %d(DX)", k.op("VMOVUPD"), acc, v*k.lanes*k.size)
		}
		if i < k.mr-1 {
			w.f("\tADDQ R8, DX")
		}
	}
	w.f("\tVZEROUPPER")
	w.f("\tRET")
}

func (k kernel) emit(w *writer) {
	strideA, strideB := k.size*k.mr, k.size*k.nr()
	// The frame: kc, a, b, c, ldc (8 bytes each), then alpha and beta of the element size.
	betaOff := 40 + k.size
	w.f("// func %s(kc int, a, b, c *%s, ldc int, alpha, beta %[2]s)", k.name, k.goType())
	w.f("TEXT ·%s(SB), NOSPLIT, $0-%d", k.name, betaOff+k.size)
	w.f("\tMOVQ kc+0(FP), CX")
	w.f("\tMOVQ a+8(FP), SI")
	w.f("\tMOVQ b+16(FP), DI")
	w.f("\tMOVQ c+24(FP), DX")
	w.f("\tMOVQ ldc+32(FP), R8")
	if k.size == 8 {
		w.f("\tSHLQ $3, R8")
	} else {
		w.f("\tSHLQ $2, R8")
	}
	w.f("\tMOVQ DX, AX")
	for i := range k.mr {
		for _, off := range k.prefetchs {
			w.f("\tPREFETCHT0 %d(AX)", off)
		}
		if i < k.mr-1 {
			w.f("\tADDQ R8, AX")
		}
	}
	for i := range k.mr * k.vecs {
		r := k.r(k.acc + i)
		w.f("\t%s %s, %s, %s", k.zero, r, r, r)
	}
	w.f("\tMOVQ CX, BX")
	w.f("\tSHRQ $2, BX")
	w.f("\tJZ %s_tail", k.name)
	w.f("%s_loop4:", k.name)
	for u := range 4 {
		k.step(w, u*strideA, u*strideB)
	}
	w.f("\tADDQ $%d, SI", 4*strideA)
	w.f("\tADDQ $%d, DI", 4*strideB)
	w.f("\tDECQ BX")
	w.f("\tJNZ %s_loop4", k.name)
	w.f("%s_tail:", k.name)
	w.f("\tANDQ $3, CX")
	w.f("\tJZ %s_store", k.name)
	w.f("%s_loop1:", k.name)
	k.step(w, 0, 0)
	w.f("\tADDQ $%d, SI", strideA)
	w.f("\tADDQ $%d, DI", strideB)
	w.f("\tDECQ CX")
	w.f("\tJNZ %s_loop1", k.name)
	w.f("%s_store:", k.name)
	w.f("\t%s alpha+40(FP), %s", k.op("VBROADCASTSD"), k.r(0))
	for i := range k.mr * k.vecs {
		r := k.r(k.acc + i)
		w.f("\t%s %s, %s, %s", k.op("VMULPD"), k.r(0), r, r)
	}
	// beta == ±0 has no bits set but the sign: then C is not read.
	if k.size == 8 {
		w.f("\tMOVQ beta+%d(FP), AX", betaOff)
		w.f("\tSHLQ $1, AX")
	} else {
		w.f("\tMOVL beta+%d(FP), AX", betaOff)
		w.f("\tSHLL $1, AX")
	}
	w.f("\tJZ %s_nobeta", k.name)
	w.f("\t%s beta+%d(FP), %s", k.op("VBROADCASTSD"), betaOff, k.r(1))
	k.store(w, true)
	w.f("%s_nobeta:", k.name)
	k.store(w, false)
	w.f("")
}

// peak is a loop of chains independent FMAs on registers of lanes elements of size bytes,
// n times over, with nothing to load: the FMA throughput of one core, against which the
// micro-kernels are judged. Twelve chains cover the latency (4 cycles) of two FMA pipes.
type peak struct {
	name        string
	reg         string
	size, lanes int
}

const peakChains = 12

var peaks = []peak{
	{"fmaPeakY64", "Y", 8, 4}, {"fmaPeakZ64", "Z", 8, 8},
	{"fmaPeakY32", "Y", 4, 8}, {"fmaPeakZ32", "Z", 4, 16},
}

func (p peak) emit(w *writer) {
	op, zero := "VFMADD231PD", "VXORPD"
	if p.size == 4 {
		op, zero = "VFMADD231PS", "VXORPS"
	}
	if p.reg == "Z" {
		zero = "VPXORQ"
	}
	w.f("// func %s(n int)", p.name)
	w.f("//")
	w.f("// %d chains of %s on %s registers (%d lanes), n times: %d flops an iteration.",
		peakChains, op, p.reg, p.lanes, 2*peakChains*p.lanes)
	w.f("TEXT ·%s(SB), NOSPLIT, $0-8", p.name)
	w.f("\tMOVQ n+0(FP), CX")
	for i := range peakChains + 2 {
		r := fmt.Sprintf("%s%d", p.reg, i)
		w.f("\t%s %s, %s, %s", zero, r, r, r)
	}
	w.f("%s_loop:", p.name)
	for i := range peakChains {
		w.f("\t%s %s%d, %s%d, %s%d", op, p.reg, peakChains, p.reg, peakChains+1, p.reg, i)
	}
	w.f("\tDECQ CX")
	w.f("\tJNZ %s_loop", p.name)
	w.f("\tVZEROUPPER")
	w.f("\tRET")
	w.f("")
}

func main() {
	var w writer
	w.f("// Code generated by asmgen; DO NOT EDIT.")
	w.f("")
	w.f("//go:build amd64 && !purego")
	w.f("")
	w.f(`#include "textflag.h"`)
	w.f("")
	for _, k := range kernels {
		k.emit(&w)
	}
	for _, p := range peaks {
		p.emit(&w)
	}
	if err := os.WriteFile("gemm_amd64.s", w.Bytes(), 0o644); err != nil {
		log.Fatalf("asmgen: %v", err)
	}
}
