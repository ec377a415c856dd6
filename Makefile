# fetch-with-refresh — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASM_EXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
RELEASE := -trimpath -ldflags="-s -w"
ADDR ?= 127.0.0.1:8080
export WRANGLER_SEND_METRICS := false
export XDG_CONFIG_HOME := $(CURDIR)/.config

WASM_SRC := $(shell find wasm -name '*.go' -not -name '*_test.go') go.mod go.sum
WASM := js/fetch-with-refresh.wasm

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

## Build

.PHONY: wasm
wasm: $(WASM) $(WASM).gz $(WASM).br js/wasm_exec.js ## build the browser module (+ .gz, .br) and copy wasm_exec.js

$(WASM): $(WASM_SRC)
	GOOS=js GOARCH=wasm $(GO) build $(RELEASE) -o $@ ./wasm

$(WASM).gz $(WASM).br: $(WASM)
	$(GO) run ./cmd/internal/tools/precompress $<

js/wasm_exec.js: $(GOROOT)/lib/wasm/wasm_exec.js
	cp $< $@

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: npm
npm: node_modules/.package-lock.json

## Run

.PHONY: serve
serve: wasm ## run the demo on http://$(ADDR) with the embedded demo upstream
	$(GO) run ./cmd/server -addr $(ADDR)

## Test

.PHONY: test
test: test-native test-js test-types test-e2e ## everything: native -race, GOOS=js under Node, tsc, headless Chromium, Workers

.PHONY: test-native
test-native: ## native packages with -race (includes a smoke run of the benchmarks)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./wasm/refresh/ ./cmd/...

.PHONY: test-js
test-js: wasm ## GOOS=js GOARCH=wasm tests under Node against a real server
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/...
	$(GO) run ./cmd/internal/tools/withserver -- env GOOS=js GOARCH=wasm $(GO) test -count=1 -exec $(WASM_EXEC) ./wasm/...

.PHONY: test-types
test-types: npm ## type-check js/fetch-with-refresh.d.ts with tsc
	npx --no-install tsc -p js/tsconfig.json

.PHONY: test-e2e
test-e2e: wasm ## end-to-end tests in headless Chromium (writes test-artifacts/demo.png)
	@command -v chromium >/dev/null || { echo "chromium is missing: run 'apt-get install -y chromium' (as root), then make test-e2e"; exit 1; }
	$(GO) test -count=1 -v -tags e2e ./cmd/internal/e2e/

.PHONY: screenshot
screenshot: test-e2e ## refresh the README's screenshot (www/screenshot.png) from the e2e run
	cp test-artifacts/demo.png www/screenshot.png

## Benchmarks

.PHONY: bench
bench: wasm ## sizes, start-up, overhead, storm and server figures against baselines
	$(GO) run ./cmd/internal/tools/bench

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(WASM) $(WASM).gz $(WASM).br js/wasm_exec.js build
