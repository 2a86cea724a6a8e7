// Package repocheck holds tests about the repository as a whole rather than about one
// package: that the tracked tree explains itself, citing only what it carries. It has no
// code of its own, so nothing imports it.
package repocheck
