package auth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Errors of the management methods; the HTTP handlers map them to status codes.
var (
	// ErrInvalid: a bad name, password, role, scope or expiry (400 bad_request).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no such user or token (404 not_found).
	ErrNotFound = errors.New("not found")
	// ErrExists: the user or token name is taken (409 conflict).
	ErrExists = errors.New("already exists")
	// ErrLastAdmin: the change would leave no admin (409 conflict).
	ErrLastAdmin = errors.New("would leave no admin")
	// ErrUnauthenticated: a request without valid credentials (401 unauthorized).
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Error codes of the REST API (docs: api-spec "Errors").
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeCSRF         = "csrf"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeRateLimited  = "rate_limited"
	CodeOverloaded   = "overloaded"
	CodeInternal     = "internal"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes the API's error document {"error":{"code":..,"message":..}}
// with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeManagementError maps a management method's error to the API's.
func writeManagementError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		WriteError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, ErrExists), errors.Is(err, ErrLastAdmin):
		WriteError(w, http.StatusConflict, CodeConflict, err.Error())
	default:
		WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
	}
}
