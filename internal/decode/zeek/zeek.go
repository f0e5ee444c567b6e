// Package zeek decodes Zeek (formerly Bro) network logs, ASCII/TSV ("zeek-tsv") and
// JSON ("zeek-json"), and normalizes them into ECS as Elastic's Zeek integration does.
//
// Raw field convention: every field keeps Zeek's own name as Zeek's TSV header and
// JSON writer spell it, with dots for record scopes ("id.orig_h", "certificate.serial");
// JSON written with "_" as scope separator ("id_orig_h") is mapped back. Sets and
// vectors become repeated raw fields; an unset field ("-") is absent; an empty one
// ("(empty)") is an empty string. Booleans read "true"/"false" in both formats (the
// TSV "T"/"F" are rendered as Zeek's JSON writer renders them), so a rule written
// once matches either.
//
// Normalization is chosen by the log path (#path, _path, @stream, else the file
// name): conn, dns, http, ssl, files, ssh, kerberos, ntlm, rdp, smb_files,
// smb_mapping, dce_rpc, x509, notice, weird, dhcp and software have their own; any
// other log gets the generic id.orig_h/id.resp_h/ports/uid mapping. event.module is
// "zeek" and event.dataset "zeek.<path>".
package zeek

import (
	"bytes"

	"github.com/vigilsec/vigil/internal/decode"
)

// Formats returns the Zeek formats: "zeek-tsv" and "zeek-json".
func Formats() []decode.Format {
	return []decode.Format{
		{
			ID:          FormatTSV,
			Description: "Zeek ASCII logs (tab-separated with #fields header)",
			Sniff:       SniffTSV,
			New:         func() decode.Decoder { return NewTSV() },
		},
		{
			ID:          FormatJSON,
			Description: "Zeek JSON logs (LogAscii::use_json, HELK/Logstash @stream variant)",
			Sniff:       SniffJSON,
			New:         func() decode.Decoder { return NewJSON() },
		},
	}
}

// SniffTSV scores 100 for a stream that starts with Zeek's "#separator" header.
func SniffTSV(head []byte) int {
	if len(head) >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF {
		head = head[3:]
	}
	if bytes.HasPrefix(head, []byte("#separator ")) {
		return 100
	}
	return 0
}

// SniffJSON scores 85 when the first JSON object has Zeek's keys: a log path
// ("_path" or "@stream") with "uid" or "ts", or a connection id ("id.orig_h",
// "id_orig_h").
func SniffJSON(head []byte) int {
	v := decode.FirstJSON(head)
	if v == nil {
		return 0
	}
	o, err := v.Object()
	if err != nil {
		return 0
	}
	if o.Get("id.orig_h") != nil || o.Get("id_orig_h") != nil {
		return 85
	}
	if (o.Get("_path") != nil || o.Get("@stream") != nil) && (o.Get("uid") != nil || o.Get("ts") != nil) {
		return 85
	}
	return 0
}
