# Benchmarks (issue 9): `make bench` measures the bot on this machine and writes bench/results.json and
# bench/out/report.md (+ plots). It uses the bot of `make run` when one answers on :5005 (set
# BENCH_API_TOKEN=<its RASA_API_TOKEN> for the NLU figures over HTTP), otherwise it starts its own.
# Knobs: BENCH_QUICK=1 (a few minutes: no training, 10 s levels, 1,000 messages), BENCH_SKIP_TRAIN=1,
# BENCH_SKIP_CROSSVAL=1, BENCH_URL, BENCH_CLUSTER_URL, BENCH_START=1, BENCH_LEVELS, BENCH_LOAD_SECONDS,
# BENCH_PAIRS, BENCH_MESSAGES, BENCH_RATE, RASA_SPEEDUPS=0 (private Rasa without bot.speedups, for a
# before/after comparison; see bench/run.py), BENCH_STOCK=0 (no stock-Rasa static baseline),
# BENCH_PROCESSES=N (Rasa processes of the multi-process run; 1 skips it). Never part of `make test`.
# One run reports one Rasa process and several side by side, and CPU ms per message (bench/README.md).

.PHONY: bench
bench: kb train ## measure latency, load, memory, training time, accuracy -> bench/results.json + bench/out/report.md
	BENCH_MODEL=$${BENCH_MODEL:-$(MODEL)} $(PY) -m bench.run

.PHONY: bench-quick
bench-quick: kb train ## the same in a few minutes (no training from scratch, short load levels, 1,000 messages)
	BENCH_QUICK=1 BENCH_MODEL=$${BENCH_MODEL:-$(MODEL)} $(PY) -m bench.run

.PHONY: bench-report
bench-report: install ## re-render bench/out/report.md from the last bench/results.json
	$(PY) -m bench.report

.PHONY: crossval
crossval: install ## 5-fold NLU cross-validation: intent / entity macro-F1 and the top confusions
	$(PY) -m bench.crossval
