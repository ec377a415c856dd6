# fetch-with-refresh — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASM_EXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
RELEASE := -trimpath -ldflags="-s -w"
ADDR ?= 127.0.0.1:8080
export WRANGLER_SEND_METRICS := false
export XDG_CONFIG_HOME := $(CURDIR)/.config
export CLOUDFLARE_CF_FETCH_ENABLED := false

WASM_SRC := $(shell find wasm refresh internal -name '*.go' -not -name '*_test.go' -not -path '*/testdata/*') go.mod go.sum
WASM := js/fetch-with-refresh.wasm
LOADER_MIN := js/fetch-with-refresh.min.mjs
ESBUILD := github.com/evanw/esbuild/cmd/esbuild@v0.28.2

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}' | \
		sed -e 's|$$(ADDR)|$(ADDR)|g' -e 's|$$(WORKER_PORT)|$(WORKER_PORT)|g' -e 's|$$(DEMO_UPSTREAM_ADDR)|$(DEMO_UPSTREAM_ADDR)|g'

## Build

.PHONY: wasm
wasm: $(WASM) $(WASM).gz $(WASM).br js/wasm_exec.js $(LOADER_MIN) ## build the browser module (+ .gz, .br), copy wasm_exec.js, minify the loader

# Every package but the runtime is built without inlining: 11 KB less
# brotli, which keeps the module under 600 KB. A call with a valid token
# under the module's lease runs no Go code, so only the rare path (no
# lease, a refresh) and the module's start-up run this code, and calls do
# not wait for the start-up. The runtime keeps its inlining:
# without it the Go program starts ~20 ms later (make bench).
COLD := -gcflags=all=-l -gcflags=runtime=

$(WASM): $(WASM_SRC)
	GOOS=js GOARCH=wasm $(GO) build $(RELEASE) $(COLD) -o $@ ./wasm

$(WASM).gz $(WASM).br: $(WASM)
	$(GO) run ./cmd/precompress $<

js/wasm_exec.js: $(GOROOT)/lib/wasm/wasm_exec.js
	cp $< $@

# The loader minified, for pages served without a bundler (a bundler
# minifies it with the app): 4 KB gzip instead of 10 on the page's
# critical path. esbuild comes from the Go module proxy (no npm needed).
$(LOADER_MIN): js/fetch-with-refresh.mjs
	$(GO) run $(ESBUILD) $< --minify --format=esm --log-level=warning --outfile=$@

# The npm package: js/package.json is its manifest; the tarball holds the
# loader, its types, the module, wasm_exec.js, LICENSE, README.md and the
# licenses of the Go code compiled into the module.
VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' js/package.json)
PACKAGE := build/fetch-with-refresh-$(VERSION).tgz
PACKAGE_FILES := js/package.json js/fetch-with-refresh.mjs js/module.mjs js/fetch-with-refresh.d.ts js/fetch-with-refresh.d.mts $(WASM) js/wasm_exec.js LICENSE README.md

.PHONY: package
package: $(PACKAGE) ## build the npm package: build/fetch-with-refresh-<version>.tgz (npm pack)

$(PACKAGE): $(PACKAGE_FILES)
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
	rm -rf build/package && mkdir -p build/package
	cp $(PACKAGE_FILES) build/package/ && chmod 644 build/package/*
	{ echo "# Third-party licenses"; echo; \
	  echo "fetch-with-refresh.wasm is compiled from Go's runtime and standard library ($$($(GO) env GOVERSION)), and wasm_exec.js is Go's:"; \
	  echo; echo '```'; cat $(GOROOT)/LICENSE; echo '```'; \
	  GOOS=js GOARCH=wasm $(GO) list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./wasm | sort -u | \
	  while read -r mod version dir; do echo; echo "fetch-with-refresh.wasm contains $$mod $$version:"; echo; echo '```'; cat "$$dir/LICENSE"; echo '```'; done; \
	} > build/package/THIRD_PARTY_LICENSES.md
	cd build/package && npm pack --pack-destination .. --silent >/dev/null
	@echo "wrote $@"

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

OIDC_PROVIDER := internal/testing/oidctest/provider

$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: npm
npm: node_modules/.package-lock.json

WORKER := build/worker
WORKER_SRC := $(shell find bff internal refresh -name '*.go' -not -name '*_test.go') $(wildcard cmd/worker/*.go) go.mod go.sum
WRANGLER := npx --no-install wrangler --config cmd/worker/wrangler.toml
WORKER_PORT ?= 8787
DEMO_UPSTREAM_ADDR ?= 127.0.0.1:8788

.PHONY: worker
worker: $(WORKER)/worker.mjs $(WORKER)/app.wasm $(WORKER)/assets ## build the Cloudflare Worker (Go wasm, JS glue, static assets)

$(WORKER)/app.wasm: $(WORKER_SRC) | $(WORKER)/worker.mjs # the generator empties the folder
	GOOS=js GOARCH=wasm $(GO) build $(RELEASE) -o $@ ./cmd/worker

$(WORKER)/worker.mjs: go.mod
	$(GO) run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o $(WORKER)

.PHONY: $(WORKER)/assets
$(WORKER)/assets: wasm
	rm -rf $@ && mkdir -p $@/js
	cp www/* $@/
	cp js/fetch-with-refresh.mjs $(LOADER_MIN) js/module.mjs js/fetch-with-refresh.wasm js/wasm_exec.js $@/js/
	cp cmd/worker/_headers $@/

## Run

.PHONY: serve
serve: wasm ## run the demo on http://$(ADDR) with the embedded demo upstream
	$(GO) run ./cmd/server -addr $(ADDR) -access-log

.PHONY: worker-dev
worker-dev: worker npm ## the demo through the Worker on http://127.0.0.1:$(WORKER_PORT) (demo upstream on $(DEMO_UPSTREAM_ADDR)); Ctrl-C stops both
	@trap 'kill 0' EXIT INT TERM; \
	$(GO) run ./cmd/server -addr 127.0.0.1:0 -demo-addr $(DEMO_UPSTREAM_ADDR) & \
	$(WRANGLER) dev --ip 127.0.0.1 --port $(WORKER_PORT) --inspector-port 0 \
		--var FWR_UPSTREAM:http://$(DEMO_UPSTREAM_ADDR) --var FWR_INSECURE_COOKIES:false \
		--var FWR_SESSION_KEYS:$$(head -c 32 /dev/urandom | base64) & \
	wait

.PHONY: worker-deploy
worker-deploy: worker npm ## deploy the Worker (needs a Cloudflare account: wrangler login; set FWR_UPSTREAM)
	$(WRANGLER) deploy

.PHONY: oidc-provider
oidc-provider: $(OIDC_PROVIDER)/node_modules/.package-lock.json ## a local OpenID provider on http://127.0.0.1:9090 for the README's OIDC example (any login; client fwr / fwr-secret)
	cd $(OIDC_PROVIDER) && PORT=9090 REDIRECT_URI=http://$(ADDR)/auth/callback POST_LOGOUT_REDIRECT_URI=http://$(ADDR)/ node provider.mjs

## Test

.PHONY: test
test: test-native test-js test-types test-e2e test-oidc test-worker test-bench test-multi test-embed test-soak test-package test-recipes ## everything: native -race, GOOS=js under Node, tsc, headless Chromium, OIDC, Workers, multi-instance, the npm package and its recipes

.PHONY: test-native
test-native: ## native packages with -race (includes a smoke run of the benchmarks)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

.PHONY: test-multi
test-multi: ## several cmd/server processes sharing a real redis-server, against a strict-rotation upstream
	@command -v redis-server >/dev/null || { echo "redis-server is missing: run 'apt-get install -y redis-server' (as root), then make test-multi"; exit 1; }
	$(GO) test -count=1 -v -tags multi ./internal/testing/multitest/

.PHONY: test-embed
test-embed: ## an outside module (a temporary go.mod with a replace of this checkout) embeds the BFF: built with the go command, run, driven over HTTP
	$(GO) test -count=1 -v -tags embed ./internal/testing/embed/

.PHONY: test-soak
test-soak: ## a 12-second smoke run of make soak (fails if a transient upstream failure loses a session)
	@command -v redis-server >/dev/null || { echo "redis-server is missing: run 'apt-get install -y redis-server' (as root), then make test-soak"; exit 1; }
	$(GO) run ./internal/tools/soak -smoke

.PHONY: test-js
test-js: wasm ## GOOS=js GOARCH=wasm tests under Node against a real server
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/...
	$(GO) run ./internal/tools/withserver -- env GOOS=js GOARCH=wasm $(GO) test -count=1 -exec $(WASM_EXEC) ./wasm/ ./refresh/ ./internal/ctxlite/

.PHONY: test-types
test-types: npm ## type-check js/fetch-with-refresh.d.ts, and the loader against it (checkJs), with tsc
	npx --no-install tsc -p js/tsconfig.json

.PHONY: test-e2e
test-e2e: wasm ## end-to-end tests in headless Chromium (writes test-artifacts/demo.png)
	@command -v chromium >/dev/null || { echo "chromium is missing: run 'apt-get install -y chromium' (as root), then make test-e2e"; exit 1; }
	$(GO) test -count=1 -v -tags e2e ./internal/testing/e2e/

.PHONY: test-oidc
test-oidc: wasm worker npm $(OIDC_PROVIDER)/node_modules/.package-lock.json ## OIDC mode, native and on the local Workers runtime, against a real OpenID provider (oidc-provider from npm) in headless Chromium
	@command -v chromium >/dev/null || { echo "chromium is missing: run 'apt-get install -y chromium' (as root), then make test-oidc"; exit 1; }
	$(GO) test -count=1 -v -tags oidc ./internal/testing/oidctest/

.PHONY: test-worker
test-worker: worker npm ## the Worker under the local Workers runtime (wrangler/workerd), its Durable Object, and a deploy dry run
	GOOS=js GOARCH=wasm $(GO) vet ./cmd/worker
	$(GO) test -count=1 -v -tags workers ./internal/testing/workertest/

.PHONY: test-package
test-package: package ## list and check the npm tarball's contents
	FWR_PACKAGE=$(CURDIR)/$(PACKAGE) $(GO) test -count=1 -tags package ./internal/testing/recipes/

.PHONY: test-recipes
test-recipes: package ## the recipes (Vite, ky, openapi-fetch, webpack, Next.js) installed from the tarball, built and driven in Chromium
	@command -v chromium >/dev/null || { echo "chromium is missing: run 'apt-get install -y chromium' (as root), then make test-recipes"; exit 1; }
	FWR_PACKAGE=$(CURDIR)/$(PACKAGE) $(GO) test -count=1 -v -timeout 20m -tags recipes ./internal/testing/recipes/

.PHONY: screenshot
screenshot: test-e2e ## refresh the README's screenshot (internal/testing/e2e/screenshot.png, not deployed) from the e2e run
	cp test-artifacts/demo.png internal/testing/e2e/screenshot.png

## Benchmarks

.PHONY: bench
bench: wasm worker ## sizes, start-up, overhead, storm and server figures against baselines (writes bench/results.md)
	@command -v chromium >/dev/null || { echo "chromium is missing: run 'apt-get install -y chromium' (as root), then make bench"; exit 1; }
	$(GO) run ./internal/tools/bench

.PHONY: profile
profile: wasm ## where the time of one call goes, in Chromium (a measurement, not a test; noisy on a busy machine)
	$(GO) test -count=1 -v -tags 'e2e profile' -run TestProfile ./internal/testing/e2e/

.PHONY: test-bench
test-bench: wasm worker ## a smoke run of make bench: one short iteration of each figure
	$(GO) run ./internal/tools/bench -smoke

.PHONY: soak
soak: ## 500 sessions for 60 s against 3 instances + Redis under scheduled faults, without and with a grace window; prints the table
	@command -v redis-server >/dev/null || { echo "redis-server is missing: run 'apt-get install -y redis-server' (as root), then make soak"; exit 1; }
	$(GO) run ./internal/tools/soak

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(WASM) $(WASM).gz $(WASM).br js/wasm_exec.js build
