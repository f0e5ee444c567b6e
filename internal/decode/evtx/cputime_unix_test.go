//go:build unix

package evtx

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user+system) the process has used. Benchmarks
// report events per CPU second besides events per wall second: the machines
// they run on are often shared, and wall time then measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
