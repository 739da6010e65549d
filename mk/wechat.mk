# WeChat Official Account channel (issue 5): simulator, tests, latency. The channel itself is
# registered in credentials.yml and served by `make run` at /webhooks/wechat/webhook.

WECHAT_URL ?= http://localhost:5005/webhooks/wechat/webhook

.PHONY: wechat-sim
wechat-sim: install ## chat with the running bot (make run) through the WeChat path, signed like WeChat
	$(PY) -m ops.wechat_sim --url $(WECHAT_URL)

.PHONY: wechat-test
wechat-test: install ## run the WeChat channel tests (end-to-end ones need `make train` and Redis)
	BOT_MODEL=$(MODEL) $(PY) -m pytest -q tests/bot -k wechat

.PHONY: wechat-bench
wechat-bench: install ## WeChat-path latency (p50/p95, JSON) against the running bot
	$(PY) bench/wechat_latency.py --url $(WECHAT_URL)
