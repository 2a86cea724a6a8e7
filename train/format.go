package train

import (
	"fmt"
	"time"
)

// Seconds formats a duration of an output line: seconds with one decimal ("4.1s"), or
// whole milliseconds below a tenth of a second ("34ms").
func Seconds(d time.Duration) string {
	if d < 100*time.Millisecond {
		// "0.0s" would hide a time that was measured (BP steps on one batch in ten
		// of a small network): milliseconds below a tenth of a second.
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
