package reload

import (
	"testing"
	"testing/synctest"
)

// synctestRun runs f in a synctest bubble: fake time, and a failure if a
// goroutine started inside is still blocked when f returns (a leak).
func synctestRun(t *testing.T, f func(*testing.T)) { synctest.Test(t, f) }

func syncWait() { synctest.Wait() }
