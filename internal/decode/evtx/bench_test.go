package evtx

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// countSink reuses one event and counts.
type countSink struct {
	e       event.Event
	events  int
	rejects int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.events++ }
func (s *countSink) Reject(*decode.RecordError) { s.rejects++ }

var benchFiles = []string{
	"Command and Control/bits_openvpn.evtx",                       // System/BITS
	"Lateral Movement/LM_5145_Remote_FileCopy.evtx",               // Security 5145
	"Other/rdpcorets_148_mst120_bluekeep_rpdscan_full.evtx",       // RDP, UserData
	"AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx", // Sysmon
	"Privilege Escalation/Sysmon_UACME_64.evtx",                   // Sysmon
	"Command and Control/DE_RDP_Tunnel_5156.evtx",                 // Security 5156, 4688
}

func loadBench(b *testing.B, all bool) [][]byte {
	dir := decodetest.Corpora(b, attackSamples)
	files := benchFiles
	if all {
		files = nil
		for _, f := range corpusFiles(b, dir) {
			rel, _ := filepath.Rel(dir, f)
			files = append(files, rel)
		}
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// BenchmarkDecodeEVTX decodes real files from memory: "mix" is six files of
// different channels (4,320 records), "corpus" all 277 attack samples (8,255);
// "raw" variants skip winevt.Normalize to measure the parser alone.
func BenchmarkDecodeEVTX(b *testing.B) {
	for _, bc := range []struct {
		name    string
		all     bool
		rawOnly bool
	}{
		{"mix", false, false},
		{"mix-raw", false, true},
		{"corpus", true, false},
		{"corpus-raw", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			files := loadBench(b, bc.all)
			size := 0
			for _, f := range files {
				size += len(f)
			}
			d := New()
			d.rawOnly = bc.rawOnly
			s := &countSink{}
			var r bytes.Reader
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; i < b.N; i++ {
				for _, f := range files {
					r.Reset(f)
					if err := d.Decode(context.Background(), decode.Input{R: &r, Source: "bench"}, s); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			cpu := cputime.Process() - cpu0
			if s.rejects != 0 {
				b.Fatalf("%d rejects", s.rejects)
			}
			b.ReportMetric(float64(s.events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(s.events)/float64(b.N), "events/op")
			if cpu > 0 {
				b.ReportMetric(float64(s.events)/cpu.Seconds(), "events/cpu-s")
			}
		})
	}
}
