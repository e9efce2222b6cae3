# The two commands of the quickstart. Each installs what it needs first (a virtual environment with the
# Python dependencies, and the pinned cdktf CLI), so both work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export CHECKPOINT_DISABLE := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test test-fast lint typecheck benchmark install tools

demo: install  ## the main job: the example organization, bootstrapped and deployed in a local AWS sandbox
	$(PY) main.py demo

test: install  ## the test suite: real terraform, real provider, real moto server, real cdktf CLI
	$(PY) -m pytest

test-fast: install  ## the tests marked fast: pure functions called directly, in well under a minute
	$(PY) -m pytest -m fast -q

lint: install  ## ruff's small rule set (pyproject.toml says which rules and why)
	$(VENV)/bin/ruff check generators tests benchmarks main.py

typecheck: install  ## mypy on the generators package, strict for the config stage (pyproject.toml says which)
	$(VENV)/bin/mypy

benchmark: install
	$(PY) benchmarks/synth_benchmark.py

install: $(VENV)/.installed node_modules/.installed tools/node22/.installed tools

# Graphviz renders `graph --format dot` (the tests render it for real). Installed from Debian's packages
# when missing and this user may; otherwise say how.
tools:
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends graphviz >/dev/null; } || \
	  { echo "install Graphviz (dot) to run the tests" >&2; exit 1; }

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[typed,test,cdktn]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# cdktn-cli (CDK Terrain's CLI) needs Node.js >= 22.19. On an older system Node.js, a pinned Node.js 22
# goes to tools/node22 (from npm's `node` package); the tests run cdktn with it first on PATH.
tools/node22/.installed: tools/node22/package.json tools/node22/package-lock.json
	node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)' || \
	  npm ci --prefix tools/node22 --no-audit --no-fund --loglevel=error
	touch $@
