package session

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/pcnet/pcnet/metrics"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/train"
)

// Number is a float64 that JSON writes as null when it is NaN or infinite (a cosine of
// an epoch that compared nothing, a step no node reached): compare's train.JSONFloat. CSV
// writes such a value as an empty field (csvField).
type Number = train.JSONFloat

func csvField(n Number) string {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return ""
	}
	return strconv.FormatFloat(float64(n), 'g', -1, 64)
}

// EpochRecord is one line of a training log: what the epoch line and the metrics'
// summary say about an epoch, per layer and per distance where they apply.
type EpochRecord struct {
	Epoch     int    `json:"epoch"` // 1-based
	Variant   string `json:"variant"`
	Hidden    int    `json:"hidden"`
	Engine    string `json:"engine"` // "" for bp
	Cores     int    `json:"cores"`  // GOMAXPROCS
	Precision string `json:"precision"`
	// Arch, Param and Skips are the run's layer graph (docs/design.md §11) as the eval and
	// compare reports name it: each "" (and absent) where it is the chain's default, so
	// that a chain of dense layers logs what it logged before graphs.
	Arch  string `json:"arch,omitempty"`
	Param string `json:"param,omitempty"`
	Skips string `json:"skips,omitempty"`

	Loss        Number `json:"loss"` // the mean training loss of the epoch's batches
	ValLoss     Number `json:"val_loss"`
	ValAccuracy Number `json:"val_accuracy"` // in [0, 1]
	// Cosine is the mean cosine of the PC updates to backprop's, all layers together,
	// and LayerCosine the same for layers 1..H+1 (the weights into node l).
	Cosine      Number   `json:"cosine"`
	LayerCosine []Number `json:"layer_cosine"`
	// FirstNonzero, Converged and Unconverged are per distance d = 1..H from the output
	// (metrics.DistanceSummary): the mean first non-zero step, the mean convergence step
	// and the share of node-inferences that had not converged by the last step.
	FirstNonzero []Number `json:"first_nonzero"`
	Converged    []Number `json:"converged"`
	Unconverged  []Number `json:"unconverged"`
	// EnergyFirst and EnergyLast are the means over the epoch's batches of F(0) and F(T)
	// (pcnet.BatchStats); null when the run did not count them.
	EnergyFirst Number `json:"energy_first"`
	EnergyLast  Number `json:"energy_last"`

	EpochSeconds float64 `json:"epoch_seconds"` // the epoch's batches and validation
	PCSeconds    float64 `json:"pc_seconds"`    // the learner's steps
	BPSeconds    float64 `json:"bp_seconds"`    // whole BP steps on the compared batches
	Compared     int     `json:"compared"`      // batches compared with backprop
}

// NewEpochRecord gathers the record of epoch e of run from the metrics' summary s of
// the epoch (nil for bp) and the energy tally (nil: none).
func NewEpochRecord(e train.EpochInfo, run *spec.Run, s metrics.Summary, energy *EnergyTally) EpochRecord {
	h := run.Hidden()
	r := EpochRecord{
		Epoch: e.Epoch + 1, Variant: run.Algorithm.String(), Hidden: h, Cores: runtime.GOMAXPROCS(0), Precision: run.Precision.String(),
		Loss: Number(e.TrainLoss), ValLoss: Number(e.ValLoss), ValAccuracy: Number(e.ValAccuracy), Cosine: Number(e.MeanCosine),
		EnergyFirst: Number(math.NaN()), EnergyLast: Number(math.NaN()),
		EpochSeconds: e.Duration.Seconds(), PCSeconds: e.StepTime.Seconds(), BPSeconds: e.BPTime.Seconds(), Compared: e.Compared,
	}
	r.Arch, r.Param, r.Skips = train.GraphNames(run)
	r.LayerCosine = nans(h + 1)
	r.FirstNonzero, r.Converged, r.Unconverged = nans(h), nans(h), nans(h)
	v, isPC := run.Algorithm.Variant()
	if !isPC {
		return r
	}
	r.Engine = run.PC.Engine.String()
	for l, c := range e.MeanLayerCosine {
		if l < len(r.LayerCosine) {
			r.LayerCosine[l] = Number(c)
		}
	}
	for _, d := range s {
		if d.Variant != v || d.Distance < 1 || d.Distance > h {
			continue
		}
		i := d.Distance - 1
		r.FirstNonzero[i], r.Converged[i] = Number(d.FirstNonzero), Number(d.Convergence)
		if d.Inferences > 0 {
			r.Unconverged[i] = Number(float64(d.Unconverged) / float64(d.Inferences))
		}
	}
	if energy != nil {
		first, last := energy.Take()
		r.EnergyFirst, r.EnergyLast = Number(first), Number(last)
	}
	return r
}

func nans(n int) []Number {
	out := make([]Number, n)
	for i := range out {
		out[i] = Number(math.NaN())
	}
	return out
}

// EnergyTally is a pcnet.Observer that passes everything to the observer it wraps and
// sums F(0) and F(T) of the batches, for the log's per-epoch means.
type EnergyTally struct {
	pcnet.Observer

	mu          sync.Mutex
	n           int
	first, last float64
}

// Batch passes s on and counts its energy.
func (t *EnergyTally) Batch(s pcnet.BatchStats) {
	if t.Observer != nil {
		t.Observer.Batch(s)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	t.first += s.EnergyFirst
	t.last += s.EnergyLast
}

// Node passes info on (nil when the wrapped observer is nil).
func (t *EnergyTally) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	if t.Observer == nil {
		return nil
	}
	return t.Observer.Node(info)
}

// Take returns the mean F(0) and F(T) of the batches since the last Take (NaN when none)
// and starts over.
func (t *EnergyTally) Take() (first, last float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		return math.NaN(), math.NaN()
	}
	first, last = t.first/float64(t.n), t.last/float64(t.n)
	t.n, t.first, t.last = 0, 0, 0
	return first, last
}

// ErrLogFormat is returned for a log file whose name ends in neither .jsonl nor .csv.
var ErrLogFormat = errors.New("want a file name ending in .jsonl or .csv")

// CheckLogPath checks that path names a log format.
func CheckLogPath(path string) error {
	switch filepath.Ext(path) {
	case ".jsonl", ".csv":
		return nil
	}
	return ErrLogFormat
}

// EpochLog appends one record per epoch to a file, JSON lines or CSV by the file's
// extension. Every record goes to the file in one write, unbuffered, so that an
// interrupted run loses no finished epoch, and a resumed run appends to the same file.
// A nil *EpochLog writes nothing.
type EpochLog struct {
	f       *os.File
	csv     bool
	started bool // the CSV header is known to be in the file
}

// OpenEpochLog opens path for appending, creating it if needed.
func OpenEpochLog(path string) (*EpochLog, error) {
	if err := CheckLogPath(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &EpochLog{f: f, csv: filepath.Ext(path) == ".csv"}, nil
}

// Write appends r. A CSV file gets its header first when it is empty, and one that
// already has another header (another H) is an error rather than a mixed table.
func (l *EpochLog) Write(r EpochRecord) error {
	if l == nil {
		return nil
	}
	var buf bytes.Buffer
	if !l.csv {
		if err := json.NewEncoder(&buf).Encode(r); err != nil {
			return fmt.Errorf("log: %w", err)
		}
	} else {
		head, row := r.csvRow()
		if !l.started {
			if err := l.checkHeader(head, &buf); err != nil {
				return err
			}
		}
		w := csv.NewWriter(&buf)
		_ = w.Write(row)
		w.Flush()
	}
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	l.started = true
	return nil
}

// checkHeader writes the header to buf when the file is empty, and otherwise checks
// that the file's header is head.
func (l *EpochLog) checkHeader(head []string, buf *bytes.Buffer) error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	first, err := bufio.NewReader(l.f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("log: %w", err)
	}
	var want bytes.Buffer
	w := csv.NewWriter(&want)
	_ = w.Write(head)
	w.Flush()
	switch first {
	case "":
		buf.Write(want.Bytes())
	case want.String():
	default:
		return fmt.Errorf("log %s: its CSV header is not this run's (another network?); give another file", l.f.Name())
	}
	return nil
}

// csvRow returns the CSV header and row of r: the lists become one column per layer
// (layer_cosine_1..H+1) or distance (first_nonzero_d1..dH, ...).
func (r EpochRecord) csvRow() (head, row []string) {
	add := func(name, v string) { head, row = append(head, name), append(row, v) }
	itoa, ftoa := strconv.Itoa, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	add("epoch", itoa(r.Epoch))
	add("variant", r.Variant)
	add("hidden", itoa(r.Hidden))
	add("engine", r.Engine)
	add("cores", itoa(r.Cores))
	add("precision", r.Precision)
	// A layer graph's columns only where the run is one, so that a chain's table keeps
	// its header (and a resumed chain run appends to its old file).
	if r.Arch != "" || r.Param != "" || r.Skips != "" {
		add("arch", r.Arch)
		add("param", r.Param)
		add("skips", r.Skips)
	}
	add("loss", csvField(r.Loss))
	add("val_loss", csvField(r.ValLoss))
	add("val_accuracy", csvField(r.ValAccuracy))
	add("cosine", csvField(r.Cosine))
	for l, c := range r.LayerCosine {
		add(fmt.Sprintf("layer_cosine_%d", l+1), csvField(c))
	}
	for _, list := range []struct {
		name string
		v    []Number
	}{{"first_nonzero", r.FirstNonzero}, {"converged", r.Converged}, {"unconverged", r.Unconverged}} {
		for d, v := range list.v {
			add(fmt.Sprintf("%s_d%d", list.name, d+1), csvField(v))
		}
	}
	add("energy_first", csvField(r.EnergyFirst))
	add("energy_last", csvField(r.EnergyLast))
	add("epoch_seconds", ftoa(r.EpochSeconds))
	add("pc_seconds", ftoa(r.PCSeconds))
	add("bp_seconds", ftoa(r.BPSeconds))
	add("compared", itoa(r.Compared))
	return head, row
}

// Close closes the file; a nil log has nothing to close.
func (l *EpochLog) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
