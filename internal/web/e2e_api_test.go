//go:build !webdev

package web

import (
	"net/http"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/store"
)

// apiRoutes registers internal/api's routes on mux.
func apiRoutes(mux *http.ServeMux, st store.Store, svc *auth.Service) error {
	_, _, _ = mux, st, svc
	return errAPIMissing
}

func feedbackOn(id string) store.FeedbackQuery {
	return store.FeedbackQuery{TargetKind: store.TargetIncident, TargetID: id}
}
