package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultPC(t *testing.T) {
	for _, tc := range []struct {
		a     Algorithm
		h     int
		steps int
		gamma float64
	}{
		{PC, 4, 20, 0.1},
		{Scaled, 7, 20, 0.1},
		{FPA, 4, 4, 1},
		{FPA, 16, 16, 1},
		{ZIL, 3, 3, 1},
		{IPC, 2, 2, 1},
		{BP, 5, 5, 1},
	} {
		t.Run(tc.a.String(), func(t *testing.T) {
			d := DefaultPC(tc.a)
			require.Equal(t, tc.steps, d.StepsFor(tc.h))
			require.Equal(t, tc.gamma, d.Gamma)
		})
	}
}
