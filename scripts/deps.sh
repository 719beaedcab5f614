#!/usr/bin/env bash
# Installs the Debian packages the build, tests and demo need, only when one
# is missing, so repeated runs cost nothing. Needs root (or sudo) when it
# installs; never prompts.
set -euo pipefail
pkgs=(gcc pkg-config libpcsclite-dev pcscd vsmartcard-vpcd opensc openssl curl ca-certificates)
# MinGW-w64: the Windows host is built with cgo (its PKCS#11 backend needs
# it; make check and make release).
pkgs+=(gcc-mingw-w64-x86-64-win32)
# PostgreSQL: the exchange centre's store runs its test suite on it as well
# as on SQLite (the tests start a throwaway cluster on a loopback port).
pkgs+=(postgresql)
# SoftHSM2: the PKCS#11 module the PKCS#11 backend (internal/cards/p11) is
# tested against.
pkgs+=(softhsm2)
# modutil and certutil: `cardbridge register` and its tests change NSS databases with them.
pkgs+=(libnss3-tools)
# The extension's tests and the demo run Debian's browsers (never downloaded
# by test tools) and need Node.js with npm (Node 20 is on the build machines;
# Debian's nodejs is the fallback).
pkgs+=(chromium chromium-l10n firefox-esr firefox-esr-l10n-zh-tw)
# Fonts for zh-TW pages and screenshots: without a CJK font a fresh machine
# draws Chinese as empty boxes. fonts-noto-cjk is "Noto Sans CJK TC", which
# the extension's and the demo's CSS name; fontconfig builds the font cache
# the browsers look fonts up in (with --no-install-recommends nothing else
# pulls it in).
pkgs+=(fontconfig fonts-noto-cjk)
# The 可攜式公文 PDF embeds a TrueType kai (楷書) face, the style of printed
# 公文 (Noto CJK's outlines are CFF, which it cannot embed); poppler-utils'
# pdftotext, pdffonts and pdfinfo check the PDFs in the tests.
pkgs+=(fonts-cwtex-kai poppler-utils)
# Printing: the tests run a private cupsd with the cups-pdf virtual printer.
pkgs+=(cups printer-driver-cups-pdf)
# The Windows MSI is built on Linux with wixl and corrected with msibuild;
# msiinfo reads its tables in the tests (msitools).
pkgs+=(wixl msitools)
# Authenticode signing of the programs and the MSI (a TEST certificate in
# the tests; the release one with make release SIGN_CERT=… SIGN_KEY=…).
pkgs+=(osslsigncode)
# Wine runs the MSI's silent install and the installed cardbridge.exe in the
# tests (Debian 12's Wine 8, with a test-only bcryptprimitives.dll built by
# MinGW-w64: installer/testdata/winestub).
pkgs+=(wine)
command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
