//go:build !unix

package wal

import (
	"fmt"
	"os"
)

// lockDir creates dir/LOCK; without flock, nothing stops a second process.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir+"/LOCK", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	return f, nil
}

// syncDir is a no-op where directories cannot be opened for syncing.
func syncDir(string) error { return nil }
