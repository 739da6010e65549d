# Running at scale (issue 8): two Rasa instances and two action servers behind nginx, sharing
# PostgreSQL (trackers + knowledge base) and Redis (locks, WeChat state, rate limits). What maps
# onto Kubernetes and what to scale when: deploy/README.md. Conversation data: db-index, retention,
# export-conversation. Dependency audit: audit (part of `make test`).

CLUSTER_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS_VENV := $(VENV)/tools
PIP_AUDIT_VERSION := 2.10.1
DAYS ?= $(RETENTION_DAYS)
# e.g. CLUSTER_ARGS="--port 5105 --action-lb-port 5155" when `make run` already holds 5005 and 5055
CLUSTER_ARGS ?=

.PHONY: nginx-deps
nginx-deps: ## install Debian's nginx for the cluster and its tests, if missing
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then echo "nginx present"; else \
	  echo "installing nginx (apt) ..."; \
	  $(CLUSTER_SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(CLUSTER_SUDO) apt-get install -y -q nginx; fi

# why: containers when a Docker engine answers (deploy/docker/compose.yml, the images Helm runs too), else
# the same layout as local processes; RUN_CLUSTER=local forces the local supervisor.
.PHONY: run-cluster
run-cluster: ## 2 Rasa + 2 action servers behind nginx on :5005 with PostgreSQL + Redis (compose when Docker answers)
	@if [ "$${RUN_CLUSTER:-}" != local ] && docker info >/dev/null 2>&1; then \
	  echo "Docker engine answers: the cluster in containers (deploy/docker/compose.yml; RUN_CLUSTER=local for processes)"; \
	  $(MAKE) --no-print-directory run-cluster-docker; \
	else \
	  echo "no Docker engine (docker info failed) or RUN_CLUSTER=local: local processes under the cluster supervisor"; \
	  $(MAKE) --no-print-directory run-cluster-local; fi

.PHONY: run-cluster-local
run-cluster-local: install train nginx-deps ## the cluster as local processes (nginx, PostgreSQL + Redis on loopback), no Docker
	@mkdir -p var
	$(PY) -m ops.cluster --model $(MODEL) $(CLUSTER_ARGS)

.PHONY: test-scale
test-scale: install train nginx-deps ## the scale tests alone: cluster faults, security, retention/export, fuzz
	BOT_MODEL=$(MODEL) $(PY) -m pytest -q tests/scale

.PHONY: db-index
db-index: install ## create the tracker store's events table and the indexes Rasa does not create
	$(PY) -m ops.trackers db-index

.PHONY: retention
retention: install ## delete conversations idle for more than DAYS days: make retention DAYS=180
	@if [ -z "$(DAYS)" ]; then echo "usage: make retention DAYS=<n> (or set RETENTION_DAYS)" >&2; exit 2; fi
	$(PY) -m ops.trackers retention --days $(DAYS)

.PHONY: export-conversation
export-conversation: install ## one resident's conversations as JSON: make export-conversation SENDER=<id>
	@if [ -z "$(SENDER)" ]; then echo "usage: make export-conversation SENDER=<conversation id>" >&2; exit 2; fi
	$(PY) -m ops.trackers export "$(SENDER)"

$(TOOLS_VENV)/bin/pip-audit: | $(PY)
	@echo "installing pip-audit $(PIP_AUDIT_VERSION) in $(TOOLS_VENV) ..."
	$(PYTHON310) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q pip-audit==$(PIP_AUDIT_VERSION) 2>&1 | grep -v "is neither a file nor a directory" || true
	@test -x $@

.PHONY: audit
audit: install $(TOOLS_VENV)/bin/pip-audit ## dependency audit of constraints.txt (exceptions: deploy/audit-exceptions.txt)
	$(PY) -m ops.audit --pip-audit $(TOOLS_VENV)/bin/pip-audit
