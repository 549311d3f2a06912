# The README's commands. Each installs what is missing, then builds.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:50051
METRICS ?= 127.0.0.1:9464
DATA ?= ./data

.PHONY: all deps test-deps configure build test run bench clean

all: build

deps:
	@bash scripts/deps.sh

test-deps:
	@bash scripts/deps.sh --test

configure:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: deps configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) -- --no-print-directory

test: test-deps configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) -- --no-print-directory
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900

run: build
	@mkdir -p $(DATA)
	@echo "overlapd: serving $(DATA) on $(LISTEN), metrics on http://$(METRICS)/metrics"
	@echo "  try:  $(BUILD_DIR)/bin/overlap --server $(LISTEN) put README.md readme.txt"
	@echo "        $(BUILD_DIR)/bin/overlap --server $(LISTEN) read readme.txt"
	@echo "        $(BUILD_DIR)/bin/overlap --server $(LISTEN) get readme.txt /tmp/readme.txt"
	@echo "        $(BUILD_DIR)/bin/overlap --server $(LISTEN) caps"
	@echo "  buffer lane (same-host shared memory) on $(DATA).sock: get, cat and bench read use it"
	@exec $(BUILD_DIR)/bin/overlapd --root $(DATA) --listen $(LISTEN) --metrics-listen $(METRICS) \
	  --buffer-socket $(DATA).sock

bench: build
	@bash tests/bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
