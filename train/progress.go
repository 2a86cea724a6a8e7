package train

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// barRedraw is how often the progress bar is redrawn at most.
const barRedraw = 100 * time.Millisecond

// progressLines is how many plain progress lines an epoch gets when the output is not a
// terminal.
const progressLines = 10

// Progress shows how far an epoch has come: a bar redrawn in place on a terminal, or a
// plain line every tenth of an epoch otherwise (CI logs, pipes). Its Batch is a
// Session's OnBatch; Clear goes before any other line is printed.
type Progress struct {
	w      io.Writer
	tty    bool
	epochs int

	drawn      bool // a bar is on the screen
	lastDraw   time.Time
	epochStart time.Time
	epoch      int
	lossSum    float64
	lossN      int
}

// NewProgress returns the progress of a run of epochs epochs, written to w.
func NewProgress(w io.Writer, epochs int) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Progress{w: w, tty: tty, epochs: epochs, epoch: -1}
}

// Batch records a finished batch and redraws the bar or prints a line when due.
func (p *Progress) Batch(b BatchInfo) {
	now := time.Now()
	done := b.Next.Batch // batches done in this epoch
	if b.Next.Epoch != p.epoch {
		p.epoch, p.epochStart = b.Next.Epoch, now
	}
	p.lossSum += b.Loss
	p.lossN++
	if p.tty {
		if now.Sub(p.lastDraw) < barRedraw && done < b.Batches {
			return
		}
		p.lastDraw = now
		p.drawBar(done, b.Batches, now)
		return
	}
	if done < b.Batches && done*progressLines/b.Batches != (done-1)*progressLines/b.Batches {
		fmt.Fprintf(p.w, "epoch %d/%d  batch %d/%d  loss %.4f\n", b.Next.Epoch+1, p.epochs, done, b.Batches, p.lossSum/float64(p.lossN))
		p.lossSum, p.lossN = 0, 0
	}
}

func (p *Progress) drawBar(done, total int, now time.Time) {
	const width = 30
	filled := done * width / total
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	eta := "?"
	if elapsed := now.Sub(p.epochStart); done > 0 {
		eta = Seconds(time.Duration(float64(elapsed) / float64(done) * float64(total-done)))
	}
	loss := 0.0
	if p.lossN > 0 {
		loss = p.lossSum / float64(p.lossN)
	}
	fmt.Fprintf(p.w, "\r\033[Kepoch %d/%d [%s] %3d%% %d/%d  loss %.4f  eta %s",
		p.epoch+1, p.epochs, bar, 100*done/total, done, total, loss, eta)
	p.drawn = true
}

// Clear removes the bar, so that a line can be printed in its place.
func (p *Progress) Clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	p.lossSum, p.lossN = 0, 0
}
