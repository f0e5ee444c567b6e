// Package httpin serves Vigil's HTTP ingest endpoints, so that Fluent Bit,
// Vector, Filebeat / Elastic Agent, Logstash and Splunk forwarders can send
// to Vigil unchanged. A Handler serves a dedicated ingest listener (not the
// console's) and owns every path on it, "/" included.
//
// # Endpoints
//
//	POST /ingest/ndjson[?format=<id>&source=<name>]   one record per line
//	POST /services/collector[/event[/1.0]]             Splunk HEC events
//	POST /services/collector/raw[/1.0]                 Splunk HEC raw lines
//	GET|POST /services/collector/health[/1.0]          HEC health, no token
//	POST /services/collector/ack                       answered "ACK is disabled"
//	POST|PUT /_bulk, /{index}/_bulk                    Elasticsearch bulk
//	anything else                                      Elasticsearch setup probes
//
// # Authentication
//
// Every endpoint but the HEC health check needs an ingest token, checked by
// Options.Tokens. The Authorization header may carry it as "Bearer <token>",
// "Splunk <token>", "Basic base64(user:token)" (the password is the token,
// the user is ignored) or "ApiKey base64(id:token)" (the key is the token),
// on any endpoint. The token's name, never the token, goes into
// Record.Source. Refusals: NDJSON 401; HEC code 2 "Token is required" (401),
// 3 "Invalid authorization" (401, an unreadable header) or 4 "Invalid token"
// (403); Elasticsearch 401 security_exception.
//
// # Bodies
//
// Content-Encoding gzip is decompressed; other encodings are answered 415.
// A body larger than Options.MaxBody (default 16 MiB) before or after
// decompression is answered 413, a corrupt gzip stream 400; nothing of such a
// request is stored. Records are raw: Data is one line or one JSON document,
// decoded downstream by the same decoders as vigil hunt; Format is "" unless
// the request names it, and the stream then detects it from the content.
//
// NDJSON: every non-blank line ("\n" or "\r\n"; a line of spaces and tabs is
// blank) is a record, whatever it holds (JSON, syslog, CSV: a bad one is
// counted by the decoder). Source "http:<token name>[:<source>]", Format
// from ?format= ([a-z0-9-]{1,40}; source: [A-Za-z0-9._-]{1,64}). A line over
// Options.MaxRecord (default 1 MiB) or not valid UTF-8 is rejected alone; the
// answer is 200 {"accepted":N,"rejected":M,"errors":[{"line":L,"reason":
// "too_large"|"invalid_utf8","detail":".."}, ...the first 10]}.
//
// Splunk HEC events: JSON objects, concatenated or separated by whitespace,
// each with "event". A string event is the record's Data as is (a raw log
// line); an object (or array, number) event is its JSON text, unaltered but
// for insignificant whitespace: HEC's host, source, time, index and fields
// are not merged into it and are not kept. "sourcetype" (or ?sourcetype=)
// chooses the Format through a small table: aws:cloudtrail -> cloudtrail;
// access_combined, access_combined_wcookie, access_common -> access-log;
// OktaIM2:log -> okta; everything else, "_json", "syslog", "linux_secure",
// "WinEventLog:*" and "XmlWinEventLog:*" among them -> "" (detected). Source
// "hec:<token name>". Answers: 200 {"text":"Success","code":0}; 400 code 5
// "No data"; 400 code 6 "Invalid data format" (not a JSON object, or an
// event over MaxRecord), 12 "Event field is required" or 13 "Event field
// cannot be blank" (missing, null, "", {} or []), each with
// "invalid-event-number" (0-based). As Splunk does, the events before the
// invalid one are stored. Raw: each non-blank line is a record with the
// Format of ?sourcetype=; the channel (X-Splunk-Request-Channel header or
// ?channel=) is accepted and not needed; lines over MaxRecord or not UTF-8
// are dropped and counted in vigil_ingest_http_rejected_total.
//
// Elasticsearch _bulk: action/metadata lines, each followed by its source
// line except delete's. index and create take the source line verbatim as a
// record; update takes its "doc" object as a new document (script and
// upsert-only updates are refused per item); delete is refused per item
// (status 400: Vigil is append-only). Source "bulk:<token name>:<index>",
// the index from the action's _index or the URL. An item whose index is
// missing or invalid, whose document is not a JSON object in valid UTF-8
// (mapper_parsing_exception) or is over MaxRecord fails alone with status
// 400 and an error, and "errors":true; the others are stored, answered
// status 201 "created" (200 "updated" for update) with their _id, generated
// (20 characters) when the action names none. A malformed action line fails
// the whole request with 400, as in Elasticsearch.
//
// Setup probes, so that shippers start: GET and HEAD / answer the cluster
// info (version 8.17.0, build_flavor default); GET /_license, /_xpack,
// /_cluster/health, /_nodes, /_cat/* answer minimal bodies; GET and HEAD of
// templates, ILM policies, ingest pipelines and data streams answer 200 (so
// shippers consider them installed), PUT/POST/DELETE {"acknowledged":true}.
// The single-document APIs (_doc, _create, _update, ...) answer 400. Every
// Elasticsearch answer carries X-Elastic-Product: Elasticsearch.
//
// # Acknowledgement and backpressure
//
// All the records of a request go to one Options.Appender.Append call, and
// the request is answered 2xx only after it returned nil: at-least-once, a
// retried request may store its records twice. When Append fails with
// ingest.ErrOverloaded, nothing of the request is acknowledged: NDJSON 429
// and _bulk 429 es_rejected_execution_exception, HEC 503 code 9 "Server is
// busy", all with Retry-After (seconds, ingest.RetryAfter). Other Append
// failures answer 503 (HEC: 500 code 8 "Internal server error"), never
// success.
//
// # Not supported
//
// HEC indexer acknowledgement (useACK): requests are answered as Splunk
// answers when a token has it off (no ackId; /services/collector/ack is
// answered 400 code 14 "ACK is disabled"); Vector's splunk_hec_logs sink then
// takes the 200 as delivery. HEC's query-string token, metrics events and
// indexed fields; Elasticsearch's search, single-document and update-by-query
// APIs; compressions other than gzip.
//
// # Metrics
//
// vigil_ingest_http_requests_total{endpoint,code},
// vigil_ingest_http_records_total{endpoint} (stored),
// vigil_ingest_http_rejected_total{endpoint,reason},
// vigil_ingest_http_bytes_total{endpoint} (after decompression) and
// vigil_ingest_http_request_duration_seconds{endpoint}. Endpoints: ndjson,
// hec_event, hec_raw, hec_health, hec_ack, bulk, es_meta. Nothing is ever
// logged of a token or a body.
package httpin
