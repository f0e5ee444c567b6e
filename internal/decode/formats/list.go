package formats

import (
	"github.com/vigilsec/vigil/internal/decode"
)

// builtin is the one explicit list of decoders, in tie-break order: when two
// sniffers give a stream the same score, the one listed first wins.
func builtin() []decode.Format {
	var all []decode.Format
	for _, fs := range [][]decode.Format{} {
		all = append(all, fs...)
	}
	return all
}
