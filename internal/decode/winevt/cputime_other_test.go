//go:build !unix

package winevt

import "time"

func cpuTime() time.Duration { return 0 }
