package dnsanomaly

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// FuzzRestore: hostile snapshots never panic, fail with ErrSnapshot, and a model
// restored from anything it accepted keeps working and snapshots again.
func FuzzRestore(f *testing.F) {
	// A small stream that exercises every structure: exact and HyperLogLog
	// sketches, findings, DGA hits, a domain marked normal.
	rng := rand.New(rand.NewPCG(4, 1))
	o := newBenignOrg(rng, 6, 30)
	qs := o.days(rng, t0, 2)
	qs = append(qs, tunnel(rng, t0.Add(33*time.Hour), "10.0.0.7", "t.exfil-example.com", "hex", 60)...)
	qs = append(qs, dga(rng, t0.Add(33*time.Hour), "10.0.0.9", 10)...)
	sortQueries(qs)
	m, err := New(Config{WarmUp: time.Hour, MinWindows: 5, MinModelWeight: 20})
	if err != nil {
		f.Fatal(err)
	}
	if err := m.MarkNormal("web.com"); err != nil {
		f.Fatal(err)
	}
	run(f, m, qs[:len(qs)-100])
	tail := qs[len(qs)-100:]
	var b bytes.Buffer
	if err := m.Snapshot(&b); err != nil {
		f.Fatal(err)
	}
	if b.Len() > 32<<10 {
		f.Fatalf("seed snapshot of %d bytes: too large for the fuzzer to minimise", b.Len())
	}
	f.Add(b.Bytes())
	empty, _ := New(Config{WarmUp: time.Hour, MinWindows: 5, MinModelWeight: 20})
	var e bytes.Buffer
	if err := empty.Snapshot(&e); err != nil {
		f.Fatal(err)
	}
	f.Add(e.Bytes())
	f.Add([]byte(snapMagic + "\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := New(Config{WarmUp: time.Hour, MinWindows: 5, MinModelWeight: 20})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Restore(bytes.NewReader(data)); err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v is not ErrSnapshot", err)
			}
			return
		}
		for _, q := range tail {
			m.Observe(q, nil)
		}
		var out bytes.Buffer
		if err := m.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
	})
}
