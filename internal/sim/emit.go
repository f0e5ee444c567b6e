package sim

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// Emitter formats records and hands them to the per-file outputs, tagged with the
// campaign or episode being emitted (if any).
type Emitter struct {
	out   *outputs
	org   *Org
	rng   *rand.Rand
	tag   tag
	buf   []byte
	recID int64
}

// KV is one EventData field.
type KV struct{ K, V string }

func appendJSONStr(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Win writes one evtx_dump JSON record.
func (e *Emitter) Win(t time.Time, technique string, sysmon bool, eventID int, computer string, data []KV) {
	e.recID++
	b := e.buf[:0]
	prov, guid, ch, fid := "Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D", "Security", fSecurity
	if sysmon {
		prov, guid, ch, fid = "Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9", "Microsoft-Windows-Sysmon/Operational", fSysmon
	}
	b = append(b, `{"Event":{"System":{"Provider":{"#attributes":{"Name":"`...)
	b = append(b, prov...)
	b = append(b, `","Guid":"`...)
	b = append(b, guid...)
	b = append(b, `"}},"EventID":`...)
	b = strconv.AppendInt(b, int64(eventID), 10)
	b = append(b, `,"Level":4,"TimeCreated":{"#attributes":{"SystemTime":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `"}},"EventRecordID":`...)
	b = strconv.AppendInt(b, e.recID, 10)
	b = append(b, `,"Channel":"`...)
	b = append(b, ch...)
	b = append(b, `","Computer":`...)
	b = appendJSONStr(b, computer)
	b = append(b, `},"EventData":{`...)
	if sysmon {
		b = append(b, `"UtcTime":"`...)
		b = t.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
		b = append(b, '"')
		if len(data) > 0 {
			b = append(b, ',')
		}
	}
	for i, kv := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStr(b, kv.K)
		b = append(b, ':')
		b = appendJSONStr(b, kv.V)
	}
	b = append(b, "}}}\n"...)
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fid, t, tg, b)
}

// Line hands one finished record (text ending with a newline) to file fid. The
// writers of each format (Win, Syslog, Conn, ...) end in it.
func (e *Emitter) Line(fid int, t time.Time, technique string, b []byte) {
	tg := e.tag
	tg.technique = technique
	e.out.add(fid, t, tg, b)
}

// Syslog writes one RFC 3164 line.
func (e *Emitter) Syslog(t time.Time, technique, host, prog string, pid int, msg string) {
	b := e.buf[:0]
	b = t.UTC().AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, prog...)
	if pid > 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	b = append(b, msg...)
	b = append(b, '\n')
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fAuth, t, tg, b)
}

const uidChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func (e *Emitter) appendUID(b []byte) []byte {
	b = append(b, 'C')
	for range 17 {
		b = append(b, uidChars[e.rng.IntN(len(uidChars))])
	}
	return b
}

func appendTS(b []byte, t time.Time) []byte {
	b = strconv.AppendInt(b, t.Unix(), 10)
	b = append(b, '.')
	us := t.Nanosecond() / 1000
	s := strconv.Itoa(us + 1000000)
	return append(b, s[1:]...)
}

// Conn writes one Zeek conn.log record.
func (e *Emitter) Conn(t time.Time, technique string, src netip.Addr, sport int, dst netip.Addr, dport int, service string, dur time.Duration, out, in int64) {
	b := e.buf[:0]
	b = appendTS(b, t)
	b = append(b, '\t')
	b = e.appendUID(b)
	b = append(b, '\t')
	b = src.AppendTo(b)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(sport), 10)
	b = append(b, '\t')
	b = dst.AppendTo(b)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(dport), 10)
	b = append(b, "\ttcp\t"...)
	if service == "" {
		service = "-"
	}
	b = append(b, service...)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, dur.Seconds(), 'f', 6, 64)
	b = append(b, '\t')
	b = strconv.AppendInt(b, out, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, in, 10)
	b = append(b, "\tSF\tT\tF\t0\tShADadFf\t"...)
	op, ip := out/1400+3, in/1400+3
	b = strconv.AppendInt(b, op, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, out+op*40, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, ip, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, in+ip*40, 10)
	b = append(b, "\t-\n"...)
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fConn, t, tg, b)
}

// DNS writes one Zeek dns.log record (an A query answered with ans).
func (e *Emitter) DNS(t time.Time, technique string, src netip.Addr, sport int, query string, ans netip.Addr) {
	b := e.buf[:0]
	b = appendTS(b, t)
	b = append(b, '\t')
	b = e.appendUID(b)
	b = append(b, '\t')
	b = src.AppendTo(b)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(sport), 10)
	b = append(b, '\t')
	b = e.org.Resolver.AppendTo(b)
	b = append(b, "\t53\tudp\t"...)
	b = strconv.AppendInt(b, int64(e.rng.IntN(65535)), 10)
	b = append(b, "\t0.0"...)
	b = strconv.AppendInt(b, int64(10+e.rng.IntN(80)), 10)
	b = append(b, '\t')
	b = append(b, query...)
	b = append(b, "\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t"...)
	b = ans.AppendTo(b)
	b = append(b, "\t300.000000\tF\n"...)
	e.buf = b
	tg := e.tag
	tg.technique = technique
	e.out.add(fDNS, t, tg, b)
}

// zeekLogs are the Zeek logs' #path, #fields and #types lines (Zeek 6 defaults).
var zeekLogs = map[int][3]string{
	fConn: {"conn", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
		"time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]"},
	fDNS: {"dns", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected",
		"time\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool"},
	fHTTP: {"http", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi\treferrer\tversion\tuser_agent\torigin\trequest_body_len\tresponse_body_len\tstatus_code\tstatus_msg\tinfo_code\tinfo_msg\ttags\tusername\tpassword\tproxied\torig_fuids\torig_filenames\torig_mime_types\tresp_fuids\tresp_filenames\tresp_mime_types",
		"time\tstring\taddr\tport\taddr\tport\tcount\tstring\tstring\tstring\tstring\tstring\tstring\tstring\tcount\tcount\tcount\tstring\tcount\tstring\tset[enum]\tstring\tstring\tset[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]\tvector[string]"},
	fSSL: {"ssl", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\tlast_alert\tnext_protocol\testablished\tssl_history\tcert_chain_fps\tclient_cert_chain_fps\tsni_matches_cert\tja3\tja3s",
		"time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tbool\tstring\tstring\tbool\tstring\tvector[string]\tvector[string]\tbool\tstring\tstring"},
}

func zeekHeader(id int, start time.Time) []byte {
	l := zeekLogs[id]
	return []byte("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t" + l[0] +
		"\n#open\t" + start.UTC().Format("2006-01-02-15-04-05") + "\n#fields\t" + l[1] + "\n#types\t" + l[2] + "\n")
}

func zeekTrailer(end time.Time) []byte {
	return []byte("#close\t" + end.UTC().Format("2006-01-02-15-04-05") + "\n")
}
