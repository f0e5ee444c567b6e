// Package api is the REST API of `vigil serve` (/api/v1/...): incidents and
// their triage, signals, entities, evidence, verdicts, rules, the outbox and the
// audit log, as JSON. The route contract is the OpenAPI document embedded in
// openapi.json (served at /api/v1/openapi.json) and docs/API.md.
//
// Authentication is not this package's: every route is wrapped by an
// Authorizer (internal/auth's Service) that authenticates the request, enforces
// the route's minimum role (and CSRF on unsafe methods) and puts the
// auth.Principal in the request's context. The login, session, user and token
// routes belong to internal/auth.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/explain"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/triage"
)

// Authorizer guards routes: Require returns middleware that lets a request
// through only when it is authenticated with at least role min, with the
// auth.Principal in its context; otherwise it answers 401/403 itself.
type Authorizer interface {
	Require(min auth.Role) func(http.Handler) http.Handler
}

// RuleInfo is one detection rule as GET /api/v1/rules lists it.
type RuleInfo struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Level     string   `json:"level,omitempty"`
	Status    string   `json:"status,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Detector  string   `json:"detector"`
	Logsource string   `json:"logsource,omitempty"`
}

// RuleCatalog lists the loaded rules. Rules is called per request and must be
// safe for concurrent use; the slice is not modified.
type RuleCatalog interface {
	Rules() []RuleInfo
}

// Options configures New.
type Options struct {
	Store store.Store // required
	Auth  Authorizer  // required
	Rules RuleCatalog // optional: no rules listed without it
	// Context is what the business knows of entities (criticality,
	// privileged), for explanations and entity profiles; nil: nothing.
	Context explain.Context
	// Playbooks give incidents' next steps; nil: the built-in ones.
	Playbooks *triage.Playbooks
	// Status returns extra JSON for GET /api/v1/status under "ingest"
	// (backlog, rates); nil: none.
	Status func() any
	// Cluster returns GET /api/v1/cluster: the cluster as its bus shows it
	// (members, partition owners, backlog); nil: this node is not in a
	// cluster (404).
	Cluster func(context.Context) (any, error)
	// StoreName is what /api/v1/status reports as the store; empty: "sqlite".
	StoreName string
	Version   string
	// Now is the wall clock of audit entries and verdicts; nil: time.Now.
	Now        func() time.Time
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: no metrics
}

// Validate checks the required options.
func (o *Options) Validate() error {
	if o.Store == nil {
		return errors.New("api: no store")
	}
	if o.Auth == nil {
		return errors.New("api: no authorizer")
	}
	return nil
}

// API serves the routes. Build it with New.
type API struct {
	st        store.Store
	authz     Authorizer
	rules     RuleCatalog
	context   explain.Context
	playbooks *triage.Playbooks
	verdicts  *triage.VerdictModel
	status    func() any
	cluster   func(context.Context) (any, error)
	storeName string
	version   string
	now       func() time.Time
	log       *slog.Logger
	metrics   *metrics
}

// New checks opts and loads what the routes need (the built-in playbooks and
// verdict model).
func New(opts Options) (*API, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := &API{st: opts.Store, authz: opts.Auth, rules: opts.Rules, context: opts.Context, playbooks: opts.Playbooks,
		status: opts.Status, cluster: opts.Cluster, storeName: opts.StoreName, version: opts.Version, now: opts.Now, log: opts.Logger}
	if a.playbooks == nil {
		ps, err := triage.BuiltinPlaybooks()
		if err != nil {
			return nil, err
		}
		a.playbooks = ps
	}
	vm, err := triage.BuiltinVerdictModel()
	if err != nil {
		return nil, err
	}
	a.verdicts = vm
	if a.storeName == "" {
		a.storeName = "sqlite"
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	return a, nil
}

// route is one API route: its Go 1.22 pattern, the minimum role and the handler.
type route struct {
	method, path string
	role         auth.Role
	handle       func(w http.ResponseWriter, r *http.Request) error
}

// routes is the one list of the API's routes (the OpenAPI document lists the
// same; a test checks both ways).
func (a *API) routes() []route {
	return []route{
		{http.MethodGet, "/api/v1/incidents", auth.RoleViewer, a.listIncidents},
		{http.MethodGet, "/api/v1/incidents/{id}", auth.RoleViewer, a.getIncident},
		{http.MethodPatch, "/api/v1/incidents/{id}", auth.RoleAnalyst, a.patchIncident},
		{http.MethodGet, "/api/v1/incidents/{id}/evidence", auth.RoleViewer, a.incidentEvidence},
		{http.MethodGet, "/api/v1/incidents/{id}/graph", auth.RoleViewer, a.incidentGraph},
		{http.MethodGet, "/api/v1/signals", auth.RoleViewer, a.listSignals},
		{http.MethodGet, "/api/v1/signals/{id}", auth.RoleViewer, a.getSignal},
		{http.MethodGet, "/api/v1/entities/{kind}/{value}", auth.RoleViewer, a.getEntity},
		{http.MethodGet, "/api/v1/entities/{kind}/{value}/timeline", auth.RoleViewer, a.entityTimeline},
		{http.MethodGet, "/api/v1/events", auth.RoleViewer, a.getEvents},
		{http.MethodGet, "/api/v1/feedback", auth.RoleViewer, a.listFeedback},
		{http.MethodPost, "/api/v1/feedback", auth.RoleAnalyst, a.postFeedback},
		{http.MethodGet, "/api/v1/suppressions", auth.RoleViewer, a.listSuppressions},
		{http.MethodGet, "/api/v1/rules", auth.RoleViewer, a.listRules},
		{http.MethodGet, "/api/v1/outbox", auth.RoleViewer, a.listOutbox},
		{http.MethodGet, "/api/v1/audit", auth.RoleAdmin, a.listAudit},
		{http.MethodGet, "/api/v1/status", auth.RoleViewer, a.getStatus},
		{http.MethodGet, "/api/v1/cluster", auth.RoleViewer, a.getCluster},
		{http.MethodGet, "/api/v1/openapi.json", auth.RoleViewer, a.getOpenAPI},
	}
}

// Routes registers every route on mux (method patterns, Go 1.22), each behind
// its role.
func (a *API) Routes(mux *http.ServeMux) {
	for _, rt := range a.routes() {
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, a.authz.Require(rt.role)(a.wrap(pattern, rt.handle)))
	}
}
