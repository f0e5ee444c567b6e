package pace

import (
	"bytes"
	"testing"
	"time"
)

// fake is a clock that work advances and sleeps advance.
type fake struct {
	t     time.Time
	slept []time.Duration
}

func (f *fake) now() time.Time { return f.t }
func (f *fake) sleep(d time.Duration) {
	f.slept = append(f.slept, d)
	f.t = f.t.Add(d)
}

func fakePacer(share float64) (*Pacer, *fake) {
	f := &fake{t: time.Unix(1000, 0)}
	p := New(share)
	p.now, p.sleep = f.now, f.sleep
	return p, f
}

// TestShare: work in 0.5 ms pieces under a 25 % Pacer sleeps three times as
// long as it works, in pauses after each 2 ms slice.
func TestShare(t *testing.T) {
	p, f := fakePacer(0.25)
	var worked time.Duration
	for range 400 {
		p.Pause()
		f.t = f.t.Add(500 * time.Microsecond) // a piece of work
		worked += 500 * time.Microsecond
	}
	p.Pause()
	if got, want := p.Slept(), 3*worked; got < want-3*DefaultSlice || got > want {
		t.Fatalf("slept %v for %v of work, want about %v", got, worked, want)
	}
	for _, d := range f.slept {
		if d != 6*time.Millisecond {
			t.Fatalf("a pause of %v, want 6ms (three times a 2 ms slice)", d)
		}
	}
}

// TestNoPacing: shares outside (0, 1) and a nil Pacer never sleep, and
// Writer hands back the writer itself.
func TestNoPacing(t *testing.T) {
	for _, share := range []float64{0, -1, 1, 2} {
		if p := New(share); p != nil {
			t.Fatalf("New(%v) paces", share)
		}
	}
	var p *Pacer
	p.Pause()
	var b bytes.Buffer
	if p.Writer(&b) != &b {
		t.Fatal("a nil Pacer wraps the writer")
	}
	if p.Slept() != 0 {
		t.Fatal("a nil Pacer slept")
	}
}

// TestWriter: a paced writer writes everything, pausing as it goes.
func TestWriter(t *testing.T) {
	p, f := fakePacer(0.5)
	var b bytes.Buffer
	w := p.Writer(&b)
	for range 10 {
		f.t = f.t.Add(time.Millisecond)
		if _, err := w.Write([]byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != "abcabcabcabcabcabcabcabcabcabc" {
		t.Fatalf("wrote %q", b.String())
	}
	if len(f.slept) == 0 {
		t.Fatal("a 50 % Pacer never paused over 10 ms of writes")
	}
}
