package winevt

import (
	"bytes"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
)

// Formats lists the Windows JSON formats this package decodes.
func Formats() []decode.Format {
	return []decode.Format{
		{
			ID:          FormatEvtxDump,
			Description: "Windows events as evtx_dump/Chainsaw JSON ({\"Event\":{\"System\":..,\"EventData\":..}})",
			Sniff:       sniffEvtxDump,
			New:         func() decode.Decoder { return NewEvtxDump() },
		},
		{
			ID:          FormatWinlogbeat,
			Description: "Windows events as Winlogbeat / Elastic Agent documents (winlog.*)",
			Sniff:       sniffWinlogbeat,
			New:         func() decode.Decoder { return NewWinlogbeat() },
		},
		{
			ID:          FormatFlat,
			Description: "Windows events as flat NXLog/OTRF JSON (EventID, Channel, Hostname and EventData at top level)",
			Sniff:       sniffFlat,
			New:         func() decode.Decoder { return NewFlat() },
		},
	}
}

func sniffEvtxDump(head []byte) int {
	if v := decode.FirstJSON(head); v != nil {
		if ev := v.Get("Event"); ev != nil && isObject(ev.Get("System")) {
			return 90
		}
		if isObject(v.Get("System")) && (v.Get("EventData") != nil || v.Get("UserData") != nil) {
			return 70
		}
		return 0
	}
	// A head cut inside the first object: look for the distinctive opening.
	if bytes.Contains(head, []byte(`"Event"`)) && bytes.Contains(head, []byte(`"System"`)) &&
		bytes.Contains(head, []byte(`"EventRecordID"`)) {
		return 60
	}
	return 0
}

func sniffWinlogbeat(head []byte) int {
	if v := decode.FirstJSON(head); v != nil {
		wl := v.Get("winlog")
		if !isObject(wl) {
			return 0
		}
		if wl.Get("channel") != nil || wl.Get("event_id") != nil || wl.Get("provider_name") != nil {
			return 90
		}
		return 60
	}
	if bytes.Contains(head, []byte(`"winlog"`)) && bytes.Contains(head, []byte(`"event_id"`)) {
		return 60
	}
	return 0
}

func sniffFlat(head []byte) int {
	if v := decode.FirstJSON(head); v != nil {
		if v.Get("EventID") == nil || v.Get("winlog") != nil || v.Get("Event") != nil {
			return 0
		}
		score := 40
		if v.Get("Channel") != nil {
			score += 20
		}
		if v.Get("SourceName") != nil || v.Get("ProviderName") != nil || v.Get("Provider_Name") != nil {
			score += 10
		}
		if v.Get("Hostname") != nil || v.Get("Computer") != nil {
			score += 10
		}
		return score
	}
	if bytes.Contains(head, []byte(`"EventID"`)) && bytes.Contains(head, []byte(`"Channel"`)) &&
		!bytes.Contains(head, []byte(`"System"`)) && !bytes.Contains(head, []byte(`"winlog"`)) {
		return 50
	}
	return 0
}

func isObject(v *fastjson.Value) bool { return v != nil && v.Type() == fastjson.TypeObject }
