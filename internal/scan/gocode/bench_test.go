package gocode

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/tools/go/packages"

	"github.com/vigilsec/vigil/internal/scan"
)

// peakHeap samples the live heap every 20 ms until stop is called and
// returns the highest value seen, in MiB.
func peakHeap() (stop func() float64) {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapAlloc)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak) / (1 << 20)
	}
}

// repoRoot is Vigil's repository (the module this package is in).
func repoRoot(b *testing.B) string {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		b.Skip("repository root not found")
	}
	return root
}

func benchScan(b *testing.B, dir string) {
	needGo(b)
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	stop := peakHeap()
	n := 0
	for b.Loop() {
		n = 0
		err := New(Options{}).Scan(context.Background(), tg, func(scan.Finding) { n++ }, func(p scan.Problem) { b.Logf("problem: %+v", p) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(stop(), "peak-heap-MiB")
	b.ReportMetric(float64(n), "findings")
}

// BenchmarkScanFixture: the whole scan (go list, type-checking, SSA, VTA,
// taint, syntax checks) of testdata/vulnapp.
func BenchmarkScanFixture(b *testing.B) { benchScan(b, filepath.Join("testdata", "vulnapp")) }

// BenchmarkScanVigil: the whole scan of Vigil's own repository.
func BenchmarkScanVigil(b *testing.B) { benchScan(b, repoRoot(b)) }

// BenchmarkTaintVigil: the hot path alone on Vigil's packages, loaded
// once: SSA, the VTA call graph and the taint engine.
func BenchmarkTaintVigil(b *testing.B) {
	needGo(b)
	root := repoRoot(b)
	r := &moduleRun{s: New(Options{}), m: module{dir: root}}
	pkgs, err := packages.Load(&packages.Config{Mode: packages.LoadSyntax | packages.NeedModule, Dir: root, Env: r.env()}, "./...")
	if err != nil {
		b.Fatal(err)
	}
	stop := peakHeap()
	steps, fns := 0, 0
	for b.Loop() {
		e, _, err := analyse(context.Background(), pkgs, root, r.s)
		if err != nil {
			b.Fatal(err)
		}
		steps, fns = e.steps, len(e.analyses)
	}
	b.ReportMetric(stop(), "peak-heap-MiB")
	b.ReportMetric(float64(steps), "instructions")
	b.ReportMetric(float64(fns), "functions")
}

func benchReach(b *testing.B, dir string, syms []string, want int) {
	needGo(b)
	stop := peakHeap()
	for b.Loop() {
		got, err := Reachable(context.Background(), dir, syms)
		if err != nil {
			b.Fatal(err)
		}
		if want >= 0 && len(got) != want {
			b.Fatalf("%d symbols reachable, want %d: %v", len(got), want, got)
		}
	}
	b.ReportMetric(stop(), "peak-heap-MiB")
}

// BenchmarkReachableFixture: testdata/reach/app (fmt and os from source).
func BenchmarkReachableFixture(b *testing.B) {
	benchReach(b, filepath.Join("testdata", "reach", "app"), []string{"example.com/vulnlib.Parse", "example.com/vulnlib.Other"}, 1)
}

// BenchmarkReachableVigil: Vigil's repository (its whole program from
// source) with a YAML symbol it calls.
func BenchmarkReachableVigil(b *testing.B) {
	benchReach(b, repoRoot(b), []string{"go.yaml.in/yaml/v3.Unmarshal", "go.yaml.in/yaml/v3.Node.Decode", "golang.org/x/net/publicsuffix.EffectiveTLDPlusOne"}, -1)
}
