// This file validates the OpenAPI document and every route test's response
// against it with kin-openapi.

package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

var (
	docOnce   sync.Once
	docRouter routers.Router
	docErr    error
)

func loadDoc() (routers.Router, error) {
	docOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openAPIDoc)
		if err != nil {
			docErr = err
			return
		}
		if docErr = doc.Validate(context.Background()); docErr != nil {
			return
		}
		doc.Servers = nil // match the test server, wherever it listens
		docRouter, docErr = legacy.NewRouter(doc)
	})
	return docRouter, docErr
}

func init() {
	validateResponse = func(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
		t.Helper()
		router, err := loadDoc()
		if err != nil {
			t.Fatalf("loading the OpenAPI document: %v", err)
		}
		find := req
		if raw := req.URL.EscapedPath(); strings.Contains(strings.ToUpper(raw), "%2F") {
			// kin-openapi's router splits the unescaped path: route an
			// escaped slash in a path value as another character.
			find = req.Clone(req.Context())
			find.URL.Path = strings.NewReplacer("%2F", "_", "%2f", "_").Replace(raw)
			find.URL.RawPath = ""
		}
		route, params, err := router.FindRoute(find)
		if err != nil {
			t.Errorf("%s %s: no route in the OpenAPI document: %v", req.Method, req.URL.Path, err)
			return
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 status,
			Header:                 header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
			t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\n%s", req.Method, req.URL.String(), status, err, body[:min(len(body), 600)])
		}
	}
}

func TestOpenAPIDocumentValid(t *testing.T) {
	if _, err := loadDoc(); err != nil {
		t.Fatal(err)
	}
}
