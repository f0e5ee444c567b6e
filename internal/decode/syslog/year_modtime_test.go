package syslog

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// TestYearFromInput checks the precedence of the year sources for traditional lines:
// Input.Year over the modification time, and the modification time placing a
// Dec -> Jan file in the right years.
func TestYearFromInput(t *testing.T) {
	lines := []byte("Dec 31 23:59:58 host sshd[1]: Connection closed by 10.0.0.1 port 22 [preauth]\n" +
		"Jan  1 00:00:01 host sshd[1]: Connection closed by 10.0.0.1 port 22 [preauth]\n")
	tests := []struct {
		name    string
		year    int
		modTime time.Time
		want    []int
	}{
		{"modification time in January", 0, time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC), []int{2024, 2025}},
		{"modification time in December", 0, time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC), []int{2024, 2025}},
		{"explicit year wins", 2019, time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC), []int{2019, 2020}},
		{"nothing known", 0, time.Time{}, []int{FallbackYear, FallbackYear + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &decodetest.Sink{}
			in := decode.Input{R: bytes.NewReader(lines), Source: "auth.log", Year: tt.year, ModTime: tt.modTime}
			if err := New(Options{}).Decode(context.Background(), in, s); err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != 2 {
				t.Fatalf("got %d events, rejects %v", len(s.Events), s.Rejects)
			}
			for i, e := range s.Events {
				if e.Timestamp.Year() != tt.want[i] {
					t.Errorf("line %d: year %d, want %d", i+1, e.Timestamp.Year(), tt.want[i])
				}
			}
		})
	}
}
