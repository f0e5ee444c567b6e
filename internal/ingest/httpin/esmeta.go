package httpin

import (
	"net/http"
	"strings"
)

// The answers shippers read at startup. Filebeat, Logstash and Vector read
// version.number from GET /; Elastic's clients check X-Elastic-Product.
const (
	esInfo = `{"name":"vigil","cluster_name":"vigil","cluster_uuid":"vigil-ingest","version":{"number":"` + esVersion +
		`","build_flavor":"default","build_type":"docker","lucene_version":"9.12.0",` +
		`"minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},` +
		`"tagline":"You Know, for Search"}` + "\n"
	esLicense = `{"license":{"status":"active","uid":"vigil-ingest","type":"basic","mode":"basic",` +
		`"issue_date_in_millis":0,"max_nodes":1000,"issued_to":"vigil","issuer":"vigil","start_date_in_millis":-1}}` + "\n"
	esXPack = `{"build":{"hash":"vigil","date":"2024-12-11T00:00:00Z"},` +
		`"license":{"uid":"vigil-ingest","type":"basic","mode":"basic","status":"active"},` +
		`"features":{"ilm":{"available":true,"enabled":true},"security":{"available":true,"enabled":true},` +
		`"monitoring":{"available":true,"enabled":true}},"tagline":"You know, for X"}` + "\n"
	esHealth = `{"cluster_name":"vigil","status":"green","timed_out":false,"number_of_nodes":1,` +
		`"number_of_data_nodes":1,"active_primary_shards":0,"active_shards":0,"relocating_shards":0,` +
		`"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,` +
		`"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}` + "\n"
	esNodes = `{"_nodes":{"total":1,"successful":1,"failed":0},"cluster_name":"vigil","nodes":{}}` + "\n"
	esAck   = `{"acknowledged":true}` + "\n"
)

// documentAPIs are the single-document endpoints: not served, so that a
// shipper using them is told instead of being acknowledged for nothing.
var documentAPIs = map[string]bool{
	"_doc": true, "_create": true, "_update": true,
	"_update_by_query": true, "_delete_by_query": true, "_reindex": true,
}

// serveESMeta answers every other request as an Elasticsearch cluster that
// accepts whatever setup a shipper does: GET / and HEAD / with the cluster
// info; GET /_license, /_xpack, /_cluster/health, /_nodes with minimal
// bodies; GET and HEAD of templates, ILM policies, ingest pipelines, data
// streams and indices with 200 ("it exists": shippers then skip creating
// it); PUT, POST and DELETE of them with {"acknowledged":true}. Document
// APIs (_doc, _create, _update, ...) are refused with 400: only _bulk takes
// documents.
func (h *Handler) serveESMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if _, ok := h.esAuth(w, r); !ok {
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if documentAPIs[s] {
			esError(w, http.StatusBadRequest, "illegal_argument_exception",
				"the document APIs are not supported by Vigil's ingest endpoint; send documents to /_bulk")
			return
		}
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !read && r.Method != http.MethodPut && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		esError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Incorrect HTTP method for uri [/"+path+"]")
		return
	}
	if r.Body != nil {
		// Templates and policies are small; what is sent is not kept.
		_, done, _ := h.readBody(w, r, epESMeta)
		done()
	}
	var body string
	switch {
	case !read:
		body = esAck
	case path == "":
		body = esInfo
	case path == "_license":
		body = esLicense
	case path == "_xpack":
		body = esXPack
	case strings.HasPrefix(path, "_cluster/health"):
		body = esHealth
	case path == "_nodes" || strings.HasPrefix(path, "_nodes/"):
		body = esNodes
	case strings.HasPrefix(path, "_cat/"):
		if r.URL.Query().Get("format") == "json" {
			body = "[]\n"
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			w.WriteHeader(http.StatusOK)
			return
		}
	case len(segs) == 2 && (segs[0] == "_index_template" || segs[0] == "_component_template"):
		key := "index_templates"
		if segs[0] == "_component_template" {
			key = "component_templates"
		}
		b := append([]byte(`{"`+key+`":[{"name":`), appendJSONString(nil, segs[1])...)
		b = append(b, `,"`+strings.TrimSuffix(key, "s")+`":{"index_patterns":[`...)
		b = appendJSONString(b, segs[1]+"*")
		b = append(b, "],\"composed_of\":[],\"template\":{}}}]}\n"...)
		body = string(b)
	case len(segs) >= 2 && segs[len(segs)-1] != "" && !strings.HasPrefix(segs[len(segs)-1], "_"):
		// GET /_ilm/policy/<name>, /_ingest/pipeline/<id>, /_data_stream/<name>,
		// /_template/<name>: an object keyed by the name, as Elasticsearch answers.
		b := append([]byte("{"), appendJSONString(nil, segs[len(segs)-1])...)
		b = append(b, ":{}}\n"...)
		body = string(b)
	default:
		body = "{}\n"
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, []byte(body))
}
