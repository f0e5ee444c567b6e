package app

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs vigil demo as a new user would (a smaller organisation, faster)
// and checks that the console's API shows incidents soon after it starts.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo streams a simulated organisation")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{Stdout: &stderr, Stderr: &stderr}, []string{"demo", "--listen", "127.0.0.1:0", "--users", "30", "--days", "4",
			"--speed", "200000", "--password", "demo-password-123"})
	}()
	addr := regexp.MustCompile(`console is on http://(\S+) `)
	var base string
	deadline := time.Now().Add(2 * time.Minute)
	for base == "" {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not start:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a := login(t, base, "demo", "demo-password-123")
	var list struct {
		Items []struct {
			ID      string   `json:"id"`
			Risk    float64  `json:"risk"`
			Tactics []string `json:"tactics"`
		} `json:"items"`
	}
	for {
		if code := a.do(http.MethodGet, "/api/v1/incidents?sort=risk&min_risk=10", nil, &list); code != 200 {
			t.Fatalf("incidents: %d", code)
		}
		if len(list.Items) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d incidents of risk >= 10 after two minutes:\n%s", len(list.Items), stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(list.Items[0].Tactics) < 2 {
		t.Errorf("the riskiest incident spans %v", list.Items[0].Tactics)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("demo exit %d:\n%s", code, stderr.String())
	}
}
