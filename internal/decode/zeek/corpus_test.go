package zeek

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// gunzip reads a gzip file whole, as the caller of a decoder decompresses it.
func gunzip(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}

// TestRITADay decodes every Zeek log of one day of the RITA "missing host" capture.
// The expected counts are the data lines of each log type
// (zcat <type>.*.log.gz | grep -vc '^#'), which the test also recomputes.
func TestRITADay(t *testing.T) {
	dir := decodetest.Corpora(t, "zeek/rita-missing-host/2024-04-19")
	want := map[string]int{
		"zeek.capture_loss": 96, "zeek.conn": 31367, "zeek.dns": 1833, "zeek.dpd": 11,
		"zeek.files": 9746, "zeek.http": 9873, "zeek.kerberos": 2, "zeek.known_services": 4,
		"zeek.notice": 8, "zeek.ntp": 89, "zeek.open_conn": 24, "zeek.radius": 1, "zeek.sip": 50,
		"zeek.snmp": 17, "zeek.software": 2, "zeek.ssh": 6633, "zeek.ssl": 43, "zeek.stats": 864,
		"zeek.tunnel": 16, "zeek.weird": 372,
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.log.gz"))
	if err != nil || len(files) != 353 {
		t.Fatalf("glob: %d files, %v", len(files), err)
	}
	got := map[string]int{}
	dataLines := map[string]int{}
	var beacons, modzilla, sshOpen int
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "conn-summary.") {
			continue // a text report, not a Zeek log (see TestRITAConnSummary)
		}
		data := gunzip(t, f)
		dataLines["zeek."+base[:strings.IndexByte(base, '.')]] += countDataLines(data)
		s, err := decodetest.Decode(t, NewTSV(), base, data)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if len(s.Rejects) != 0 {
			t.Fatalf("%s: %d rejects, first %v", base, len(s.Rejects), s.Rejects[0])
		}
		for _, e := range s.Events {
			got[e.Str(event.EventDataset)]++
			// The SSH session open the whole time shows in open_conn, once an hour.
			if e.Str(event.EventID) == "C3ZW8c1wDLCz4w18d8" && e.Str(event.EventDataset) == "zeek.open_conn" {
				sshOpen++
				checkIP(t, e, event.SourceIP, "73.54.23.243")
				checkNum(t, e, event.DestinationPort, 22)
				checkRaw(t, e, "conn_state", "S1")
			}
			if e.Str(event.EventDataset) != "zeek.http" {
				continue
			}
			if e.Str(event.UserAgentOriginal) == "Modzilla/0.0001 (Atari 7800)" {
				modzilla++
			}
			if e.IP(event.SourceIP).String() == "73.54.23.243" && e.IP(event.DestinationIP).String() == "64.225.56.201" {
				beacons++
				checkStr(t, e, event.UserAgentOriginal, "Modzilla/0.0001 (Atari 7800)")
				checkStr(t, e, event.URLDomain, "")
				checkRaw(t, e, "host", "")
				checkNum(t, e, event.DestinationPort, 80)
			}
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("records per log type:\n got %v\nwant %v", got, want)
	}
	if !mapsEqual(got, dataLines) {
		t.Errorf("records per log type differ from the data lines in the files:\n got %v\nlines %v", got, dataLines)
	}
	// The known beacon: 317 HTTP requests on 2024-04-19, all with the odd UA and no Host.
	if sshOpen != 24 {
		t.Errorf("open_conn records of the SSH session = %d, want 24", sshOpen)
	}
	if beacons != 317 || modzilla != 317 {
		t.Errorf("beacon requests = %d, Modzilla UA = %d, want 317 and 317", beacons, modzilla)
	}
}

func countDataLines(b []byte) int {
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			n++
		}
	}
	return n
}

// TestRITAConnSummary: conn-summary files are a text report without a Zeek header;
// every line of one is rejected as data before any header and nothing is emitted.
func TestRITAConnSummary(t *testing.T) {
	dir := decodetest.Corpora(t, "zeek/rita-missing-host/2024-04-19")
	data := gunzip(t, filepath.Join(dir, "conn-summary.05:00:00-06:00:00.log.gz"))
	s, err := decodetest.Decode(t, NewTSV(), "conn-summary.log", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 0 || len(s.Rejects) == 0 || s.Reasons()["missing-field"] != len(s.Rejects) {
		t.Errorf("events %d, rejects %v", len(s.Events), s.Reasons())
	}
	if SniffTSV(data) != 0 {
		t.Error("conn-summary sniffed as zeek-tsv")
	}
}

// TestRITAConcatenated decodes a whole day of conn logs concatenated into one stream
// (header blocks mid-stream, as rotated logs joined with zcat are), and the same
// with the gzip members joined, which a gzip reader reads as one stream.
func TestRITAConcatenated(t *testing.T) {
	dir := decodetest.Corpora(t, "zeek/rita-missing-host/2024-04-19")
	files, _ := filepath.Glob(filepath.Join(dir, "conn.*.log.gz"))
	sort.Strings(files)
	if len(files) != 24 {
		t.Fatalf("conn files = %d", len(files))
	}
	var plain, gz []byte
	for _, f := range files {
		plain = append(plain, gunzip(t, f)...)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		gz = append(gz, b...)
	}
	s, err := decodetest.Decode(t, NewTSV(), "conn.log", plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 31367 || len(s.Rejects) != 0 {
		t.Fatalf("events %d rejects %d", len(s.Events), len(s.Rejects))
	}
	if first, last := s.Events[0], s.Events[len(s.Events)-1]; first.Origin.Line != 9 || last.Origin.Line <= 31367 {
		t.Errorf("line numbers: first %d last %d", first.Origin.Line, last.Origin.Line)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	joined, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(joined, plain) {
		t.Fatal("multi-member gzip differs from the concatenated logs")
	}
}

// TestAPT29 decodes every Zeek JSON file of the APT29 evaluation (HELK/Logstash
// shape: "@stream", "id_orig_h"). Every record has a ts except loaded_scripts, whose
// 480 records per sensor are rejected as bad-timestamp (the contract requires an
// event time).
func TestAPT29(t *testing.T) {
	root := decodetest.Corpora(t, "zeek/apt29")
	want := map[string]int{
		"day1/NASHUA_conn.log": 479, "day1/NASHUA_dce_rpc.log": 57, "day1/NASHUA_dns.log": 21,
		"day1/NASHUA_dpd.log": 6, "day1/NASHUA_files.log": 379, "day1/NASHUA_kerberos.log": 13,
		"day1/NASHUA_notice.log": 1, "day1/NASHUA_smb_files.log": 6, "day1/NASHUA_smb_mapping.log": 5,
		"day1/NASHUA_ssl.log": 376, "day1/NASHUA_weird.log": 6, "day1/NASHUA_x509.log": 376,
		"day1/SCRANTON_conn.log": 134, "day1/SCRANTON_dce_rpc.log": 66, "day1/SCRANTON_dns.log": 32,
		"day1/SCRANTON_http.log": 62, "day1/SCRANTON_kerberos.log": 22, "day1/SCRANTON_x509.log": 2,
		"day2/NEWYORK_conn.log": 314, "day2/NEWYORK_dce_rpc.log": 270, "day2/NEWYORK_kerberos.log": 62,
		"day2/UTICA-A_conn.log": 353, "day2/UTICA-A_ssl.log": 283, "day2/UTICA-ONE-DRIVE_x509.log": 10,
		"day2/NEWYORK_loaded_scripts.log": 0,
	}
	var total, rejected int
	files, _ := filepath.Glob(filepath.Join(root, "day*", "*.log"))
	if len(files) != 99 {
		t.Fatalf("files = %d, want 99", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if SniffJSON(data) != 85 && !strings.Contains(rel, "loaded_scripts") {
			t.Errorf("%s: not sniffed as zeek-json", rel)
		}
		s, err := decodetest.Decode(t, NewJSON(), filepath.Base(f), data)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		lines := bytes.Count(data, []byte("\n"))
		total += len(s.Events)
		rejected += len(s.Rejects)
		if strings.Contains(rel, "loaded_scripts") {
			if len(s.Events) != 0 || s.Reasons()["bad-timestamp"] != 480 {
				t.Errorf("%s: events %d rejects %v", rel, len(s.Events), s.Reasons())
			}
			continue
		}
		if len(s.Rejects) != 0 || len(s.Events) != lines {
			t.Errorf("%s: events %d of %d lines, rejects %v", rel, len(s.Events), lines, s.Rejects)
		}
		if n, ok := want[rel]; ok && n != len(s.Events) {
			t.Errorf("%s: events %d, want %d", rel, len(s.Events), n)
		}
		// The log type comes from @stream; the file name agrees.
		stream := filepath.Base(rel)
		stream = stream[strings.IndexByte(stream, '_')+1 : len(stream)-len(".log")]
		for _, e := range s.Events {
			if e.Str(event.EventDataset) != "zeek."+stream {
				t.Fatalf("%s: dataset %q", rel, e.Str(event.EventDataset))
			}
		}
	}
	if total != 4924 || rejected != 2880 {
		t.Errorf("total events %d rejects %d, want 4924 and 2880", total, rejected)
	}
}

func TestAPT29Records(t *testing.T) {
	root := decodetest.Corpora(t, "zeek/apt29")
	dec := func(rel string) *decodetest.Sink {
		s, err := decodetest.DecodeFile(t, NewJSON(), filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// {"@stream":"kerberos",...,"ts":1588206998.961756,"uid":"CwVGDs3YtoDpSkn2S2","id_orig_h":"10.0.1.6",
	//  "id_orig_p":57047,"id_resp_h":"10.0.0.4","id_resp_p":88,"request_type":"AS","client":"pbeesly/dmevals",
	//  "service":"krbtgt/dmevals","success":false,"error_msg":"KDC_ERR_PREAUTH_REQUIRED",...}
	k := dec("day1/NASHUA_kerberos.log").Events[3]
	checkStr(t, k, event.EventID, "CwVGDs3YtoDpSkn2S2")
	checkStr(t, k, event.UserName, "pbeesly")
	checkStr(t, k, event.UserDomain, "dmevals")
	checkStr(t, k, event.EventOutcome, "failure")
	checkStr(t, k, event.EventReason, "KDC_ERR_PREAUTH_REQUIRED")
	checkIP(t, k, event.SourceIP, "10.0.1.6")
	checkNum(t, k, event.DestinationPort, 88)
	checkRaw(t, k, "id.resp_p", "88")
	checkRaw(t, k, "success", "false")
	checkRaw(t, k, "@system", "bobs.bigwheel.local")
	if k.Timestamp.UnixMicro() != 1588206998961756 {
		t.Errorf("ts = %v", k.Timestamp)
	}

	n := dec("day1/NASHUA_notice.log").Events[0]
	checkStr(t, n, event.EventKind, "alert")
	checkStr(t, n, event.EventAction, "SSL::Invalid_Server_Cert")
	checkIP(t, n, event.DestinationIP, "192.168.0.4")
	checkNum(t, n, event.DestinationPort, 8443)

	d := dec("day1/NASHUA_dns.log").Events[0]
	checkStr(t, d, event.DNSQuestionName, "newyork.dmevals.local")
	checkStr(t, d, event.DNSAnswers, "10.0.0.4")
	checkRaw(t, d, "TTLs", "3600.0")

	sm := dec("day1/NASHUA_smb_mapping.log").Events[1]
	checkRaw(t, sm, "path", `\\NEWYORK.dmevals.local\sysvol`)
	checkRaw(t, sm, "share_type", "DISK")

	x := dec("day1/NASHUA_x509.log").Events[0]
	checkRaw(t, x, "certificate.serial", "7EFDE1CFECCCDB44")
	checkRaw(t, x, "basic_constraints.ca", "true")
	checkStr(t, x, event.EventID, "F1v6sJmRC73GU6WT3")

	h := dec("day1/SCRANTON_http.log").Events[1]
	checkStr(t, h, event.URLOriginal, "/webdav")
	checkStr(t, h, event.UserAgentOriginal, "Microsoft-WebDAV-MiniRedir/10.0.18362")
	checkNum(t, h, event.HTTPResponseStatusCode, 401)
	if got := rawAll(h, "client_header_names"); len(got) != 4 || got[3] != "HOST" {
		t.Errorf("client_header_names = %q", got)
	}

	c := dec("day1/SCRANTON_conn.log").Events[1]
	checkStr(t, c, event.NetworkProtocol, "krb,smb,gssapi")
	checkStr(t, c, event.EventOutcome, "success") // RSTO
	checkNum(t, c, event.SourceBytes, 4060)
	checkNum(t, c, event.EventDurationNS, 10_706_616_878)
}
