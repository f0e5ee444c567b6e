//go:build unix

package sqlite

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used, so
// benchmarks can report throughput per CPU second, which stays meaningful on a
// loaded machine where wall time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
