package vmath

import (
	"runtime"
	"sync"
)

// splitMin is the least length at which MomentumStep and MomentumStep32 cut the step in two
// and run the upper half on a helper goroutine, when GOMAXPROCS allows: a step of a
// 1024x1024 layer streams 20 MB in float32, long enough (about a millisecond) for a second
// core to pay for the goroutine it starts. The step is elementwise, so the result is the
// same bits however it is cut. A backprop step's weight updates otherwise run on one core
// while its products use all of them (issue 18: the speed-up from 1 to 2 cores).
//
// The helper takes no token of internal/gemm's pool of cores: while a backprop step's
// products hold every core, its upper half waits on the run queue and runs on whichever
// core first falls idle, at the end of a product's tiles. Taking a token, so that a step
// running beside the products ran whole on one core, made the step at [1024]x8 on two
// cores 2-5% slower (paired step by step, three runs a precision).
const splitMin = 1 << 18

// momentumJob is the upper half of one momentum step, for a helper; one of its two
// precisions is set.
type momentumJob struct {
	p32, g32, b32         []float32
	p64, g64, b64         []float64
	negLR, keep, momentum float64 // exact for float32 values too
	finite                bool    // the helper's answer: every new param of its half is finite
	wg                    sync.WaitGroup
}

// The jobs not in use, so that a split step allocates nothing once warmed up, and the
// channel that hands a job to the helper started for it (the helper takes no argument, so
// starting it allocates no closure). Any helper may take any job: each job is sent once,
// and one helper is started per send.
var (
	jobsMu   sync.Mutex
	jobsFree []*momentumJob
	jobs     = make(chan *momentumJob)
)

func getJob() *momentumJob {
	jobsMu.Lock()
	defer jobsMu.Unlock()
	if n := len(jobsFree); n > 0 {
		j := jobsFree[n-1]
		jobsFree = jobsFree[:n-1]
		return j
	}
	return &momentumJob{}
}

func putJob(j *momentumJob) {
	*j = momentumJob{} // drop the slices, which the idle job would keep alive
	jobsMu.Lock()
	if len(jobsFree) < 64 {
		jobsFree = append(jobsFree, j)
	}
	jobsMu.Unlock()
}

// helper runs one job. It is started by split, which waits for it.
func helper() {
	j := <-jobs
	if j.p32 != nil {
		j.finite = momentumStep32(j.p32, j.g32, j.b32, float32(j.negLR), float32(j.keep), float32(j.momentum))
	} else {
		j.finite = momentumStep64(j.p64, j.g64, j.b64, j.negLR, j.keep, j.momentum)
	}
	j.wg.Done()
}

// split reports whether a step of n elements is cut in two, and where: at a multiple of 8,
// so that the lower half runs whole in the vector kernel.
func split(n int) (half int, ok bool) {
	if n < splitMin || runtime.GOMAXPROCS(0) < 2 {
		return 0, false
	}
	return n / 2 &^ 7, true
}

// run hands j to a new helper and returns once the caller's own half, lower, is done and
// the helper has finished j: whether both halves' new params are all finite.
func run(j *momentumJob, lower func() bool) bool {
	j.wg.Add(1)
	go helper()
	jobs <- j
	finite := lower()
	j.wg.Wait()
	finite = finite && j.finite
	putJob(j)
	return finite
}
