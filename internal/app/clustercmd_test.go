package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/bus/jetstream"
	"github.com/vigilsec/vigil/internal/bus/jetstream/natstest"
	"github.com/vigilsec/vigil/internal/cluster"
)

func TestClusterStatusUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster"}, "no subcommand"},
		{[]string{"cluster", "status"}, "--bus is required"},
		{[]string{"cluster", "status", "--bus", "http://user:secret@nats:4222"}, "want nats://"},
		{[]string{"cluster", "status", "--bus", "nats://127.0.0.1:4222", "--output", "xml"}, "--output"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want usage naming %q", tc.args, code, errs, tc.want)
		}
		if strings.Contains(errs, "secret") {
			t.Errorf("%v: the password is printed: %s", tc.args, errs)
		}
	}
}

// TestClusterStatusCLI reads a cluster through real NATS: with no member it
// says so and exits 1; with members holding every partition and the
// correlator it lists them and exits 0.
func TestClusterStatusCLI(t *testing.T) {
	natsURL := natstest.URL(t)
	prefix := natstest.Prefix(t, natsURL)
	args := []string{"cluster", "status", "--bus", natsURL, "--bus-prefix", prefix}
	// No cluster on the prefix: said, and nothing created.
	code, out, errs := runCLI(t, args...)
	if code != ExitFailure || !strings.Contains(errs, "no bus with prefix") {
		t.Fatalf("no cluster: exit %d\n%s%s", code, out, errs)
	}
	if _, err := jetstream.Open(t.Context(), jetstream.Options{URL: natsURL, Prefix: prefix, Observe: true}); err == nil {
		t.Fatal("vigil cluster status created the bus it looked for")
	}
	// The nodes' bus, with a lease TTL the status must not change.
	b, err := jetstream.Open(t.Context(), jetstream.Options{URL: natsURL, Prefix: prefix, LeaseTTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := cluster.Ensure(t.Context(), b, 2); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, args...)
	if code != ExitFailure || !strings.Contains(out, "members     0: none") || !strings.Contains(errs, "2 of 2 partitions run by no member") {
		t.Fatalf("an empty cluster: exit %d\n%s%s", code, out, errs)
	}
	for _, lease := range [][2]string{{"member/w0", "w0"}, {"partition/events/0", "w0"}, {"partition/events/1", "w0"}, {"role/correlator", "w0"}} {
		if _, err := b.Acquire(t.Context(), lease[0], lease[1]); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs = runCLI(t, append(args, "--output", "json")...)
	var o cluster.Overview
	if code != ExitOK || json.Unmarshal([]byte(out), &o) != nil {
		t.Fatalf("a running cluster: exit %d\n%s%s", code, out, errs)
	}
	if len(o.Members) != 1 || o.Correlator != "w0" || o.Unowned != 0 || len(o.Partitions) != 2 || o.Partitions[1].Owner != "w0" {
		t.Errorf("overview %+v", o)
	}
	if ttl := leaseTTL(t, natsURL, prefix); ttl != 30*time.Second {
		t.Errorf("the leases' TTL is %s after vigil cluster status, want the nodes' 30s", ttl)
	}
}

// leaseTTL is the TTL of the leases bucket of a bus prefix.
func leaseTTL(t *testing.T, natsURL, prefix string) time.Duration {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), prefix+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.TTL()
}
