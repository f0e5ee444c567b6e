package csvlog

import "unsafe"

// b2s returns b as a string without copying, for reads that do not keep it.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b)) // #nosec G103 -- read only, not retained
}
