// Package tail follows log files as they grow and appends each line, raw, as
// an ingest.Record, checkpointing how far it got so that a restart resumes
// with no loss and no duplicate.
//
// Behaviour:
//   - Paths are files or globs, re-expanded every PollInterval (default
//     250 ms): a new matching file is picked up. Files present at startup and
//     never seen before start at their beginning, or at their end with
//     StartAt "end"; files appearing later always start at their beginning.
//   - A line is the bytes before LF (a trailing CR is removed); empty lines are
//     skipped. A last line without LF is emitted once the file has not grown
//     for PartialFlush (default 5 s): if its writer later completes it, the
//     rest becomes a line of its own.
//   - Records carry Source "tail:<path>" (the path the file was first tailed
//     at, kept across renames and restarts), the configured Format, and
//     Received = the time the line was read.
//   - Header context: in a file whose first line starts with '#' (Zeek TSV,
//     W3C extended log), the '#' lines at the top are the header; in a file
//     tailed with Format "csv", the first line is. Header lines are not
//     records: they are the Context of every record of the file. A later block
//     of '#' lines holding a #fields/#Fields line (a writer restarting) becomes
//     the context of the lines after it; other '#' lines (#close) are skipped.
//
// Identity and rotation:
//   - A file is identified by device and inode plus a SHA-256 fingerprint of
//     its first 1 KiB (or of what exists while shorter), so that a reused
//     inode is a new file.
//   - Rename or move: the open descriptor is read to its end, and closed once
//     the file has not grown for PartialFlush; the new file at the path is read
//     from its beginning. Deletion: the same, through the open descriptor.
//   - copytruncate: a file shrinking below the read offset restarts at 0
//     (vigil_tail_truncations_total). A truncated file that grew back past the
//     old offset between two polls cannot be told from a growing one.
//   - Compressed files (.gz, .bz2, .xz, .zst, .zip, .7z names, or gzip, bzip2,
//     zip, zstd, xz, 7z magic bytes) are skipped and counted.
//
// Guarantees:
//   - The checkpoint of a file is the offset just past the last line whose
//     Append returned nil (lines skipped and header lines before it
//     included). It is written to StateFile after successful Appends, at most
//     every second, and at shutdown, atomically (temporary file, fsync,
//     rename, directory fsync). A stop between Appends therefore resumes
//     exactly; a crash (kill -9) resumes from the last written checkpoint, so
//     up to a second of lines may be appended twice: at-least-once.
//   - A corrupt state file makes Run fail with an error naming it; it is never
//     silently replaced.
//   - Append errors (ErrOverloaded or other) are retried with backoff from
//     10 ms to 1 s on the same batch; nothing is skipped.
//
// Limits:
//   - MaxLine (default 1 MiB): a longer line is skipped up to its newline and
//     counted (vigil_tail_skipped_total{reason="line_too_long"}).
//   - BatchSize (default 512) lines per Append; every batch holds the lines of
//     one file.
//   - Headers are kept up to 64 KiB; after a restart the context is rebuilt
//     from the header at the top of the file only (a later header block seen
//     before the restart is not recovered).
//   - Files renamed to a name the paths do not match are followed only while
//     the tailer runs; after a restart their unread end is not read.
//   - Files are read by polling; there is no inotify.
package tail
