// Package install owns CardBridge's per-user registration with the browsers:
// the native-messaging host manifests (tw.cardbridge.host.json) in the
// per-user directories where Chromium, Google Chrome, Microsoft Edge and
// Firefox look for them on Linux and macOS, and the copy of the cardbridge
// binary those manifests point at, in a stable per-user location. [Install]
// writes them, [Uninstall] removes exactly what Install wrote, and both are
// idempotent and can report what they would do without doing it.
//
// It must not touch anything outside the user's home directory (or the XDG
// directories the user points at): no system paths such as
// /etc/chromium/native-messaging-hosts, no Windows registry, no browser
// policies, no extension installation. System-wide installs belong to the
// MSI and .deb installers. It removes only manifest files whose "name" is
// [HostName], never another program's file, and it does not follow a
// symbolic link at a manifest path to read or remove what it points at.
//
// References:
//   - Chrome "Native messaging" (native messaging host manifest, location,
//     allowed_origins), https://developer.chrome.com/docs/extensions/develop/concepts/native-messaging.
//   - MDN "Native manifests" (allowed_extensions, per-user locations).
//   - Extension ID: the first 32 hex digits of SHA-256 of the extension's
//     public key (DER SubjectPublicKeyInfo), 0–f mapped to a–p.
//   - XDG Base Directory Specification (XDG_CONFIG_HOME, XDG_DATA_HOME;
//     relative values are ignored).
//   - Microsoft Edge "Native messaging" (the same manifest, Edge's
//     directories), https://learn.microsoft.com/microsoft-edge/extensions/developer-guide/native-messaging;
//     Debian's chromium and firefox-esr read the Chromium and Mozilla
//     per-user directories (checked by this package's tests).
package install
