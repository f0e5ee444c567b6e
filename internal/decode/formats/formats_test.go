package formats

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

func TestDefaultRegistry(t *testing.T) {
	r := Default()
	if len(r.Formats()) < 17 {
		t.Fatalf("only %d formats registered", len(r.Formats()))
	}
	for _, f := range r.Formats() {
		if f.Description == "" {
			t.Errorf("%s has no description", f.ID)
		}
		if g, err := r.Get(f.ID); err != nil || g.ID != f.ID {
			t.Errorf("Get(%s): %v", f.ID, err)
		}
	}
	if _, err := New([]decode.Format{r.Formats()[0], r.Formats()[0]}); err == nil {
		t.Fatal("duplicate ids accepted")
	}
}

// head reads the first SniffSize decompressed bytes of path, as the pipeline does.
func head(t *testing.T, path string) []byte {
	t.Helper()
	var out []byte
	err := files.Open(path, 0, func(s files.Stream) error {
		b, err := io.ReadAll(io.LimitReader(s.R, decode.SniffSize))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		out = b
		return errStopOpen
	})
	if err != nil && !errors.Is(err, errStopOpen) {
		t.Fatalf("reading %s: %v", path, err)
	}
	return out
}

var errStopOpen = errors.New("stop")

func detectID(r *Registry, b []byte) string {
	d, err := r.Detect(b)
	if err != nil {
		return ""
	}
	return d.Format.ID
}

// TestDetectOwnFixtures: every decoder's fixtures are recognised as that decoder's
// format, and as no other; this is what makes mixed directories work.
func TestDetectOwnFixtures(t *testing.T) {
	r := Default()
	tests := map[string]string{
		"../syslog/testdata/auth.log":              "syslog-rfc3164",
		"../syslog/testdata/secure":                "syslog-rfc3164",
		"../syslog/testdata/auth-iso.log":          "syslog-rfc3164",
		"../syslog/testdata/rfc5424.log":           "syslog-rfc5424",
		"../journald/testdata/journal.json":        "journald-json",
		"../journald/testdata/journal-pretty.json": "journald-json",
		"../zeek/testdata/conn.log":                "zeek-tsv",
		"../zeek/testdata/kerberos.log":            "zeek-tsv",
		"../zeek/testdata/apt29.json":              "zeek-json",
		"../zeek/testdata/zeek_native.json":        "zeek-json",
		"../k8saudit/testdata/audit.log":           "k8s-audit",
		"../k8saudit/testdata/eventlist.json":      "k8s-audit",
		"../cloudtrail/testdata/records.ndjson":    "cloudtrail",
		"../cloudtrail/testdata/pretty.json":       "cloudtrail",
		"../cloudtrail/testdata/111122223333_CloudTrail_us-east-1_20240502T1205Z_a1b2c3.json": "cloudtrail",
		"../okta/testdata/okta.jsonl":              "okta",
		"../entra/testdata/entra-eventhub.json":    "entra-signin",
		"../entra/testdata/entra-graph.json":       "entra-signin",
		"../entra/testdata/entra-storage.jsonl":    "entra-signin",
		"../ecsjson/testdata/ecs.ndjson":           "ecs-ndjson",
		"../winevt/testdata/evtxdump_more.json":    "winevt-evtxdump",
		"../winevt/testdata/winlogbeat8.ndjson":    "winevt-winlogbeat",
		"../winevt/testdata/flat_otrf.ndjson":      "winevt-flat",
		"../weblog/testdata/nginx_combined.log":    "access-log",
		"../weblog/testdata/vhost_combined.log":    "access-log",
		"../weblog/testdata/common.log":            "access-log",
		"../weblog/testdata/iis_fields_change.log": "w3c",
		"../csvlog/testdata/firewall.csv":          "csv",
		"../csvlog/testdata/signins.csv":           "csv",
		"../csvlog/testdata/winevents.tsv":         "csv",
	}
	for path, want := range tests {
		if got := detectID(r, head(t, path)); got != want {
			d, _ := r.Detect(head(t, path))
			t.Errorf("%s detected as %q (score %d, runner-up %s %d), want %q", path, got, d.Score, d.RunnerUp, d.RunnerUpScore, want)
		}
	}
}

// TestDetectCorpora: real files of each format, and the non-log files that sit
// beside them in the corpora, which must be recognised as nothing.
func TestDetectCorpora(t *testing.T) {
	r := Default()
	root := decodetest.Corpora(t, "")
	tests := map[string]string{
		"evtx-attack-samples/Execution/exec_sysmon_1_11_lolbin_rundll32_openurl_FileProtocolHandler.evtx": "evtx",
		"zeek/rita-missing-host/2024-04-21/conn.10:00:00-11:00:00.log.gz":                                 "zeek-tsv",
		"zeek/apt29/day1/NASHUA_conn.log":                                                                 "zeek-json",
		"cloud/aws/ec2_proxy_s3_exfiltration.zip":                                                         "cloudtrail",
		"cloud/aws/aws_s3_honeybucketlogs.zip":                                                            "csv",
		"evtx-attack-samples/Command and Control/Tunna_rdp_tunnel_IIS.log":                                "w3c",
		"evtx-attack-samples/Command and Control/web_attack_and_isp_webshell_localhost_access_log.txt":    "access-log",
		"evtx-attack-samples/README.md":                                                                   "",
		"evtx-attack-samples/HeatMap.PNG":                                                                 "",
		"evtx-attack-samples/EVTX_ATT&CK_Metadata/Evtx/Evtx.py":                                           "",
		"evtx-attack-samples/EVTX_ATT&CK_Metadata/EVTX_Metadata.ipynb":                                    "",
		"evtx-attack-samples/Command and Control/cmds over dns txt queries and reponses.pcap":             "",
		"evtx-attack-samples/winlogbeat_example.yml":                                                      "",
		"osv/golang-vulndb": "skip",
	}
	for rel, want := range tests {
		p := filepath.Join(root, rel)
		if want == "skip" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("corpus file %s: %v", rel, err)
			continue
		}
		if got := detectID(r, head(t, p)); got != want {
			t.Errorf("%s detected as %q, want %q", rel, got, want)
		}
	}
	// Every SigmaHQ regression sample (evtx_dump JSON beside its .evtx) is recognised.
	matches, _ := filepath.Glob(filepath.Join(root, "sigma/regression_data/rules/windows/process_creation/*/*.json"))
	if len(matches) == 0 {
		t.Fatal("no regression samples found")
	}
	for _, m := range matches {
		if got := detectID(r, head(t, m)); got != "winevt-evtxdump" {
			t.Errorf("%s detected as %q", m, got)
		}
		if got := detectID(r, head(t, m[:len(m)-len(".json")]+".evtx")); got != "evtx" {
			t.Errorf("%s.evtx detected as %q", m, got)
		}
	}
}

func TestDetectNothingOnNoise(t *testing.T) {
	r := Default()
	for _, b := range [][]byte{nil, []byte(" \n\n"), []byte("hello world\n"), []byte("{}"), []byte("[]"),
		[]byte(`{"a":1}` + "\n"), bytes.Repeat([]byte{0}, 4096), []byte("a,b\n1,2,3\n")} {
		if id := detectID(r, b); id != "" {
			t.Errorf("%q detected as %s", b, id)
		}
	}
}

// FuzzDetect runs every sniffer on arbitrary bytes: none may panic (Detect would hide
// the panic, so call them directly) and scores stay in range.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("ElfFile\x00"))
	f.Add([]byte("#separator \\x09\n#fields\tts\n"))
	f.Add([]byte(`{"Event":{"System":{}}}`))
	f.Add([]byte("<34>1 2003-10-11T22:14:15.003Z host app - ID47 - msg\n"))
	f.Add([]byte("a,b,c\n1,2,3\n"))
	r := Default()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fm := range r.Formats() {
			if s := fm.Sniff(b); s < 0 || s > 100 {
				t.Fatalf("%s scored %d", fm.ID, s)
			}
		}
	})
}
