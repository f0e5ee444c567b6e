package midas

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// edge is one record of the DARPA stream.
type edge struct {
	src, dst uint64
	tick     int64
	attack   bool
}

// corpus returns a path under ../shared/corpora, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func corpus(t testing.TB, rel string) string {
	t.Helper()
	p := "../../../../../shared/corpora/" + rel
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus %s missing: %v", rel, err)
		}
		t.Skipf("corpus %s missing: %v", rel, err)
	}
	return p
}

var darpa struct {
	once  sync.Once
	edges []edge
	err   error
}

// loadDARPA reads darpa_original.csv from the zip (streaming, nothing on
// disk) once per test binary. Node names become ids with HashString, times
// become ticks: minutes since the first record.
func loadDARPA(t testing.TB) []edge {
	t.Helper()
	p := corpus(t, "darpa/darpa_original.zip")
	darpa.once.Do(func() { darpa.edges, darpa.err = readDARPA(p) })
	if darpa.err != nil {
		t.Fatal(darpa.err)
	}
	return darpa.edges
}

func readDARPA(path string) ([]edge, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var f *zip.File
	for _, zf := range zr.File {
		if zf.Name == "darpa_original.csv" {
			f = zf
		}
	}
	if f == nil {
		return nil, fmt.Errorf("%s: no darpa_original.csv", path)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sc := bufio.NewScanner(bufio.NewReaderSize(rc, 1<<20))
	edges := make([]edge, 0, 4_600_000)
	var (
		lastTime  []byte
		lastMin   int64
		firstMin  int64
		line      int
		haveFirst bool
	)
	for sc.Scan() {
		line++
		fields := bytes.Split(sc.Bytes(), []byte{','})
		if len(fields) != 4 {
			return nil, fmt.Errorf("line %d: %d fields", line, len(fields))
		}
		if !bytes.Equal(fields[2], lastTime) {
			tm, err := parseMinute(fields[2])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			lastTime = append(lastTime[:0], fields[2]...)
			lastMin = tm.Unix() / 60
			if !haveFirst {
				firstMin, haveFirst = lastMin, true
			}
		}
		edges = append(edges, edge{
			src:    HashBytes(fields[0]),
			dst:    HashBytes(fields[1]),
			tick:   lastMin - firstMin,
			attack: !bytes.Equal(fields[3], []byte{'-'}),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return edges, nil
}

// parseMinute parses MM/DD/YYYY-HH:MM. The corpus has a "07/32/1998"
// (ten records between 07/31 and 08/01), so out-of-range days are
// normalized (07/32 is 08/01) as time.Date does, not rejected.
func parseMinute(b []byte) (time.Time, error) {
	if len(b) != 16 || b[2] != '/' || b[5] != '/' || b[10] != '-' || b[13] != ':' {
		return time.Time{}, fmt.Errorf("time %q: want MM/DD/YYYY-HH:MM", b)
	}
	num := func(s []byte) (int, error) { return strconv.Atoi(string(s)) }
	var v [5]int
	for i, r := range [5][2]int{{0, 2}, {3, 5}, {6, 10}, {11, 13}, {14, 16}} {
		n, err := num(b[r[0]:r[1]])
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", b, err)
		}
		v[i] = n
	}
	return time.Date(v[2], time.Month(v[0]), v[1], v[3], v[4], 0, 0, time.UTC), nil
}

// auc is the exact ROC-AUC of scores against labels (true = positive):
// the probability that a random positive outscores a random negative,
// ties counting one half (Mann-Whitney U with mid-ranks).
func auc(scores []float64, positive []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	var nPos, nNeg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+1+j) / 2 // mean of ranks i+1..j
		for _, k := range idx[i:j] {
			if positive[k] {
				rankSum += mid
				nPos++
			} else {
				nNeg++
			}
		}
		i = j
	}
	if nPos == 0 || nNeg == 0 {
		return 0.5
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg)
}

func runAUC(t testing.TB, cfg Config, edges []edge) float64 {
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, len(edges))
	labels := make([]bool, len(edges))
	for i, e := range edges {
		scores[i] = m.Score(e.src, e.dst, e.tick)
		labels[i] = e.attack
	}
	return auc(scores, labels)
}

func TestDARPA(t *testing.T) {
	if raceEnabled {
		t.Skip("full DARPA stream (4.5M edges) is too slow under the race detector")
	}
	if testing.Short() {
		t.Skip("full DARPA stream skipped with -short")
	}
	edges := loadDARPA(t)
	var attacks, decreasing int
	for i, e := range edges {
		if e.attack {
			attacks++
		}
		if i > 0 && e.tick < edges[i-1].tick {
			decreasing++
		}
	}
	t.Logf("%d edges, %d attacks, %d ticks, %d out of order", len(edges), attacks, edges[len(edges)-1].tick+1, decreasing)
	if len(edges) != 4_554_344 {
		t.Errorf("%d edges, want 4,554,344", len(edges))
	}
	r := DefaultConfig()
	f := DefaultConfig()
	f.Filter = true
	for _, tc := range []struct {
		name string
		cfg  Config
		want float64
	}{
		{"MIDAS-R", r, 0.95},
		{"MIDAS-F", f, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runAUC(t, tc.cfg, edges)
			t.Logf("%s %dx%d alpha %v: AUC %.6f", tc.name, tc.cfg.Rows, tc.cfg.Buckets, tc.cfg.Alpha, got)
			if got < tc.want {
				t.Errorf("AUC %.6f < %.2f", got, tc.want)
			}
		})
	}
}

func TestDARPASweep(t *testing.T) {
	if os.Getenv("MIDAS_SWEEP") == "" {
		t.Skip("set MIDAS_SWEEP=1")
	}
	edges := loadDARPA(t)
	for _, filter := range []bool{false, true} {
		for _, rows := range []int{2, 4} {
			for _, b := range []int{1024, 4096, 16384} {
				for _, a := range []float64{0.5} {
					cfg := DefaultConfig()
					cfg.Filter, cfg.Rows, cfg.Buckets, cfg.Alpha = filter, rows, b, a
					t.Logf("filter %v %dx%d alpha %v: AUC %.6f", filter, rows, b, a, runAUC(t, cfg, edges))
				}
			}
		}
	}
}
