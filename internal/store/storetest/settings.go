package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
)

// sameSetting checks that got is want, comparing Data by content (empty data
// may come back nil or empty) and Updated as an instant in UTC.
func sameSetting(t *testing.T, what string, got, want store.Setting) {
	t.Helper()
	if got.Name != want.Name || got.Revision != want.Revision || !bytes.Equal(got.Data, want.Data) || !got.Updated.Equal(want.Updated) {
		t.Errorf("%s: got %s revision %d, %d bytes, updated %s; want %s revision %d, %d bytes, updated %s", what,
			got.Name, got.Revision, len(got.Data), got.Updated.Format(time.RFC3339Nano),
			want.Name, want.Revision, len(want.Data), want.Updated.Format(time.RFC3339Nano))
	}
	inUTC(t, what+" updated", got.Updated)
}

// testSettingRevisions walks one setting through its revisions: create, a
// second create, an update, a stale update, and the reads in between.
func (h harness) testSettingRevisions(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	const name = "auth/users"

	_, err := s.GetSetting(ctx, name)
	wantErr(t, err, store.ErrNotFound, "GetSetting before any write")

	before := time.Now()
	v1, err := s.PutSetting(ctx, name, []byte(`{"users":["alice"]}`), 0)
	must(t, err)
	after := time.Now()
	if v1.Name != name || v1.Revision != 1 || string(v1.Data) != `{"users":["alice"]}` {
		t.Errorf("first write returned %s revision %d data %q, want %s revision 1", v1.Name, v1.Revision, v1.Data, name)
	}
	// Updated is the wall clock of the write (allowing for a clock that
	// keeps microseconds only).
	if v1.Updated.Before(before.Truncate(time.Microsecond)) || v1.Updated.After(after) {
		t.Errorf("first write updated %s, want between %s and %s", v1.Updated, before, after)
	}
	got, err := s.GetSetting(ctx, name)
	must(t, err)
	sameSetting(t, "after the first write", got, v1)

	_, err = s.PutSetting(ctx, name, []byte("second create"), 0)
	wantErr(t, err, store.ErrConflict, "creating a stored setting again")

	v2, err := s.PutSetting(ctx, name, []byte(`{"users":["alice","bob"]}`), 1)
	must(t, err)
	if v2.Revision != 2 || string(v2.Data) != `{"users":["alice","bob"]}` || v2.Updated.Before(v1.Updated) {
		t.Errorf("second write returned revision %d data %q updated %s, want revision 2, updated from %s", v2.Revision, v2.Data, v2.Updated, v1.Updated)
	}
	for _, stale := range []int64{1, 3, 100} { // behind, and ahead of, the stored revision
		_, err = s.PutSetting(ctx, name, []byte("lost"), stale)
		wantErr(t, err, store.ErrConflict, fmt.Sprintf("writing over revision %d when 2 is stored", stale))
	}
	got, err = s.GetSetting(ctx, name)
	must(t, err)
	sameSetting(t, "after conflicting writes", got, v2)

	// An update of a setting never stored conflicts (its revision is 0).
	_, err = s.PutSetting(ctx, "never-stored", []byte("x"), 1)
	wantErr(t, err, store.ErrConflict, "updating a setting never stored")
	_, err = s.GetSetting(ctx, "never-stored")
	wantErr(t, err, store.ErrNotFound, "GetSetting after a conflicting update")

	// Empty data: nil and empty are the same value.
	e1, err := s.PutSetting(ctx, "empty", nil, 0)
	must(t, err)
	e2, err := s.PutSetting(ctx, "empty", []byte{}, e1.Revision)
	must(t, err)
	got, err = s.GetSetting(ctx, "empty")
	must(t, err)
	sameSetting(t, "empty setting", got, e2)
	if len(got.Data) != 0 || e2.Revision != 2 {
		t.Errorf("empty setting read back with %d bytes, revision %d", len(got.Data), e2.Revision)
	}

	// Names are exact: case, spaces and non-ASCII letters make other settings.
	// (A NUL, valid UTF-8, is left out: PostgreSQL text cannot hold it.)
	names := []string{"Auth/Users", "auth/users ", "ключ/сессии", strings.Repeat("é", store.MaxSettingName/2)}
	for i, n := range names {
		st, err := s.PutSetting(ctx, n, []byte(strconv.Itoa(i)), 0)
		must(t, err)
		got, err := s.GetSetting(ctx, n)
		must(t, err)
		sameSetting(t, "setting "+strconv.Quote(n), got, st)
	}
	got, err = s.GetSetting(ctx, name)
	must(t, err)
	sameSetting(t, "after writing similar names", got, v2)
}

// testSettingInvalid checks PutSetting's arguments; a name that cannot be
// stored is never found.
func (h harness) testSettingInvalid(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	for _, tt := range []struct {
		what string
		name string
		data []byte
		prev int64
	}{
		{"empty name", "", []byte("x"), 0},
		{"name of MaxSettingName+1 bytes", strings.Repeat("n", store.MaxSettingName+1), []byte("x"), 0},
		{"name of MaxSettingName+1 bytes, multibyte", strings.Repeat("é", store.MaxSettingName/2) + "x", []byte("x"), 0},
		{"name not valid UTF-8", "\xff", []byte("x"), 0},
		{"name with invalid UTF-8 inside", "auth/\xc3(", []byte("x"), 0},
		{"data of MaxSettingSize+1 bytes", "big", make([]byte, store.MaxSettingSize+1), 0},
		{"negative revision", "neg", []byte("x"), -1},
	} {
		_, err := s.PutSetting(ctx, tt.name, tt.data, tt.prev)
		wantErr(t, err, store.ErrInvalid, "PutSetting with "+tt.what)
		if tt.name != "" {
			_, err = s.GetSetting(ctx, tt.name)
			wantErr(t, err, store.ErrNotFound, "GetSetting after PutSetting with "+tt.what)
		}
	}
	for _, name := range []string{"", "\xff", strings.Repeat("n", store.MaxSettingName+1)} {
		_, err := s.GetSetting(ctx, name)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetSetting(%q)", name))
	}
	// A failed write leaves a stored setting as it was.
	v1, err := s.PutSetting(ctx, "kept", []byte("v1"), 0)
	must(t, err)
	_, err = s.PutSetting(ctx, "kept", make([]byte, store.MaxSettingSize+1), 1)
	wantErr(t, err, store.ErrInvalid, "PutSetting of too much data over a stored setting")
	got, err := s.GetSetting(ctx, "kept")
	must(t, err)
	sameSetting(t, "after an invalid write", got, v1)
}

// testSettingMaxSize stores a setting of exactly MaxSettingSize bytes.
func (h harness) testSettingMaxSize(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	data := make([]byte, store.MaxSettingSize)
	for i := range data {
		data[i] = byte(i*7 + i>>13) // every byte value, no long runs
	}
	start := time.Now()
	st, err := s.PutSetting(ctx, "largest", data, 0)
	must(t, err)
	got, err := s.GetSetting(ctx, "largest")
	must(t, err)
	sameSetting(t, "largest setting", got, st)
	if !bytes.Equal(got.Data, data) {
		t.Error("largest setting's data differs from what was written")
	}
	// And over it again, which rewrites the whole document.
	data[0]++
	st, err = s.PutSetting(ctx, "largest", data, 1)
	must(t, err)
	got, err = s.GetSetting(ctx, "largest")
	must(t, err)
	sameSetting(t, "largest setting rewritten", got, st)
	if !bytes.Equal(got.Data, data) {
		t.Error("largest setting's data differs from what was rewritten")
	}
	t.Logf("two writes and reads of %d MiB: %s", store.MaxSettingSize>>20, time.Since(start).Round(time.Millisecond))
}

// testSettingConcurrent has writers increment a counter kept in one setting
// by read-modify-write, retrying on ErrConflict: no increment may be lost.
func (h harness) testSettingConcurrent(t *testing.T) {
	s := h.store(t)
	ctx := t.Context()
	const name, writers, increments = "counter", 8, 20
	_, err := s.PutSetting(ctx, name, []byte("0"), 0)
	must(t, err)
	conflicts, err := Increment(ctx, []store.Store{s}, name, writers, increments)
	if err != nil {
		t.Fatal(err)
	}
	CheckCounter(t, s, name, writers*increments)
	t.Logf("%d increments, %d conflicts retried", writers*increments, conflicts)
}

// Increment has writers, spread over stores (as over processes), each add
// increments to the number a setting holds, by read-modify-write retried on
// ErrConflict. It returns how many conflicts were retried, and the first
// error.
func Increment(ctx context.Context, stores []store.Store, name string, writers, increments int) (int, error) {
	var (
		wg        sync.WaitGroup
		conflicts atomic.Int64
	)
	errs := make(chan error, writers)
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for done := 0; done < increments; {
				cur, err := s.GetSetting(ctx, name)
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(cur.Data))
				if err != nil {
					errs <- fmt.Errorf("counter holds %q: %w", cur.Data, err)
					return
				}
				next, err := s.PutSetting(ctx, name, []byte(strconv.Itoa(n+1)), cur.Revision)
				if errors.Is(err, store.ErrConflict) {
					conflicts.Add(1)
					continue // another writer came first: read again
				}
				if err != nil {
					errs <- err
					return
				}
				if next.Revision != cur.Revision+1 {
					errs <- fmt.Errorf("write over revision %d returned revision %d", cur.Revision, next.Revision)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(conflicts.Load()), <-errs // nil when none failed
}

// CheckCounter checks that a setting created as "0" was incremented exactly
// n times: it holds n at revision n+1.
func CheckCounter(t *testing.T, s store.Store, name string, n int) {
	t.Helper()
	got, err := s.GetSetting(t.Context(), name)
	must(t, err)
	if string(got.Data) != strconv.Itoa(n) || got.Revision != int64(1+n) {
		t.Errorf("counter %q at revision %d, want %d at revision %d", got.Data, got.Revision, n, 1+n)
	}
}
