package spec_test

import (
	"errors"
	"fmt"

	"github.com/pcnet/pcnet/spec"
)

// A run is validated once; the error names the setting, which a command maps to its
// flag.
func Example() {
	r := spec.Default()
	r.Algorithm = spec.ZIL
	r.PC.Gamma = 0.5
	err := r.Validate()
	var fe *spec.FieldError
	if errors.As(err, &fe) {
		fmt.Printf("-%s: %s, got %v\n", fe.Field, fe.Problem, fe.Value)
	}
	fmt.Println(err)

	r.PC.Gamma = 1
	fmt.Println(r.Validate(), r.Algorithm, r.Hidden())
	// Output:
	// -gamma: Z-IL runs with gamma 1, got 0.5
	// pcnet: gamma = 0.5: Z-IL runs with gamma 1
	// <nil> zil 4
}
