package winevt

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

// regressionGolden are SigmaHQ regression samples (evtx_dump JSON) whose normalized
// form is pinned in testdata/regression.golden and checked by hand.
var regressionGolden = []string{
	"rules-emerging-threats/2025/Malware/Grixba/proc_creation_win_malware_grixba_recon/af688c76-4ce4-4309-bfdd-e896f01acf27.json",                        // Sysmon 1
	"rules-threat-hunting/windows/image_load/image_load_win_werfaultsecure_dbgcore_dbghelp_load/8a2f4b1c-3d5e-4f7a-9b2c-1e4f6d8a9c2b.json",               // Sysmon 7
	"rules/windows/process_access/proc_access_win_werfaultsecure_msmpeng_access/387df17d-3b04-448f-8669-9e7fd5e5fd8c.json",                               // Sysmon 10
	"rules/windows/file/file_event/file_event_win_creation_system_dll_files/13c02350-4177-4e45-ac17-cf7ca628ff5e.json",                                   // Sysmon 11
	"rules/windows/registry/registry_delete/registry_delete_disable_credential_guard/d645ef86-2396-48a1-a2b6-b629ca3f57ff.json",                          // Sysmon 12
	"rules/windows/registry/registry_set/registry_set_disable_system_restore/5de03871-5d46-4539-a82d-3aa992a69a83.json",                                  // Sysmon 13 x2
	"rules-emerging-threats/2026/Exploits/RedSun/pipe_created_win_exploit_redsun_named_pipe/9b4e7c2a-3f6d-4a8b-b5e9-1c7d3f2e6a4b.json",                   // Sysmon 17
	"rules/windows/builtin/security/win_security_explicit_credential_local_logon/e3c6d245-7b8f-4e2a-c17f-a9d0e5b38f62.json",                              // Security 4648
	"rules/windows/builtin/wmi/win_wmi_activity_nteventlogfile_cleareventlog/d4f1a2b3-7c8e-4d5f-b6a9-1e0c2d3f4e5b.json",                                  // UserData
	"rules-emerging-threats/2026/Exploits/RedSun/win_defender_exploit_redsun_tiering_engine_detected_as_eicar/a7c3e5f2-8b1d-4e9a-b6c2-3d7f5e8a9b4c.json", // Defender 1119
	"rules/windows/builtin/taskscheduler/win_taskscheduler_susp_schtasks_delete_or_disable/9e3cb244-bdb8-4632-8c90-6079c8f4f16d.json",                    // EventData with attributes
}

func TestGoldenRegressionSamples(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	var out []byte
	for _, rel := range regressionGolden {
		s, err := decodetest.DecodeFile(t, NewEvtxDump(), filepath.Join(root, rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if len(s.Rejects) != 0 || len(s.Events) == 0 {
			t.Fatalf("%s: %d events, rejects %v", rel, len(s.Events), s.Rejects)
		}
		out = append(out, s.JSONL()...)
	}
	decodetest.Golden(t, "regression", out)
}

// TestAllRegressionSamples decodes every SigmaHQ regression JSON sample: 202 files
// holding 238 events (13 files hold two pretty-printed objects one after another).
func TestAllRegressionSamples(t *testing.T) {
	root := decodetest.Corpora(t, "sigma/regression_data")
	files, events := 0, 0
	channels := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		files++
		s, err := decodetest.DecodeFile(t, NewEvtxDump(), path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if len(s.Rejects) != 0 {
			t.Errorf("%s: rejects %v", path, s.Rejects)
		}
		if len(s.Events) == 0 {
			t.Errorf("%s: no event", path)
		}
		for _, e := range s.Events {
			events++
			id, _ := e.RawValue(KeyEventID)
			ch, _ := e.RawValue(KeyChannel)
			if id == "" || ch == "" || e.Timestamp.IsZero() {
				t.Errorf("%s: EventID %q Channel %q time %v", path, id, ch, e.Timestamp)
			}
			if e.Str(event.EventCode) != id || e.Str(event.HostName) == "" {
				t.Errorf("%s: event.code %q host.name %q", path, e.Str(event.EventCode), e.Str(event.HostName))
			}
			channels[ch]++
			if ch == chSysmon && id == "1" && (e.Str(event.ProcessExecutable) == "" || e.Str(event.ProcessCommandLine) == "") {
				t.Errorf("%s: Sysmon 1 without process.executable/command_line", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 202 || events != 238 {
		t.Errorf("decoded %d files, %d events; want 202 files, 238 events", files, events)
	}
	if channels[chSysmon] != 233 || channels[chSecurity] != 2 {
		t.Errorf("channels %v; want 233 Sysmon, 2 Security", channels)
	}
}
