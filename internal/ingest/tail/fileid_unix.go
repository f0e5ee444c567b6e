//go:build unix

package tail

import (
	"os"
	"syscall"
)

// identity returns the device and inode of fi.
func identity(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // Dev and Ino types differ between platforms
	}
	return fileID{}
}
