package train

import (
	"fmt"
	"time"
)

// Seconds formats a duration as seconds with one decimal: "4.1s".
func Seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
