package httpin

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/ingest"
)

// What the Elasticsearch endpoints follow (all as documented by their
// projects; see doc.go for the list of answers):
//   - Elasticsearch's Bulk API reference: NDJSON action/metadata lines
//     (index, create, update, delete) each followed by a source line except
//     delete; a malformed action line fails the whole request with 400; item
//     failures are reported per item with "errors":true.
//   - Fluent Bit's out_es (plugins/out_es/es_bulk.h): action lines
//     {"<op>":{"_index":"..","_type":".."}} or without _type
//     (Suppress_Type_Name On), op "index" by default, "create", and
//     "update"/"upsert" with source {"doc":..} / {"doc_as_upsert":true,"doc":..};
//     it POSTs to <Path>/_bulk, gzip when compress is set.
//   - Vector's elasticsearch sink: GET / for the version (api_version auto),
//     GET /_cluster/health as its healthcheck, POST /_bulk with
//     {"index":{"_index":..}} (mode bulk) or {"create":{"_index":..}} (data_stream).
//   - Filebeat 8 / Elastic Agent: GET / (version), template and ILM checks
//     (HEAD/GET then PUT /_index_template/<name>, GET/PUT /_ilm/policy/<name>),
//     GET /_license, then POST /_bulk with {"create":{"_index":"filebeat-8.x"}}.
//   - Logstash's elasticsearch output: GET /, GET /_license, template and ILM
//     checks, POST /_bulk with index or create actions.

// esVersion is the Elasticsearch version the endpoints claim: shippers pick
// their bulk dialect (no _type, data streams) from it.
const esVersion = "8.17.0"

// bulkItem outcome categories, for metrics.
const (
	reasonTooLarge     = "too_large"
	reasonBadDocument  = "invalid_document"
	reasonBadIndex     = "invalid_index"
	reasonUnsupported  = "unsupported_action"
	reasonInvalidUTF8  = "invalid_utf8"
	reasonMissingIndex = "missing_index"
)

// esFatal is a _bulk body rejected whole, answered 400.
type esFatal struct {
	Type, Reason string
}

// bulkResult is what parseBulk made of a body.
type bulkResult struct {
	recs     []ingest.Record
	items    []byte // the response's item objects, comma-separated
	nItems   int
	failed   bool           // some item failed ("errors":true)
	rejected map[string]int // reason -> items
}

// bulkParser reads one _bulk body.
type bulkParser struct {
	p            *fastjson.Parser
	defaultIndex string
	maxRecord    int
	sourcePrefix string // "bulk:<token name>:"
	now          time.Time
	newID        func(dst []byte) []byte

	lastIndex, lastSource string
	idBuf                 []byte // the current item's _id
}

// parse reads body: action/metadata lines, each but delete followed by its
// source line; blank lines between items are skipped. index and create
// take their source line as the record (verbatim); update takes its "doc"
// object (compacted) and rejects script or upsert-only updates; delete is
// rejected (Vigil is append-only). Records point into body.
func (bp *bulkParser) parse(body []byte) (bulkResult, *esFatal) {
	res := bulkResult{
		recs:  make([]ingest.Record, 0, bytes.Count(body, []byte{'\n'})/2+1),
		items: make([]byte, 0, bytes.Count(body, []byte{'\n'})/2*128+64),
	}
	lineNo := 0
	next := func() ([]byte, bool) {
		if len(body) == 0 {
			return nil, false
		}
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		lineNo++
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		if blank(line) {
			continue
		}
		actionLine := lineNo
		op, index, id, fatal := bp.action(line, actionLine)
		if fatal != nil {
			return bulkResult{}, fatal
		}
		var src []byte
		if op != "delete" {
			if src, ok = next(); !ok {
				return bulkResult{}, &esFatal{"illegal_argument_exception",
					fmt.Sprintf("action/metadata line [%d] has no source line after it", actionLine)}
			}
		}
		if len(id) == 0 {
			bp.idBuf = bp.newID(bp.idBuf[:0])
			id = bp.idBuf
		}
		fail := func(reason, typ, msg string) {
			res.failed = true
			if res.rejected == nil {
				res.rejected = make(map[string]int, 2)
			}
			res.rejected[reason]++
			res.appendItem(op, index, id, 400, "", typ, msg)
		}
		switch {
		case op == "delete":
			fail(reasonUnsupported, "illegal_argument_exception", "delete is not supported: Vigil keeps logs append-only")
			continue
		case index == "":
			fail(reasonMissingIndex, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
			continue
		case !validIndex(index):
			fail(reasonBadIndex, "invalid_index_name_exception", "Invalid index name ["+strings.ToValidUTF8(index, "\uFFFD")+"]")
			continue
		}
		doc := bytes.TrimSpace(src)
		if op == "update" {
			v, err := bp.p.ParseBytes(src)
			var d *fastjson.Value
			if err == nil {
				d = v.Get("doc")
			}
			if d == nil || d.Type() != fastjson.TypeObject {
				fail(reasonUnsupported, "action_request_validation_exception",
					"only partial-document updates ({\"doc\":{..}}) are accepted; their doc is taken as a new document")
				continue
			}
			doc = d.MarshalTo(nil)
		}
		if len(doc) > bp.maxRecord {
			fail(reasonTooLarge, "illegal_argument_exception",
				fmt.Sprintf("document of %d bytes is over the record limit of %d bytes", len(doc), bp.maxRecord))
			continue
		}
		if reason, msg := checkDocument(doc); reason != "" {
			fail(reason, "mapper_parsing_exception", msg)
			continue
		}
		if index != bp.lastIndex || bp.lastSource == "" {
			bp.lastSource = bp.sourcePrefix + index
		}
		bp.lastIndex = index
		res.recs = append(res.recs, ingest.Record{Source: bp.lastSource, Data: doc[:len(doc):len(doc)], Received: bp.now})
		result, status := "created", 201
		if op == "update" {
			result, status = "updated", 200
		}
		res.appendItem(op, index, id, status, result, "", "")
	}
	return res, nil
}

// action reads an action/metadata line.
// index reuses the previous item's string when equal (no allocation in the
// common case of one index per request); id points into bp.idBuf.
func (bp *bulkParser) action(line []byte, lineNo int) (op, index string, id []byte, fatal *esFatal) {
	malformed := func(what string) *esFatal {
		return &esFatal{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], %s", lineNo, what)}
	}
	if fop, fIndex, fID, hasIndex, ok := fastAction(line); ok {
		op, index = fop, bp.defaultIndex
		if hasIndex {
			if string(fIndex) == bp.lastIndex {
				index = bp.lastIndex
			} else {
				index = string(fIndex)
			}
		}
		if fID != nil {
			bp.idBuf = append(bp.idBuf[:0], fID...)
			id = bp.idBuf
		}
		if len(id) > 512 {
			return "", "", nil, malformed("_id is longer than 512 bytes")
		}
		return op, index, id, nil
	}
	return bp.slowAction(line, lineNo)
}

// slowAction reads an action line with the JSON parser.
func (bp *bulkParser) slowAction(line []byte, lineNo int) (op, index string, id []byte, fatal *esFatal) {
	malformed := func(what string) *esFatal {
		return &esFatal{"illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], %s", lineNo, what)}
	}
	v, err := bp.p.ParseBytes(line)
	if err != nil {
		return "", "", nil, malformed("expected a JSON object")
	}
	o, err := v.Object()
	if err != nil {
		return "", "", nil, malformed("expected START_OBJECT but found [" + v.Type().String() + "]")
	}
	if o.Len() != 1 {
		return "", "", nil, malformed("expected exactly one action field")
	}
	var meta *fastjson.Value
	o.Visit(func(k []byte, m *fastjson.Value) {
		switch string(k) {
		case "index":
			op = "index"
		case "create":
			op = "create"
		case "update":
			op = "update"
		case "delete":
			op = "delete"
		default:
			op = ""
		}
		meta = m
	})
	if op == "" {
		return "", "", nil, malformed("expected field [create], [delete], [index] or [update]")
	}
	mo, err := meta.Object()
	if err != nil {
		return "", "", nil, malformed("expected START_OBJECT for the " + op + " metadata")
	}
	index = bp.defaultIndex
	mo.Visit(func(k []byte, m *fastjson.Value) {
		switch string(k) {
		case "_index":
			if s, err := m.StringBytes(); err == nil {
				if string(s) == bp.lastIndex {
					index = bp.lastIndex
				} else {
					index = string(s)
				}
			}
		case "_id":
			switch m.Type() {
			case fastjson.TypeString:
				s, _ := m.StringBytes()
				bp.idBuf = append(bp.idBuf[:0], s...)
				id = bp.idBuf
			case fastjson.TypeNumber:
				bp.idBuf = m.MarshalTo(bp.idBuf[:0])
				id = bp.idBuf
			}
		}
	})
	if len(id) > 512 {
		return "", "", nil, malformed("_id is longer than 512 bytes")
	}
	return op, index, id, nil
}

// fastAction reads the action lines shippers write, without a parser:
// {"<op>":{"<key>":"<value>",...}} with no whitespace, no escapes and
// string values only. ok is false for anything else, which the parser then
// reads (FuzzBulk checks both agree).
func fastAction(line []byte) (op string, index, id []byte, hasIndex, ok bool) {
	if len(line) < 2 || line[0] != '{' || line[1] != '"' {
		return "", nil, nil, false, false
	}
	rest := line[2:]
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return "", nil, nil, false, false
	}
	switch string(rest[:i]) {
	case "index":
		op = "index"
	case "create":
		op = "create"
	case "update":
		op = "update"
	case "delete":
		op = "delete"
	default:
		return "", nil, nil, false, false
	}
	rest = rest[i+1:]
	if len(rest) < 2 || rest[0] != ':' || rest[1] != '{' {
		return "", nil, nil, false, false
	}
	rest = rest[2:]
	if string(rest) == "}}" {
		return op, nil, nil, false, true
	}
	for {
		if len(rest) == 0 || rest[0] != '"' {
			return "", nil, nil, false, false
		}
		rest = rest[1:]
		k := bytes.IndexByte(rest, '"')
		if k < 0 || len(rest) < k+3 || rest[k+1] != ':' || rest[k+2] != '"' {
			return "", nil, nil, false, false
		}
		key := rest[:k]
		rest = rest[k+3:]
		v := bytes.IndexByte(rest, '"')
		if v < 0 {
			return "", nil, nil, false, false
		}
		val := rest[:v]
		rest = rest[v+1:]
		if bytes.IndexByte(key, '\\') >= 0 || bytes.IndexByte(val, '\\') >= 0 {
			return "", nil, nil, false, false
		}
		switch string(key) {
		case "_index":
			index, hasIndex = val, true
		case "_id":
			id = val
		}
		if len(rest) > 0 && rest[0] == ',' {
			rest = rest[1:]
			continue
		}
		if string(rest) == "}}" {
			return op, index, id, hasIndex, true
		}
		return "", nil, nil, false, false
	}
}

// checkDocument returns why doc is not a document ("" when it is): a JSON
// object in valid UTF-8.
func checkDocument(doc []byte) (reason, msg string) {
	i := skipSpace(doc, 0)
	if i == len(doc) {
		return reasonBadDocument, "failed to parse: document is empty"
	}
	if doc[i] != '{' {
		return reasonBadDocument, "failed to parse: the document is not a JSON object"
	}
	if err := fastjson.ValidateBytes(doc); err != nil {
		return reasonBadDocument, "failed to parse: the document is not valid JSON"
	}
	if !utf8.Valid(doc) {
		return reasonInvalidUTF8, "failed to parse: the document is not valid UTF-8"
	}
	return "", ""
}

// appendItem adds one item to the response.
func (res *bulkResult) appendItem(op, index string, id []byte, status int, result, errType, reason string) {
	b := res.items
	if res.nItems > 0 {
		b = append(b, ',')
	}
	res.nItems++
	b = append(b, `{"`...)
	b = append(b, op...)
	b = append(b, `":{"_index":`...)
	b = appendJSONString(b, index)
	b = append(b, `,"_id":`...)
	b = appendJSONBytes(b, id)
	if result != "" {
		b = append(b, `,"_version":1,"result":"`...)
		b = append(b, result...)
		b = append(b, '"')
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if errType != "" {
		b = append(b, `,"error":{"type":"`...)
		b = append(b, errType...)
		b = append(b, `","reason":`...)
		b = appendJSONString(b, reason)
		b = append(b, '}')
	}
	res.items = append(b, "}}"...)
}

// validIndex follows Elasticsearch's index name rules: 1 to 255 bytes,
// lowercase, none of \ / * ? " < > | , # : or space, not starting with - _ +,
// not "." or "..".
func validIndex(s string) bool {
	if len(s) == 0 || len(s) > 255 || s == "." || s == ".." {
		return false
	}
	switch s[0] {
	case '-', '_', '+':
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c < 0x20 || c == 0x7f || strings.IndexByte(`\/*?"<>|,#: `, c) >= 0 {
			return false
		}
	}
	return utf8.ValidString(s)
}

// newID appends a 20-character document id, unique per handler.
func (h *Handler) newID(dst []byte) []byte {
	var raw [15]byte
	copy(raw[:7], h.idPrefix[:])
	binary.BigEndian.PutUint64(raw[7:], h.idSeq.Add(1))
	return base64.RawURLEncoding.AppendEncode(dst, raw[:])
}

func (h *Handler) serveBulk(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Now()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		esError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Incorrect HTTP method for uri ["+r.URL.Path+"], allowed: [POST, PUT]")
		return
	}
	name, ok := h.esAuth(w, r)
	if !ok {
		return
	}
	var defaultIndex string
	if p := strings.TrimPrefix(r.URL.Path, "/"); p != "_bulk" {
		defaultIndex = strings.TrimSuffix(p, "/_bulk")
		if !validIndex(defaultIndex) {
			esError(w, http.StatusBadRequest, "invalid_index_name_exception", "Invalid index name ["+defaultIndex+"]")
			return
		}
	}
	body, done, err := h.readBody(w, r, epBulk)
	defer done()
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			typ := "parse_exception"
			if be.status == http.StatusRequestEntityTooLarge {
				typ = "content_too_long_exception"
			}
			esError(w, be.status, typ, be.reason)
		}
		return
	}
	p := h.parsers.Get()
	bp := bulkParser{p: p, defaultIndex: defaultIndex, maxRecord: h.opts.MaxRecord,
		sourcePrefix: "bulk:" + name + ":", now: start, newID: h.newID}
	res, fatal := bp.parse(body)
	h.parsers.Put(p)
	if fatal != nil {
		h.m.rejected.WithLabelValues(epBulk, "malformed_request").Inc()
		esError(w, http.StatusBadRequest, fatal.Type, fatal.Reason)
		return
	}
	for reason, n := range res.rejected {
		h.m.rejected.WithLabelValues(epBulk, reason).Add(float64(n))
	}
	if err := h.appendRecords(r.Context(), epBulk, res.recs); err != nil {
		if errors.Is(err, ingest.ErrOverloaded) {
			retryAfter(w, err)
			esError(w, http.StatusTooManyRequests, "es_rejected_execution_exception",
				"rejected execution of bulk request: ingest is overloaded; retry later")
			return
		}
		esError(w, http.StatusServiceUnavailable, "unavailable_shards_exception", "documents could not be stored; retry later")
		return
	}
	head := make([]byte, 0, 64)
	head = append(head, `{"took":`...)
	head = strconv.AppendInt(head, h.opts.Now().Sub(start).Milliseconds(), 10)
	head = append(head, `,"errors":`...)
	head = strconv.AppendBool(head, res.failed)
	head = append(head, `,"items":[`...)
	writeJSON(w, http.StatusOK, head, res.items, []byte("]}\n"))
}

// esAuth authenticates an Elasticsearch-style request, answering 401 in
// Elasticsearch's shape when it fails.
func (h *Handler) esAuth(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, aerr := h.authenticate(r)
	switch aerr {
	case authOK:
		return name, true
	case authMissing:
		w.Header().Set("WWW-Authenticate", `Basic realm="vigil", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
		w.Header().Add("WWW-Authenticate", `Bearer realm="vigil"`)
		esError(w, http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request ["+r.URL.Path+"]")
	default:
		w.Header().Set("WWW-Authenticate", `Basic realm="vigil", charset="UTF-8"`)
		esError(w, http.StatusUnauthorized, "security_exception", "unable to authenticate with provided credentials")
	}
	return "", false
}

// esError answers in Elasticsearch's error shape.
func esError(w http.ResponseWriter, status int, typ, reason string) {
	cause := append([]byte(`{"type":`), appendJSONString(nil, typ)...)
	cause = append(cause, `,"reason":`...)
	cause = appendJSONString(cause, reason)
	cause = append(cause, '}')
	out := append([]byte(`{"error":{"root_cause":[`), cause...)
	out = append(out, `],"type":`...)
	out = appendJSONString(out, typ)
	out = append(out, `,"reason":`...)
	out = appendJSONString(out, reason)
	out = append(out, `},"status":`...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, "}\n"...)
	writeJSON(w, status, out)
}
