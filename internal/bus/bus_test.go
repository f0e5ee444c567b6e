package bus_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/bus"
)

// TestPartitionKnownAnswers pins Partition: a change would move every
// topic's messages to other partitions.
func TestPartitionKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		key  string
		n    int
		want int
	}{
		{"", 8, 5},
		{"a", 8, 4},
		{"host-1", 16, 5},
		{`CORP\alice`, 64, 37},
		{"10.0.0.1", 3, 2},
		{"alice@corp.com", 1000, 90},
		{"anything", 1, 0},
		{"anything", 0, 0},
		{"anything", -3, 0},
	} {
		if got := bus.Partition(tc.key, tc.n); got != tc.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
	// It is FNV-1a, 32 bits.
	for i := range 1000 {
		key := fmt.Sprint("key-", i)
		h := fnv.New32a()
		h.Write([]byte(key))
		if got, want := bus.Partition(key, 97), int(h.Sum32()%97); got != want {
			t.Fatalf("Partition(%q, 97) = %d, FNV-1a says %d", key, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := []bus.Topic{
		{Name: "events", Partitions: 1},
		{Name: "A-b_9", Partitions: 1024, MaxBytes: 1 << 30},
		{Name: strings.Repeat("x", bus.MaxTopicName), Partitions: 1},
	}
	for _, tp := range valid {
		if err := tp.Validate(); err != nil {
			t.Errorf("%+v: %v", tp, err)
		}
	}
	invalid := []bus.Topic{
		{Name: "", Partitions: 1},
		{Name: strings.Repeat("x", bus.MaxTopicName+1), Partitions: 1},
		{Name: "a.b", Partitions: 1},
		{Name: "a", Partitions: 0},
		{Name: "a", Partitions: 1, MaxBytes: -1},
	}
	for _, tp := range invalid {
		if err := tp.Validate(); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", tp, err)
		}
	}
	if err := bus.ValidateMessages([]bus.Message{{ID: "a"}, {ID: strings.Repeat("i", bus.MaxID)}}); err != nil {
		t.Error(err)
	}
	if err := bus.ValidateMessages([]bus.Message{{ID: "a"}, {}}); !errors.Is(err, bus.ErrInvalid) || !strings.Contains(err.Error(), "message 1") {
		t.Errorf("a message without an ID: %v, want ErrInvalid naming message 1", err)
	}
}
