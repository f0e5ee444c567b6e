package formats

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// fixtures lists two different inputs per format: decoding the second after the
// first with the same decoder must give exactly what a fresh decoder gives. The
// pipeline relies on this to reuse one decoder per worker across streams.
var reuseFixtures = map[string][2]string{
	"syslog-rfc3164":    {"../syslog/testdata/secure", "../syslog/testdata/auth.log"},
	"syslog-rfc5424":    {"../syslog/testdata/rfc5424.log", "../syslog/testdata/rfc5424.log"},
	"journald-json":     {"../journald/testdata/journal-pretty.json", "../journald/testdata/journal.json"},
	"zeek-tsv":          {"../zeek/testdata/http.log", "../zeek/testdata/conn.log"},
	"zeek-json":         {"../zeek/testdata/zeek_native.json", "../zeek/testdata/apt29.json"},
	"k8s-audit":         {"../k8saudit/testdata/eventlist.json", "../k8saudit/testdata/audit.log"},
	"cloudtrail":        {"../cloudtrail/testdata/pretty.json", "../cloudtrail/testdata/records.ndjson"},
	"okta":              {"../okta/testdata/okta.jsonl", "../okta/testdata/okta.jsonl"},
	"entra-signin":      {"../entra/testdata/entra-graph.json", "../entra/testdata/entra-eventhub.json"},
	"ecs-ndjson":        {"../ecsjson/testdata/ecs.ndjson", "../ecsjson/testdata/ecs.ndjson"},
	"winevt-evtxdump":   {"../winevt/testdata/cross_evtxdump.json", "../winevt/testdata/evtxdump_more.json"},
	"winevt-winlogbeat": {"../winevt/testdata/cross_winlogbeat.ndjson", "../winevt/testdata/winlogbeat8.ndjson"},
	"winevt-flat":       {"../winevt/testdata/cross_flat.ndjson", "../winevt/testdata/flat_otrf.ndjson"},
	"w3c":               {"../weblog/testdata/iis_fields_change.log", "../weblog/testdata/iis_fields_change.log"},
	"access-log":        {"../weblog/testdata/vhost_combined.log", "../weblog/testdata/nginx_combined.log"},
	"csv":               {"../csvlog/testdata/firewall.csv", "../csvlog/testdata/signins.csv"},
}

func TestDecoderReuse(t *testing.T) {
	r := Default()
	for _, f := range r.Formats() {
		pair, ok := reuseFixtures[f.ID]
		if f.ID == "evtx" {
			continue // covered below with corpus files
		}
		if !ok {
			t.Errorf("format %s has no reuse fixtures", f.ID)
			continue
		}
		a, b := read(t, pair[0]), read(t, pair[1])
		// The second stream may not begin like a fresh one (no header): a leaked
		// header or year from stream A would show in B's output.
		reused := f.New()
		if _, err := decodetest.Decode(t, reused, "a", a); err != nil {
			t.Fatalf("%s: %v", f.ID, err)
		}
		got, err1 := decodetest.Decode(t, reused, "b", b)
		want, err2 := decodetest.Decode(t, f.New(), "b", b)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(got.JSONL(), want.JSONL()) {
			t.Errorf("%s: a reused decoder gives different output for a second stream", f.ID)
		}
		if len(want.Events) == 0 {
			t.Errorf("%s: fixture %s gave no events", f.ID, pair[1])
		}
	}
}

func TestEVTXDecoderReuse(t *testing.T) {
	root := decodetest.Corpora(t, "evtx-attack-samples")
	a := read(t, filepath.Join(root, "Execution", "exec_sysmon_1_11_lolbin_rundll32_openurl_FileProtocolHandler.evtx"))
	matches, _ := filepath.Glob(filepath.Join(root, "Lateral Movement", "*.evtx"))
	if len(matches) == 0 {
		t.Fatal("no lateral movement samples")
	}
	f, _ := Default().Get("evtx")
	for _, m := range matches[:min(5, len(matches))] {
		b := read(t, m)
		reused := f.New()
		if _, err := decodetest.Decode(t, reused, "a", a); err != nil {
			t.Fatal(err)
		}
		got, _ := decodetest.Decode(t, reused, "b", b)
		want, _ := decodetest.Decode(t, f.New(), "b", b)
		if !bytes.Equal(got.JSONL(), want.JSONL()) {
			t.Errorf("evtx: reused decoder differs on %s", m)
		}
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
