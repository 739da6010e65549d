# Real resident questions (issue 14): tests/eval/real/questions.yml scored against a running bot
# (`make run`, or BOT_URL=...). Prints aggregate pass rates for both splits; failures of the dev split
# only: `$(PY) -m evaluation.real_score --split dev --show-failures`. Nobody tunes on split test.

.PHONY: eval-real
eval-real: kb ## score the real resident questions (dev and test) against $$BOT_URL (default :5005 REST)
	$(PY) -m evaluation.real_score --url $${BOT_URL:-http://localhost:5005/webhooks/rest/webhook} --split dev --json results/eval_real_dev.json
	$(PY) -m evaluation.real_score --url $${BOT_URL:-http://localhost:5005/webhooks/rest/webhook} --split test --json results/eval_real_test.json

.PHONY: eval-real-second
eval-real-second: kb ## the second, never-inspected collection of real questions (aggregate numbers only)
	$(PY) -m evaluation.real_score --url $${BOT_URL:-http://localhost:5005/webhooks/rest/webhook} --split test --file tests/eval/real/second_collection.yml --json results/eval_real_second.json
