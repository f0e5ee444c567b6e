package formats

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/cloudtrail"
	"github.com/vigilsec/vigil/internal/decode/csvlog"
	"github.com/vigilsec/vigil/internal/decode/ecsjson"
	"github.com/vigilsec/vigil/internal/decode/entra"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/decode/journald"
	"github.com/vigilsec/vigil/internal/decode/k8saudit"
	"github.com/vigilsec/vigil/internal/decode/okta"
	"github.com/vigilsec/vigil/internal/decode/syslog"
	"github.com/vigilsec/vigil/internal/decode/weblog"
	"github.com/vigilsec/vigil/internal/decode/winevt"
	"github.com/vigilsec/vigil/internal/decode/zeek"
)

// builtin is the one explicit list of decoders, in tie-break order: when two
// sniffers give a stream the same score, the one listed first wins. Specific formats
// come first; the generic ones (ECS NDJSON, CSV) last.
func builtin() []decode.Format {
	var all []decode.Format
	for _, fs := range [][]decode.Format{
		evtx.Formats(),
		winevt.Formats(),
		zeek.Formats(),
		syslog.Formats(),
		journald.Formats(),
		k8saudit.Formats(),
		cloudtrail.Formats(),
		okta.Formats(),
		entra.Formats(),
		weblog.Formats(),
		ecsjson.Formats(),
		csvlog.Formats(),
	} {
		all = append(all, fs...)
	}
	return all
}
