# CardBridge. `make demo` runs the virtual TEST card and shows what the CLI
# sees; `make test` runs every check CI runs. Both install missing Debian
# packages first (root, or sudo).
GO ?= go

.PHONY: all build demo test check unit fuzz bench deps clean extension e2e

all: build

deps:
	bash scripts/deps.sh

build: deps
	$(GO) build -o out/cardbridge ./host

# The virtual TEST card, the CLI and a native-protocol session, then the
# demo site (demo/) with the extension: in Chromium when $DISPLAY is set,
# else headless through extension/e2e/demo-walk.mjs when it exists.
demo:
	bash scripts/demo.sh

# Static checks, the Windows build, a brief fuzz of every parser, then all
# tests; the PC/SC integration tests start (and stop) pcscd themselves and
# must not skip here.
test: deps check fuzz unit extension e2e

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -o /dev/null ./...

fuzz:
	FUZZTIME=$${FUZZTIME:-5s} bash scripts/fuzz.sh

unit:
	CARDBRIDGE_REQUIRE_PCSC=1 $(GO) test -count=1 ./...

# The extension: npm ci, type check (tsc over // @ts-check JavaScript) and
# node:test unit tests; then end to end in Debian's chromium and firefox-esr
# with the host installed in the test profiles and the virtual card.
extension:
	cd extension && npm ci --no-audit --no-fund --loglevel=error && npm run check && npm test

e2e: build
	cd extension && npm run e2e

bench: deps
	bash scripts/bench.sh

clean:
	rm -rf out
