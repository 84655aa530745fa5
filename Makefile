# The two commands of the README:
#   make run    a local Kafka broker plus a worker (the embedded default); Ctrl-C stops both
#   make test   everything the tests need (Docker engine, local images), then the test suite
.PHONY: run test setup images unit clean

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TESTCONTAINERS_RYUK_DISABLED ?= true
# mapped container ports answer on localhost when the engine runs on this host
export TESTCONTAINERS_CONNECTION_MODE ?= docker_host

run: setup
	$(VENV)/bin/iii-kafka dev

test: setup images $(VENV)/bin/hey
	$(PY) -m pytest -v

# the http load test's load tool, built with Go from the Go module proxy
$(VENV)/bin/hey: | $(STAMP)
	GOBIN=$(CURDIR)/$(VENV)/bin go install github.com/rakyll/hey@v0.1.5

unit: setup
	$(PY) -m pytest -q tests/unit

setup: $(STAMP)
	@docker/kafka/fetch-jars

# setup.py compiles schemas/value.py and varint.py (Cython): a change to them needs a reinstall
$(STAMP): pyproject.toml setup.py schemas/value.py schemas/varint.py
	@command -v java >/dev/null || { echo "error: Java 17+ is needed (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

images:
	@docker/start-dockerd
	@docker/build-images

clean:
	rm -rf $(VENV) .iii-kafka docker/kafka/lib
