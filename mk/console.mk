# Trainer console (issue 7): console/, served on http://localhost:8001/ by `make run` too.
CONSOLE_PORT ?= 8001
ROLE ?= trainer

.PHONY: console
console: install ## run the trainer console alone on http://localhost:8001/ (needs the bot for try/activate)
	@mkdir -p var
	$(PY) -m console --port $(CONSOLE_PORT)

.PHONY: console-user
console-user: install ## create a console account: make console-user NAME=li ROLE=admin (asks for the password)
	@if [ -z "$(NAME)" ]; then echo "usage: make console-user NAME=<name> [ROLE=trainer|admin]" >&2; exit 2; fi
	@mkdir -p var
	$(PY) -m console create-user "$(NAME)" --role "$(ROLE)"

.PHONY: test-console
test-console: install ## console tests without the slow ones (no training, no browser)
	$(PY) -m pytest -q tests/console -m "not slow"
