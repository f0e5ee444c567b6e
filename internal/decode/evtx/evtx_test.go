package evtx

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

const attackSamples = "evtx-attack-samples"

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		head []byte
		want int
	}{
		{"file header", []byte("ElfFile\x00\x00\x00\x00\x00"), 100},
		{"carved chunk", []byte("ElfChnk\x00\x01\x00"), 90},
		{"short magic", []byte("ElfFil"), 0},
		{"empty", nil, 0},
		{"json", []byte(`{"Event":{"System":{}}}`), 0},
		{"lower case", []byte("elffile\x00"), 0},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// corpusFiles lists the .evtx files under dir, sorted.
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".evtx") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// chunkRecords counts the records the chunk headers of data declare
// (last - first record number + 1): an count independent of our parser.
func chunkRecords(data []byte) int {
	n := 0
	for off := fileHeaderSize; off+chunkHeaderSize <= len(data); off += chunkSize {
		c := data[off:]
		if bytes.HasPrefix(c, chunkMagic) {
			n += int(le64(c, 16) - le64(c, 8) + 1)
		}
	}
	return n
}

// TestAttackSamplesCorpus decodes all EVTX-ATTACK-SAMPLES files. Known answer:
// 277 files (the upstream README says 278; the repository at 4ceed2f holds 277),
// 8,255 records, equal to the chunk headers' record number ranges and to
// python-evtx 0.3.0 (the copy in EVTX_ATT&CK_Metadata/Evtx, run over every chunk
// by file size), file by file. No rejects: the corpus is clean.
func TestAttackSamplesCorpus(t *testing.T) {
	dir := decodetest.Corpora(t, attackSamples)
	files := corpusFiles(t, dir)
	if len(files) != 277 {
		t.Errorf("found %d files, want 277", len(files))
	}
	d := New()
	total, declared := 0, 0
	ids := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := decodetest.Decode(t, d, filepath.Base(f), data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, r := range s.Rejects {
			t.Errorf("%s: unexpected reject: %v", f, r)
		}
		if want := chunkRecords(data); len(s.Events) != want {
			t.Errorf("%s: %d events, chunk headers declare %d", f, len(s.Events), want)
		}
		declared += chunkRecords(data)
		total += len(s.Events)
		for _, e := range s.Events {
			if e.Timestamp.IsZero() || e.Origin.Record == 0 || e.Origin.Format != FormatID {
				t.Fatalf("%s: bad event %s", f, e.AppendJSON(nil))
			}
			id, _ := e.RawValue(event.MakeKey("EventID"))
			ch, _ := e.RawValue(event.MakeKey("Channel"))
			ids[ch+"/"+id]++
		}
	}
	if total != 8255 || declared != 8255 {
		t.Errorf("decoded %d records, chunk headers declare %d, want 8255", total, declared)
	}
	// Events by Channel/EventID, the same as python-evtx's XML gives.
	for k, want := range map[string]int{
		"Microsoft-Windows-Sysmon/Operational/1": 1491,
		"Security/4624":                          87,
		"Security/4688":                          42,
		"Security/5145":                          958,
		"System/7045":                            4,
	} {
		if ids[k] != want {
			t.Errorf("%s: %d events, want %d", k, ids[k], want)
		}
	}
}

// TestRecordFields checks decoded raw fields of known records, value by value.
func TestRecordFields(t *testing.T) {
	dir := decodetest.Corpora(t, attackSamples)
	for _, tc := range []struct {
		file   string
		record int64
		want   map[string]string
		ts     string
	}{
		{
			file: "Execution/exec_sysmon_1_ftp.evtx", record: 16511, ts: "2019-05-12T17:20:01.980574Z",
			want: map[string]string{
				"EventID": "1", "Version": "5", "Level": "4", "Task": "1", "Opcode": "0",
				"Keywords": "0x8000000000000000", "TimeCreated": "2019-05-12T17:20:01.9805740Z",
				"EventRecordID": "16511", "ProcessID": "2012", "ThreadID": "300",
				"Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "IEWIN7",
				"Provider_Name": "Microsoft-Windows-Sysmon", "Provider_Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
				"Security_UserID": "S-1-5-18", "RuleName": "", "UtcTime": "2019-05-12 17:20:01.964",
				"ProcessGuid": "{365ABB72-55C1-5CD8-0000-0010970D2F00}", "ProcessId": "4092",
				"Image": `C:\Windows\System32\cmd.exe`, "CommandLine": `"C:\Windows\system32\cmd.exe" `,
				"LogonId": "0x135f2", "TerminalSessionId": "1", "IntegrityLevel": "Medium",
				"User": `IEWIN7\IEUser`, "ParentProcessId": "3192", "Product": "Microsoft® Windows® Operating System",
			},
		},
		{
			file: "Defense Evasion/DE_104_system_log_cleared.evtx", record: 27736, ts: "2019-03-19T23:34:25.8943413Z",
			want: map[string]string{
				// UserData leaves by their own names; LogFileCleared's Channel
				// repeats the System one.
				"EventID": "104", "SubjectUserName": "user01", "SubjectDomainName": "EXAMPLE",
				"BackupPath": "", "Provider_Guid": "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}",
				"Security_UserID": "S-1-5-21-1587066498-1489273250-1035260531-1106",
			},
		},
		{
			file: "Privilege Escalation/System_7045_namedpipe_privesc.evtx", record: 10446, ts: "2019-05-12T12:52:43.702578Z",
			want: map[string]string{
				"EventID": "7045", "Qualifiers": "16384", "Provider_EventSourceName": "Service Control Manager",
				"ServiceName": "WinPwnage", "ServiceType": "user mode service", "StartType": "demand start",
				"AccountName": "LocalSystem", "Keywords": "0x8080000000000000",
				"ImagePath": `%COMSPEC% /c ping -n 1 127.0.0.1 >nul && echo 'WinPwnage' > \\.\pipe\WinPwnagePipe`,
			},
		},
	} {
		s, err := decodetest.DecodeFile(t, New(), filepath.Join(dir, tc.file))
		if err != nil || len(s.Rejects) > 0 {
			t.Fatalf("%s: %v %v", tc.file, err, s.Rejects)
		}
		var e *event.Event
		for _, x := range s.Events {
			if x.Origin.Record == tc.record {
				e = x
			}
		}
		if e == nil {
			t.Fatalf("%s: record %d not found", tc.file, tc.record)
		}
		for k, v := range tc.want {
			if got, ok := e.RawValue(event.MakeKey(k)); !ok || got != v {
				t.Errorf("%s: %s = %q (present %v), want %q", tc.file, k, got, ok, v)
			}
		}
		if got := e.Timestamp.Format(time.RFC3339Nano); got != tc.ts {
			t.Errorf("%s: timestamp %s, want %s", tc.file, got, tc.ts)
		}
	}
}

func TestGolden(t *testing.T) {
	dir := decodetest.Corpora(t, attackSamples)
	for name, file := range map[string]string{
		"sysmon_regsvr32_sct":   "Execution/exec_sysmon_lobin_regsvr32_sct.evtx",
		"security_4624_4688":    "Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx",
		"system_104_userdata":   "Defense Evasion/DE_104_system_log_cleared.evtx",
		"system_7045_qualifier": "Privilege Escalation/System_7045_namedpipe_privesc.evtx",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := decodetest.DecodeFile(t, New(), filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			decodetest.Golden(t, name, s.JSONL())
		})
	}
}

// loadSample reads a multi-chunk corpus file for the damage tests:
// 10 chunks, 869 records.
func loadSample(t testing.TB) []byte {
	t.Helper()
	dir := decodetest.Corpora(t, attackSamples)
	data, err := os.ReadFile(filepath.Join(dir, "Lateral Movement/LM_5145_Remote_FileCopy.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// chunkAt returns the offset of chunk i.
func chunkAt(i int) int { return fileHeaderSize + i*chunkSize }

// recordsIn returns the offsets of the records of the chunk at off.
func recordsIn(data []byte, off int) []int {
	c := data[off : off+chunkSize]
	var out []int
	for p := chunkHeaderSize; p < int(le32(c, 48)); p += int(le32(c, p+4)) {
		out = append(out, off+p)
	}
	return out
}

func fixChunkCRC(data []byte, off int) {
	c := data[off : off+chunkSize]
	put32(c, 124, chunkHeaderCRC(c))
}

func put32(b []byte, i int, v uint32) {
	b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func decodeBytes(t *testing.T, data []byte) *decodetest.Sink {
	t.Helper()
	s, err := decodetest.Decode(t, New(), "damaged.evtx", data)
	if err != nil {
		t.Fatalf("Decode returned %v", err)
	}
	return s
}

func wantRejects(t *testing.T, s *decodetest.Sink, want map[string]int) {
	t.Helper()
	got := s.Reasons()
	if len(got) != len(want) {
		t.Errorf("rejects %v, want %v", got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("rejects %v, want %v", got, want)
			return
		}
	}
}

func TestDamage(t *testing.T) {
	orig := loadSample(t)
	const total = 869
	if n := chunkRecords(orig); n != total {
		t.Fatalf("sample declares %d records, want %d", n, total)
	}
	chunk2 := len(recordsIn(orig, chunkAt(2)))
	chunk0 := recordsIn(orig, chunkAt(0))
	chunk9 := recordsIn(orig, chunkAt(9))
	whole9 := 0 // records of chunk 9 wholly within its first 1000 bytes
	for _, r := range chunk9 {
		if r+int(le32(orig, r+4)) <= chunkAt(9)+1000 {
			whole9++
		}
	}
	def0 := int(le32(orig, chunk0[0]+24+10))
	users0 := usersOf(orig, 0, def0)

	for _, tc := range []struct {
		name    string
		damage  func(d []byte) []byte
		events  int
		rejects map[string]int
		offset  int64 // of the first reject, -1 to skip the check
	}{
		{"intact", func(d []byte) []byte { return d }, total, nil, -1},
		{"file header magic", func(d []byte) []byte { d[0] = 'X'; return d },
			total, map[string]int{decode.ReasonMalformed: 1}, 0},
		{"file header checksum", func(d []byte) []byte { d[124] ^= 0xff; return d },
			total, map[string]int{decode.ReasonBadChecksum: 1}, 0},
		{"dirty: header says 1 chunk", func(d []byte) []byte {
			d[42], d[43] = 1, 0
			put32(d, 124, crc32.ChecksumIEEE(d[:120]))
			return d
		}, total, nil, -1},
		{"chunk magic", func(d []byte) []byte { d[chunkAt(2)+3] ^= 0xff; return d },
			total - chunk2, map[string]int{decode.ReasonMalformed: 1}, int64(chunkAt(2))},
		{"chunk header checksum", func(d []byte) []byte { d[chunkAt(2)+60] ^= 0xff; return d },
			total, map[string]int{decode.ReasonBadChecksum: 1}, int64(chunkAt(2))},
		{"chunk data checksum", func(d []byte) []byte {
			d[chunkAt(2)+52] ^= 0xff
			fixChunkCRC(d, chunkAt(2))
			return d
		}, total, map[string]int{decode.ReasonBadChecksum: 1}, int64(chunkAt(2))},
		{"record magic", func(d []byte) []byte { d[chunk0[3]] = 0; return d },
			total - 1, map[string]int{decode.ReasonMalformed: 1, decode.ReasonBadChecksum: 1}, -1},
		{"record size", func(d []byte) []byte { put32(d, chunk0[3]+4, 0xfff0); return d },
			total - 1, map[string]int{decode.ReasonMalformed: 1, decode.ReasonBadChecksum: 1}, -1},
		{"substitution count huge", func(d []byte) []byte {
			p := substitutionCount(d, chunk0[3])
			put32(d, p, 0xffffffff)
			return d
		}, total - 1, map[string]int{decode.ReasonMalformed: 1, decode.ReasonBadChecksum: 1}, -1},
		{"template outside the chunk", func(d []byte) []byte {
			put32(d, chunk0[3]+24+10, 0xfffff0) // template definition offset
			return d
		}, total - 1, map[string]int{decode.ReasonMalformed: 1, decode.ReasonBadChecksum: 1}, -1},
		{"template zeroed", func(d []byte) []byte {
			def := int(le32(d, chunk0[0]+24+10)) // defined inline by the first record
			clear(d[chunkAt(0)+def+24 : chunkAt(0)+def+24+int(le32(d, chunkAt(0)+def+20))])
			return d
		}, total - users0, map[string]int{decode.ReasonMalformed: users0, decode.ReasonBadChecksum: 1}, -1},
		{"truncated mid-record", func(d []byte) []byte { return d[:chunkAt(9)+1000] },
			total - len(chunk9) + whole9, map[string]int{decode.ReasonTruncated: 1}, -1},
		{"truncated in chunk header", func(d []byte) []byte { return d[:chunkAt(9)+100] },
			total - len(recordsIn(orig, chunkAt(9))), map[string]int{decode.ReasonTruncated: 1}, int64(chunkAt(9))},
		{"truncated in file header", func(d []byte) []byte { return d[:1000] },
			0, map[string]int{decode.ReasonTruncated: 1}, 0},
		{"carved chunk", func(d []byte) []byte { return d[chunkAt(0):chunkAt(1)] },
			len(chunk0), nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.damage(bytes.Clone(orig))
			s := decodeBytes(t, data)
			if len(s.Events) != tc.events {
				t.Errorf("%d events, want %d", len(s.Events), tc.events)
			}
			wantRejects(t, s, tc.rejects)
			if tc.offset >= 0 && len(s.Rejects) > 0 && s.Rejects[0].Offset != tc.offset {
				t.Errorf("first reject at offset %d, want %d: %v", s.Rejects[0].Offset, tc.offset, s.Rejects[0])
			}
			for _, r := range s.Rejects {
				t.Logf("reject: %v", r)
				if r.Source != "damaged.evtx" || r.Format != FormatID || r.Err == nil {
					t.Errorf("incomplete reject %+v", r)
				}
			}
		})
	}
}

// substitutionCount returns the file offset of the substitution count of the
// record at rec (whose template definition is not inline).
func substitutionCount(d []byte, rec int) int {
	p := rec + 24 + 4 // fragment header
	chunk := (rec-fileHeaderSize)/chunkSize*chunkSize + fileHeaderSize
	if def := int(le32(d, p+6)); def == p+10-chunk {
		return p + 10 + 24 + int(le32(d, p+10+20))
	}
	return p + 10
}

// usersOf counts the records of chunk i whose top template is defined at def.
func usersOf(d []byte, i, def int) int {
	n := 0
	for _, r := range recordsIn(d, chunkAt(i)) {
		if int(le32(d, r+24+10)) == def {
			n++
		}
	}
	return n
}

func TestGarbage(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'E'}},
		{"zeros", make([]byte, 3*chunkSize)},
		{"text", bytes.Repeat([]byte("not an event log\n"), 10000)},
		{"file header only", append([]byte("ElfFile\x00"), make([]byte, fileHeaderSize-8)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeBytes(t, tc.data)
			if len(s.Events) != 0 {
				t.Errorf("%d events from garbage", len(s.Events))
			}
		})
	}
}

func TestCancel(t *testing.T) {
	data := loadSample(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New().Decode(ctx, decode.Input{R: bytes.NewReader(data), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Decode = %v, want context.Canceled", err)
	}
}

// TestReuse checks one decoder gives the same output on repeated streams.
func TestReuse(t *testing.T) {
	data := loadSample(t)
	d := New()
	a, _ := decodetest.Decode(t, d, "a", data)
	b, _ := decodetest.Decode(t, d, "a", data)
	if !bytes.Equal(a.JSONL(), b.JSONL()) {
		t.Fatal("second decode differs")
	}
}
