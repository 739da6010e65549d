# Website chat widget (issue 6): front-end packages, the browser for its tests, the demo page alone.
# The lead wires `web-deps` into `run` and `web-deps browser-deps` into `test`.

NPM ?= npm
# why: `npm ci` rewrites node_modules/.package-lock.json; comparing it with package-lock.json
# tells whether the installed packages are stale (fresh clone, or the lock file changed).
WEB_DEPS_STAMP := node_modules/.package-lock.json
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(WEB_DEPS_STAMP): package.json package-lock.json
	@command -v $(NPM) >/dev/null || { echo "error: npm not found: install Node.js 20 (apt-get install nodejs npm)" >&2; exit 1; }
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: web-deps
web-deps: $(WEB_DEPS_STAMP) ## install the widget's npm packages (npm ci) when node_modules is stale

.PHONY: browser-deps
browser-deps: ## install Debian's chromium and CJK fonts for the browser tests, if missing
	@if [ ! -x $(CHROMIUM) ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "installing chromium and fonts-noto-cjk (apt) ..."; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-noto-cjk; \
	else echo "chromium and CJK fonts present"; fi

.PHONY: web
web: install web-deps ## serve the demo page and widget alone on http://localhost:8000/ (Rasa expected on :5005)
	$(PY) -m widget --port 8000

.PHONY: test-browser
test-browser: kb train web-deps browser-deps ## run only the browser tests (starts the real bot)
	BOT_MODEL=$(MODEL) $(PY) -m pytest -q -m browser tests/widget
