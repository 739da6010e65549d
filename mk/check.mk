# The fast lane (issue 19): `make check` = ruff + mypy + the unit tests that need no trained model, no
# browser, no cluster, no PostgreSQL/Redis and no network; under 3 minutes on a busy 2-core machine.
# `make test` stays the full gate (it trains, installs system packages, starts servers and a browser).
# Markers (pyproject.toml): model and browser are set by tests/conftest.py from the fixtures a test uses.

# why: mypy is not in constraints.txt (Rasa's tree would pin it for everyone); like pip-audit it lives
# in a venv of its own, installed once by `make install` (the only step that downloads).
MYPY_VENV := $(VENV)/mypy
MYPY := $(MYPY_VENV)/bin/mypy
MYPY_VERSION := 1.19.1
MYPY_STUBS := types-PyYAML==6.0.12.20261122 types-requests==2.33.0.20261030
CHECK_MARKERS := not slow and not e2e and not model and not browser and not cluster and not postgres and not redis and not node
# what ruff lints (mypy's files are in pyproject.toml)
CHECK_PATHS := bot actions knowledge console widget ops evaluation bench deploy tests

$(MYPY): | $(PY)
	@echo "installing mypy $(MYPY_VERSION) in $(MYPY_VENV) ..."
	$(PYTHON310) -m venv $(MYPY_VENV)
	$(MYPY_VENV)/bin/python -m pip install -q mypy==$(MYPY_VERSION) $(MYPY_STUBS) 2>&1 | (grep -v "is neither a file nor a directory" || true)
	@test -x $@

# why: an extra prerequisite of `install` (no recipe here), so `make install` fetches mypy once with the rest.
install: $(MYPY)

.PHONY: lint
lint: install ## ruff over the code and the tests
	$(PY) -m ruff check $(CHECK_PATHS)

.PHONY: typecheck
typecheck: install ## mypy (configuration and its baseline in pyproject.toml)
	$(MYPY)

.PHONY: unit
unit: install kb ## the unit tests alone: no model, browser, cluster, PostgreSQL, Redis or network
	$(PY) -m pytest -q -p no:cacheprovider -m "$(CHECK_MARKERS)"

.PHONY: check
check: install kb ## fast gate: ruff + mypy + unit tests, under 3 minutes (make test is the full one)
	@start=$$(date +%s); \
	$(PY) -m ruff check $(CHECK_PATHS) && \
	$(MYPY) && \
	$(PY) -m pytest -q -p no:cacheprovider -m "$(CHECK_MARKERS)" && \
	echo "make check passed in $$(( $$(date +%s) - start ))s"

# why: the full gate checks at least what the fast one does (extra prerequisites of `test`, no recipe here).
test: lint typecheck
