// Package render turns measured numbers into files: CSV tables, markdown pages, the
// number formats both use, and PNG plots drawn with gonum.org/v1/plot in one house
// style. The experiments (package experiments) and the benchmark report (bench/report)
// share it, so that a figure is formatted the same way wherever it is printed, and
// neither measures anything through it: callers measure first, into their own typed
// results, and hand render only what is to be written.
//
// Every file is written atomically (WriteFile): an interrupted run leaves the previous
// version of a file, never half of a new one.
package render
