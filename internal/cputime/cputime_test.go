package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessGrows burns CPU and checks that the process's CPU time moves
// forward by at least part of it (unix only; elsewhere Process is 0).
func TestProcessGrows(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		if Process() != 0 {
			t.Fatalf("Process() = %v on %s, want 0", Process(), runtime.GOOS)
		}
		return
	}
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %v, want > 0 in a running process", before)
	}
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		for range 10000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	after := Process()
	if after-before < 10*time.Millisecond {
		t.Errorf("Process() moved by %v over 50ms of busy work (x=%d), want at least 10ms", after-before, x)
	}
}
