// Package register makes the browsers offer a certificate card for TLS
// client authentication, as 「註冊憑證至電腦」 in the HiCOS client does on
// Windows: on Linux it adds a PKCS#11 module (HiCOS's, else OpenSC's) to
// the user's NSS databases, which is where Chrome, Chromium and Firefox
// look for tokens. This is separate from the native-messaging host: a site
// that logs in with a client certificate talks to the browser's TLS stack,
// not to CardBridge.
//
// [Register] adds the modules and [Undo] removes exactly what Register
// added; both are idempotent and can report what they would do without
// doing it. The databases are the shared one Chrome and Chromium read
// (~/.pki/nssdb, or the one Chromium 146 and later create under
// $XDG_DATA_HOME/pki/nssdb) and every profile in Firefox's profiles.ini
// (also the Snap package's). The changes are made with NSS's own modutil
// and certutil, so that NSS stays the only writer of its files.
//
// It must not: touch a module it did not add (ours are named with
// [Prefix]); add a module file that is not absolute or that others may
// write (p11.CheckPath), since the browser would run whatever that file
// becomes; follow a relative profile path out of Firefox's folder; create
// a database over Firefox's old cert8.db, which Firefox converts only when
// no new one exists; change any database but the user's shared one and
// those profiles.ini names (system databases such as /etc/pki/nssdb
// belong to the installers).
//
// A browser that runs during the change keeps its module list until it is
// restarted. modutil edits pkcs11.txt entry by entry, and a running
// Firefox does not overwrite it, so the change survives: with Debian's
// firefox-esr 153 and NSS 3.87, a module added while Firefox ran was still
// in pkcs11.txt after Firefox quit, and was loaded at the next start, not
// before. So Register does not refuse to run; it reports the Firefox
// profiles whose lock is held (Change.Running) and the command line asks
// for a restart.
//
// On Windows and macOS the browsers take client certificates from the
// system's certificate store and keychain, which this package does not
// change yet; there Register and Undo return [ErrUnsupportedOS] (see
// unsupported.go for what the vendors' tools do instead).
//
// References:
//   - Chromium, "Linux Cert Management" (docs/linux/cert_management.md):
//     the NSS shared database, modutil -dbdir sql:$HOME/.pki/nssdb -add,
//     and since M146 $HOME/.local/share/pki/nssdb unless ~/.pki/nssdb
//     exists.
//   - NSS modutil(1) and certutil(1): -add, -delete, -rawlist, -force,
//     -libfile; certutil -N --empty-password.
//   - NSS lib/util/utilpars.c: the quoting of module specs (parseSpec).
//   - Mozilla, "Profiles - Where Firefox stores your bookmarks, passwords
//     and other user data": profiles.ini, IsRelative and Path.
package register
