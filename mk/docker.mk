# Containers (issue 19): deploy/docker/Dockerfile.rasa, Dockerfile.actions and compose.yml. The images are
# tagged with the commit (as the Helm values expect); the model is mounted, never baked in.
# `make run-cluster` (mk/cluster.mk) uses compose when a Docker engine answers: see run-cluster-docker.

RENSHE_REGISTRY ?= renshe
RENSHE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
COMPOSE_FILE := deploy/docker/compose.yml
# why: Compose v2 (`docker compose`) when present, else the v1 `docker-compose` (Debian's package).
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose) -p renshe -f $(COMPOSE_FILE)
DOCKER_ENV = RENSHE_REGISTRY=$(RENSHE_REGISTRY) RENSHE_TAG=$(RENSHE_TAG) MODEL_FILE=$(notdir $(MODEL)) MODELS_DIR=$(CURDIR)/models

.PHONY: docker-build
docker-build: ## build the Rasa and action-server images, tagged with the commit
	docker build -f deploy/docker/Dockerfile.rasa --target rasa -t $(RENSHE_REGISTRY)/rasa:$(RENSHE_TAG) .
	docker build -f deploy/docker/Dockerfile.actions --target actions -t $(RENSHE_REGISTRY)/actions:$(RENSHE_TAG) .

# why: the key reaches the train stage as a build secret (never a layer), and only when it is set.
SIGNING_SECRET = $(if $(MODEL_SIGNING_KEY),--secret id=model_signing_key$(COMMA)env=MODEL_SIGNING_KEY)
COMMA := ,

.PHONY: docker-train
docker-train: ## train and sign a model inside Docker (Dockerfile.rasa, stage train) into models/
	docker build -f deploy/docker/Dockerfile.rasa --target model --output models $(SIGNING_SECRET) .

.PHONY: compose-config
compose-config: ## validate and print deploy/docker/compose.yml as compose resolves it (no engine needed)
	$(DOCKER_ENV) $(COMPOSE) config

.PHONY: run-cluster-docker
run-cluster-docker: train docker-build ## the cluster in containers (compose): nginx on :5005, PostgreSQL, Redis
	$(DOCKER_ENV) $(COMPOSE) up --abort-on-container-exit --remove-orphans
