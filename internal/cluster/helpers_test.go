package cluster

import (
	"log/slog"
	"sync/atomic"
)

type atomicCounter struct{ n atomic.Int64 }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
