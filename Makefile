# CardBridge. `make demo` runs the virtual TEST card and shows what the CLI
# sees; `make test` runs every check CI runs. Both install missing Debian
# packages first (root, or sudo).
GO ?= go

.PHONY: all build release demo test check unit fuzz bench deps clean extension e2e screenshots

all: build

deps:
	bash scripts/deps.sh

# out/cardbridge is the shipped host and CLI; out/cardbridge-exchange the
# 公文 exchange agent it starts for `cardbridge exchange` (kept out of the
# host, which every browser starts); out/cardbridge-centre the
# exchange centre (no cgo: it runs on any server); out/cardbridge-softcard is
# the virtual TEST card, a development tool for the demo, e2e and bench only.
build: deps
	$(GO) build -o out/cardbridge ./host
	$(GO) build -o out/cardbridge-exchange ./cmd/cardbridge-exchange
	CGO_ENABLED=0 $(GO) build -o out/cardbridge-centre ./cmd/cardbridge-centre
	$(GO) build -o out/cardbridge-softcard ./cmd/cardbridge-softcard

# Release builds of the shipped host: they trust only CardBridge's store
# extensions (STORE_EXTENSION_IDS, comma-separated Chrome Web Store / Edge
# Add-ons IDs, compiled in) and the Firefox add-on, never the development
# extension; they ignore virtualReader and serve http://localhost pages only
# when the system configuration allows them (docs/protocol.md §6).
STORE_EXTENSION_IDS ?=
# FORCE_INSTALL (ID=UPDATEURL,…) builds cardbridge-policy, which
# force-installs the extension; APPROVED_ORIGINS (https origins,
# comma-separated) are pre-approved for every user.
FORCE_INSTALL ?=
APPROVED_ORIGINS ?=
CHROME_STORE_ID ?=
EDGE_STORE_ID ?=
# FIREFOX_ADDON_URL: the add-on's https URL (addons.mozilla.org's
# latest.xpi) that the MSI's EXTENSIONPOLICY=1 and cardbridge-policy
# force-install in Firefox.
FIREFOX_ADDON_URL ?=
# SIGN_CERT and SIGN_KEY (PEM files: the code-signing certificate with its
# chain, and its key) sign the Windows programs and the MSI with
# osslsigncode; SIGN_TIMESTAMP is an RFC 3161 time-stamp authority's URL.
SIGN_CERT ?=
SIGN_KEY ?=
SIGN_TIMESTAMP ?=
comma := ,
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
RELEASE_LDFLAGS = -s -w -X main.build=release -X main.version=$(VERSION) -X main.storeExtensionIDs=$(STORE_EXTENSION_IDS)
release: deps
	@test -n "$(STORE_EXTENSION_IDS)" || echo "note: STORE_EXTENSION_IDS is empty: this release serves Firefox and allowedExtensions only" >&2
	$(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o out/release/linux-amd64/cardbridge ./host
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o out/release/linux-amd64/cardbridge-exchange ./cmd/cardbridge-exchange
	$(WINDOWS_CGO) $(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o out/release/windows-amd64/cardbridge.exe ./host
	$(WINDOWS_CGO) $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o out/release/windows-amd64/cardbridge-exchange.exe ./cmd/cardbridge-exchange
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o out/release/linux-amd64/cardbridge-centre ./cmd/cardbridge-centre
	# The Debian/Ubuntu package (docs/install.md), and cardbridge-policy when
	# FORCE_INSTALL names ID=UPDATEURL pairs (comma-separated).
	$(GO) run ./installer deb --out out/release --version $(VERSION) \
	  --host out/release/linux-amd64/cardbridge --exchange out/release/linux-amd64/cardbridge-exchange \
	  $(foreach id,$(subst $(comma), ,$(STORE_EXTENSION_IDS)),--store-id $(id)) \
	  $(foreach f,$(subst $(comma), ,$(FORCE_INSTALL)),--force $(f)) \
	  $(foreach o,$(subst $(comma), ,$(APPROVED_ORIGINS)),--approved $(o)) \
	  $(if $(FIREFOX_ADDON_URL),--firefox-url $(FIREFOX_ADDON_URL))
	# The Windows MSI (wixl, docs/install.md); CHROME_STORE_ID and
	# EDGE_STORE_ID are what EXTENSIONPOLICY=1 force-installs.
	$(GO) run ./installer msi --out out/release --version $(VERSION) \
	  --host out/release/windows-amd64/cardbridge.exe --exchange out/release/windows-amd64/cardbridge-exchange.exe \
	  $(foreach id,$(subst $(comma), ,$(STORE_EXTENSION_IDS)),--store-id $(id)) \
	  $(if $(CHROME_STORE_ID),--chrome-id $(CHROME_STORE_ID)) $(if $(EDGE_STORE_ID),--edge-id $(EDGE_STORE_ID)) \
	  $(if $(FIREFOX_ADDON_URL),--firefox-url $(FIREFOX_ADDON_URL)) \
	  $(if $(SIGN_CERT),--sign-cert $(SIGN_CERT) --sign-key $(SIGN_KEY)) $(if $(SIGN_TIMESTAMP),--sign-timestamp $(SIGN_TIMESTAMP))
	@test -n "$(SIGN_CERT)" || echo "note: SIGN_CERT is empty: the MSI and its programs are not signed" >&2
	# The macOS package cannot be finished here (cgo for Apple's PC/SC,
	# pkgbuild, signing): `go run ./installer pkg` on a Mac, docs/install.md.

# The Windows host is built with cgo through MinGW-w64 (Debian
# gcc-mingw-w64-x86-64-win32): the PKCS#11 backend (miekg/pkcs11) needs cgo,
# and every real Taiwanese card signs through the HiCOS module. PC/SC
# (ebfe/scard) needs no cgo on Windows.
WINDOWS_CGO = GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc

# The extension's node_modules, installed again when the lock file changes.
NODE_MODULES = extension/node_modules/.package-lock.json
$(NODE_MODULES): extension/package.json extension/package-lock.json | deps
	cd extension && npm ci --no-audit --no-fund --loglevel=error

# The virtual TEST card, the CLI and a native-protocol session, then the
# demo site (demo/) with the extension: in Chromium when $DISPLAY is set,
# else headless through extension/e2e/demo-walk.mjs when it exists (its
# screenshots go to out/screenshots/, untracked).
demo: build
	bash scripts/demo.sh

# Static checks, the Windows build, a brief fuzz of every parser, then all
# tests; the PC/SC integration tests start (and stop) pcscd themselves and
# must not skip here.
test: deps check fuzz unit extension e2e

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o /dev/null ./...
	$(WINDOWS_CGO) $(GO) build -o /dev/null ./host

fuzz:
	FUZZTIME=$${FUZZTIME:-5s} bash scripts/fuzz.sh

unit:
	CARDBRIDGE_REQUIRE_PCSC=1 $(GO) test -count=1 ./...
	# the centre's API and commands again, on PostgreSQL (the store's suite
	# runs on both by itself)
	CARDBRIDGE_CENTRE_DB=postgres $(GO) test -count=1 ./internal/centre/api/ ./cmd/cardbridge-centre/

# The extension: npm ci, type check (tsc over // @ts-check JavaScript) and
# node:test unit tests; then end to end in Debian's chromium and firefox-esr
# with the host installed in the test profiles and the virtual card. The
# e2e screenshots go to out/screenshots/: a test run changes no tracked file.
extension: $(NODE_MODULES)
	cd extension && npm run check && npm test

e2e: build $(NODE_MODULES)
	cd extension && npm run e2e

# The README's pictures: the Chromium e2e suite writes them afresh to
# out/screenshots/, then they are copied into docs/screenshots/ (tracked;
# review and commit them). Fails when the suite skipped a picture.
SCREENSHOTS = consent.png demo-page.png overlay.png pin-window.png popup.png pin-choose.png popup-hicos.png \
	exchange-announcement.png exchange-list.png exchange-preview.png exchange-files.png exchange-portable-page.png \
	exchange-compose.png exchange-pin-send.png exchange-outbox.png exchange-return.png exchange-settings.png \
	hipki-page.png hipki-pin.png
screenshots: build $(NODE_MODULES)
	rm -rf out/screenshots
	cd extension && node --test --test-concurrency=1 e2e/chromium.test.mjs e2e/chromium-cards.test.mjs e2e/chromium-exchange.test.mjs e2e/hipki.test.mjs
	@for f in $(SCREENSHOTS); do \
	  test -s out/screenshots/$$f || { echo "out/screenshots/$$f was not written (a test skipped?)" >&2; exit 1; }; \
	done
	mkdir -p docs/screenshots
	cp $(addprefix out/screenshots/,$(SCREENSHOTS)) docs/screenshots/
	@echo "docs/screenshots/ refreshed: $(SCREENSHOTS)"

bench: build
	bash scripts/bench.sh

clean:
	rm -rf out
