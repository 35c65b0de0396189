# iga — make help lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every module of the workspace (go.work); bench modules are built but not unit-tested here.
MODULES  := pkg cmd/iga services/intake services/agent services/policy services/approval services/provisioner services/expiry
PKGS     := $(foreach m,$(MODULES),./$(m)/...)
SERVICES := intake agent policy approval provisioner expiry
BIN      := $(CURDIR)/bin
TOOLS    := $(CURDIR)/.bin

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Start the whole system on this machine (embedded NATS, demo data, all six services)
	go run ./cmd/iga dev

.PHONY: build
build: ## Build the iga binary and one binary per service into bin/
	@mkdir -p $(BIN)
	go build -o $(BIN)/iga ./cmd/iga
	@for s in $(SERVICES); do echo "go build -o $(BIN)/iga-$$s ./services/$$s"; go build -o $(BIN)/iga-$$s ./services/$$s || exit 1; done

.PHONY: test
test: ## Run every test (needs only Go; uses REDIS_URL when set, else starts redis-server or an embedded one)
	go test -count=1 -timeout 20m $(PKGS)

.PHONY: test-browser
test-browser: ## Drive the web console in headless Chromium (needs /usr/bin/chromium: .ci/browser-deps installs it)
	go test -count=1 -timeout 10m ./pkg/console/browsertest/...

.PHONY: test-race
test-race: ## Run every test with the race detector
	go test -count=1 -race -timeout 30m $(PKGS)

.PHONY: bench
bench: ## Drive N auto-approved requests through the whole loop and compare with raw JetStream (N=500)
	go run ./cmd/iga bench --requests $${N:-500}

.PHONY: test-peers
test-peers: ## Check that iga's policy engine, OPA and cedar-go decide the peer benchmark alike (own module: OPA never enters a service)
	cd bench/policypeers && GOWORK=off go test -count=1 ./...

.PHONY: bench-policy
bench-policy: ## One policy decision at 10 and 1,000 rules: iga (CEL) against OPA (Rego) and cedar-go, p50/p99 and ratios
	go test -run '^$$' -bench Decide ./services/policy/...
	cd bench/policypeers && GOWORK=off go run ./report

.PHONY: bench-expiry
bench-expiry: ## Lateness of 2,000 expiries due in one second through the expiry service, against bare NATS schedule firing
	go test -run '^$$' -bench ExpiryLateness -benchtime 2000x ./services/expiry/expiry/

.PHONY: vet
vet: ## go vet and gofmt
	go vet $(PKGS) ./pkg/console/browsertest/...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: tools
tools: ## Install the pinned protobuf tools into .bin/ (buf takes ~3 minutes the first time)
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/buf || GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@test -x $(TOOLS)/protoc-gen-go || GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@test -x $(TOOLS)/protoc-gen-go-grpc || GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

.PHONY: proto
proto: tools ## Lint the protos and regenerate pkg/gen
	$(TOOLS)/buf lint
	$(TOOLS)/buf generate

.PHONY: proto-check
proto-check: proto ## Fail when buf lint fails or the committed generated code is stale
	@git diff --exit-code --stat -- pkg/gen || { echo "pkg/gen is stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- pkg/gen)" || { echo "pkg/gen has files not committed: run 'make proto' and commit"; git status --porcelain -- pkg/gen; exit 1; }

.PHONY: clean
clean: ## Remove build output and the dev data folder
	rm -rf $(BIN) .data
