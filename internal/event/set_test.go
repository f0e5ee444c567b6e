package event

import (
	"net/netip"
	"testing"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
		want        string // the value read back through Lookup
	}{
		{"process.command_line", `cmd.exe /c whoami`, true, `cmd.exe /c whoami`},
		{"event.action", "logged-in", true, "logged-in"},
		{"source.port", "443", true, "443"},
		{"event.duration", "1500000.9", true, "1500000"},
		{"destination.bytes", "-12", true, "-12"},
		{"source.port", "http", false, ""},
		{"source.port", "NaN", false, ""},
		{"source.port", "1e300", false, ""},
		{"source.ip", "::ffff:10.0.0.1", true, "10.0.0.1"},
		{"source.ip", "[2001:db8::1]", true, "2001:db8::1"},
		{"client.ip", "not-an-ip", false, ""},
		{"host.ip", "-", false, ""},
		{"message", "", false, ""},
		{"@timestamp", "2024-01-01T00:00:00Z", false, ""},
		{"event.category", "process", false, ""},
		{"related.ip", "10.0.0.1", false, ""},
		{"CommandLine", "x", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			var e Event
			if got := Set(&e, tt.name, tt.value); got != tt.ok {
				t.Fatalf("Set(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.ok)
			}
			got, _ := Lookup(tt.name).String(&e)
			if tt.ok && got != tt.want {
				t.Fatalf("read back %q, want %q", got, tt.want)
			}
			if len(e.Raw) != 0 {
				t.Fatalf("Set added raw fields: %v", e.Raw)
			}
		})
	}
}

func TestSetIPRecordsRelated(t *testing.T) {
	var e Event
	Set(&e, "source.ip", "10.1.2.3")
	Set(&e, "destination.ip", "10.1.2.3")
	if want := []netip.Addr{netip.MustParseAddr("10.1.2.3")}; len(e.Related.IP) != 1 || e.Related.IP[0] != want[0] {
		t.Fatalf("related.ip = %v, want %v", e.Related.IP, want)
	}
}
