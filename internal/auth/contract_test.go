package auth

import "github.com/vigilsec/vigil/internal/ingest/httpin"

// The ingest listener checks its tokens through Service.
var _ httpin.TokenChecker = (*Service)(nil)
