package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pcnet/pcnet/train"
	"golang.org/x/term"
)

// barRedraw is how often the progress bar is redrawn at most.
const barRedraw = 100 * time.Millisecond

// progressLines is how many plain progress lines an epoch gets when the output is not a
// terminal.
const progressLines = 10

// progress shows how far an epoch has come: a bar redrawn in place on a terminal, or a
// plain line every tenth of an epoch otherwise (CI logs, pipes).
type progress struct {
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

func newProgress(w io.Writer, epochs int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, epochs: epochs, epoch: -1}
}

func (p *progress) batch(b train.BatchInfo) {
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

func (p *progress) drawBar(done, total int, now time.Time) {
	const width = 30
	filled := done * width / total
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	eta := "?"
	if elapsed := now.Sub(p.epochStart); done > 0 {
		eta = train.Seconds(time.Duration(float64(elapsed) / float64(done) * float64(total-done)))
	}
	loss := 0.0
	if p.lossN > 0 {
		loss = p.lossSum / float64(p.lossN)
	}
	fmt.Fprintf(p.w, "\r\033[Kepoch %d/%d [%s] %3d%% %d/%d  loss %.4f  eta %s",
		p.epoch+1, p.epochs, bar, 100*done/total, done, total, loss, eta)
	p.drawn = true
}

// clear removes the bar, so that a line can be printed in its place.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	p.lossSum, p.lossN = 0, 0
}
