// Package cputime reads the CPU time the process has used, for benchmarks that
// report a cost per CPU second (cpu-ns/op) besides the wall clock: the machines
// they run on are often shared, and wall time then measures the neighbours.
package cputime
