//go:build !unix

package sqlite

import "time"

// processCPU is unavailable here; benchmarks then report no per-CPU figure.
func processCPU() time.Duration { return 0 }
