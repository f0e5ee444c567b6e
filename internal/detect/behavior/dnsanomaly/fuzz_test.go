package dnsanomaly

import (
	"bytes"
	"errors"
	"fmt"
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

// FuzzObserve: any query, in any order, never panics, and the counters add up.
func FuzzObserve(f *testing.F) {
	f.Add("www.example.com", "10.0.0.1", "A", "NOERROR", int64(0))
	f.Add("a..b", "", "TXT", "NXDOMAIN", int64(-1))
	f.Add("xjwqkzpt.com.", "host", "NULL", "", int64(1<<40))
	f.Add("1.2.3.4", "h", "A", "SERVFAIL", int64(-62135596800))
	f.Fuzz(func(t *testing.T, name, client, qtype, rcode string, sec int64) {
		m, err := New(Config{WarmUp: time.Second, MinWindows: 2, MinModelWeight: 1, MaxDoms: 8, MaxPair: 8, MaxCli: 8})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(sec, 0)
		for i := range 40 {
			// the fuzzed query, shifted variants, and time going backwards
			q := Query{Time: at.Add(time.Duration(i%7-3) * time.Hour), Client: client, Name: fmt.Sprintf("%s%d.%s", name[:min(len(name), i)], i, name), QType: qtype, RCode: rcode}
			if i%2 == 0 {
				q.Name = name
			}
			for _, f := range m.Observe(q, nil) {
				if f.Summary == "" || f.Confidence < 0 || f.Confidence >= 1 {
					t.Fatalf("finding %+v", f)
				}
			}
		}
		st := m.Stats()
		var sum uint64
		for _, n := range st.Rejected {
			sum += n
		}
		for _, n := range st.ByKind {
			sum += n
		}
		if sum != st.Queries || st.Queries != 40 {
			t.Fatalf("stats %+v", st)
		}
		if len(m.doms) > 8 || len(m.pairs) > 8 || len(m.clients) > 8 {
			t.Fatal("caps exceeded")
		}
		var b bytes.Buffer
		if err := m.Snapshot(&b); err != nil {
			t.Fatal(err)
		}
		n, _ := New(Config{WarmUp: time.Second, MinWindows: 2, MinModelWeight: 1, MaxDoms: 8, MaxPair: 8, MaxCli: 8})
		if err := n.Restore(&b); err != nil {
			t.Fatal(err)
		}
	})
}
