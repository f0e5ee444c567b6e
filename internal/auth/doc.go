// Package auth authenticates the people and programs that use Vigil's API,
// console and ingest endpoints, and says what each may do.
//
// # Model
//
// Principals are local users (console sessions) and tokens (programs). Each
// has one Role: viewer < analyst < admin; Require(min) lets a request through
// when its principal's role is at least min.
//
// Users and tokens live in <data-dir>/auth/users.json (mode 0600, directory
// 0700), written atomically (temporary file, fsync, rename). `vigil users` and
// `vigil tokens` edit it directly; a running server stats it at most every
// ReloadInterval (2 s) and reloads it when it changed, so changes made by the
// CLI apply within 2 s. A file that fails to read keeps the last good state
// (logged as an error).
//
// A cluster keeps them in its store instead (Options.Shared; serve and the CLI
// with --store postgres://): the users document, the logouts and the session
// key are settings changed by compare-and-swap, so writers on several nodes
// lose no change. A busy node reloads them every ReloadInterval on a goroutine
// of its own, without holding up requests; a node that had no request for
// 2 × ReloadInterval reads them before deciding the next one, so a change made
// on one node applies on all within ReloadInterval either way. A session made
// on one node is valid on all. A node that cannot read the store (the session
// key included) at start does not start; later failures keep the last good
// state. The session key is then in the store in the clear, like the users'
// password hashes: whoever can read the settings table (or a backup of it)
// can forge sessions, so the database's access is the console's.
//
// Passwords are hashed with argon2id and stored as PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash: OWASP's minimum by default,
// configurable with Options.Argon2); a stored hash is verified with the
// parameters written in it. Passwords need MinPasswordLen characters.
//
// Tokens are "vgl_" + 32 random bytes in base64url, shown once at creation and
// stored as their SHA-256 (a 256-bit random secret needs no slow hash). A token
// has a scope: "api" tokens call the REST API with their role
// (Authorization: Bearer) and never ingest; "ingest" tokens only send logs to
// the ingest listener (CheckIngestToken) and are refused by the API. Tokens may
// expire.
//
// Sessions are stateless signed cookies: vigil_session = "v1." +
// base64url(JSON {user, role, issued, expiry, random session id}) + "." +
// base64url(HMAC-SHA256), keyed by <data-dir>/auth/session.key (32 random
// bytes, 0600, made at first use). The cookie is HttpOnly, SameSite=Strict,
// Path=/, and Secure on TLS requests (or always with Options.SecureCookies).
// Every request re-reads the user from the in-memory users file: a deleted user
// is refused at once, a role change applies to the next request, and a password
// change ends the sessions issued before it.
//
// CSRF: unsafe requests (not GET/HEAD/OPTIONS) authenticated by the cookie need
// X-CSRF-Token = base64url(HMAC(key, "csrf" + session id)), which login and GET
// /api/v1/session return; and cross-site requests are refused by
// Sec-Fetch-Site, or else Origin against Host (net/http's
// CrossOriginProtection), for session requests and for login itself. Bearer
// requests need no CSRF token: browsers do not attach them on their own.
//
// Login failures are limited per client address (IPv6: per /64) and per
// username by token buckets (LoginFailures per LoginWindow, then one attempt
// every 12 s), answered 429 rate_limited with Retry-After. An unknown username
// is verified against a dummy hash so that it takes as long as a wrong password.
// Concurrent argon2 computations are bounded (GOMAXPROCS, at least 2) so a burst
// of logins cannot exhaust memory.
//
// Logins (success and failure, with the username tried, never the password),
// logouts and user and token changes go to Options.Audit. Passwords, tokens,
// cookies and CSRF tokens are never logged.
//
// # Limits
//
//   - Logout revokes the session id in memory only: after a restart a
//     logged-out cookie is valid again until its expiry (12 h by default).
//     With Shared, a logout is also written to the store (SharedRevoked), and
//     every node, and every node started later, refuses the session within
//     ReloadInterval.
//     The revocation set holds at most 100 000 ids (expired ids are dropped
//     first, then those expiring soonest).
//   - Sessions cannot be listed or revoked per user except by changing the
//     user's password or deleting the user.
//   - The client address is the connection's: behind a reverse proxy every
//     client shares the proxy's limit (X-Forwarded-For is not trusted).
//   - The per-username limit lets anyone slow down logins to a known username
//     (one attempt per 12 s after 5 failures); the per-address limit bounds
//     how many usernames one address can lock.
//   - The login limiter is per process: several servers behind a load balancer
//     each keep their own. So is the revocation set without Shared.
//   - Two processes changing users.json at the same moment can lose one change
//     (each re-reads the file before writing, inside one process changes are
//     serialised; there is no cross-process lock).
//   - A login against a user whose hash was made with other argon2 parameters
//     than the configured ones takes a different time from an unknown user's,
//     which tells that the user exists; such a hash is re-computed with the
//     configured parameters at the user's next successful login.
//   - Rotating session.key (deleting it) ends every session.
package auth
