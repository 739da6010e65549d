# Knowledge base (issue 3): check, stats, search, fetch, benchmark, tests. `make kb` (in the Makefile)
# builds it; `make userdict` regenerates data/dict/userdict.txt from the content.

Q ?= 深圳社保服务网点有多少个

.PHONY: kb-check
kb-check: install ## verify every quote, value and id of the knowledge content without writing
	$(PY) -m knowledge check
	$(PY) -m knowledge userdict --check

.PHONY: kb-stats
kb-stats: install ## counts, build hash and facts per region / period / status of the built KB
	$(PY) -m knowledge stats

.PHONY: kb-search
kb-search: kb ## search the knowledge base with citations: make kb-search Q="社保卡持卡人数"
	$(PY) -m knowledge search "$(Q)"

.PHONY: kb-fetch
kb-fetch: install ## report which sources have a fetch_url (add ARGS=--online to download)
	$(PY) -m knowledge fetch $(ARGS)

.PHONY: kb-bench
kb-bench: install ## KB build time and search latency p50/p95 on the full corpus (JSON)
	$(PY) bench/kb_search.py

.PHONY: kb-test
kb-test: install ## knowledge tests on SQLite and PostgreSQL (127.0.0.1:5432)
	$(PY) -m pytest -q tests/knowledge
