"""Compare NLU pipeline configurations on the same fixed cross-validation folds.

``python -m bench.nlu_compare config.yml other.yml --folds 5 --use 0 1`` trains each configuration on
the training part of the chosen folds (a seeded ``StratifiedKFold`` over ``data/nlu``, so every
configuration sees the same split) and scores the held-out part the way ``rasa test nlu`` does
(the FallbackClassifier's ``nlu_fallback`` is undone, so the classifier itself is scored). Prints
intent macro-F1, accuracy, training seconds and the worst intents per configuration. Faster than
``make crossval`` for choosing settings because it skips Rasa's train-set evaluation and can run on
a subset of the folds; ``make crossval`` stays the figure of record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def folds(data, n: int, seed: int):
    """Seeded, stratified (train, test) splits of Rasa training data."""
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    examples = data.intent_examples
    labels = [e.get_full_intent() for e in examples]
    splitter = StratifiedKFold(n_splits=n, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(examples, labels):
        extra = dict(entity_synonyms=data.entity_synonyms, regex_features=data.regex_features,
                     lookup_tables=data.lookup_tables)
        yield (TrainingData(training_examples=[examples[i] for i in train_index], **extra),
               TrainingData(training_examples=[examples[i] for i in test_index], **extra))


async def predict(processor, test) -> list[tuple[str, str, float]]:
    """(true intent, predicted intent, confidence) for each held-out example, fallback undone."""
    from rasa.core.channels import UserMessage
    from rasa.nlu.classifiers import fallback_classifier

    rows = []
    for example in test.intent_examples:
        result = await processor.parse_message(UserMessage(text=example.get("text")), only_output_properties=False)
        if fallback_classifier.is_fallback_classifier_prediction(result):
            result = fallback_classifier.undo_fallback_prediction(result)
        intent = result.get("intent") or {}
        rows.append((example.get("intent"), intent.get("name") or "", float(intent.get("confidence") or 0)))
    return rows


def evaluate(config: Path, data, n: int, use: list[int], seed: int) -> dict:
    import rasa.model_training
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from sklearn.metrics import f1_score

    rows: list[tuple[str, str, float]] = []
    texts: list[str] = []
    train_seconds = 0.0
    for index, (train, test) in enumerate(folds(data, n, seed)):
        if index not in use:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            train_file = Path(tmp) / "train.yml"
            RasaYAMLWriter().dump(train_file, train)
            started = time.perf_counter()
            model = rasa.model_training.train_nlu(str(config), str(train_file), tmp)
            train_seconds += time.perf_counter() - started
            processor = Agent.load(model).processor
            rows += asyncio.run(predict(processor, test))
            texts += [e.get("text") for e in test.intent_examples]
    truth = [r[0] for r in rows]
    guess = [r[1] for r in rows]
    labels = sorted(set(truth))
    per_intent = f1_score(truth, guess, labels=labels, average=None, zero_division=0)
    confusions = Counter((t, g) for t, g, _ in rows if t != g)
    return {
        "config": str(config),
        "examples": len(rows),
        "macro_f1": round(float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0)), 4),
        "accuracy": round(sum(t == g for t, g in zip(truth, guess, strict=True)) / max(1, len(rows)), 4),
        "low_confidence_share": round(sum(c < 0.45 for _, _, c in rows) / max(1, len(rows)), 4),
        "train_s_per_fold": round(train_seconds / max(1, len(use)), 1),
        # why: topic questions (ask_*) and conversation management behave very differently.
        "topic_macro_f1": round(float(sum(f for f, i in zip(per_intent, labels, strict=True) if i.startswith("ask_"))
                                      / max(1, sum(i.startswith("ask_") for i in labels))), 4),
        "other_macro_f1": round(float(sum(f for f, i in zip(per_intent, labels, strict=True)
                                          if not i.startswith("ask_"))
                                      / max(1, sum(not i.startswith("ask_") for i in labels))), 4),
        "worst": sorted(((round(float(f), 3), i) for f, i in zip(per_intent, labels, strict=True)))[:12],
        "confusions": [(t, g, c) for (t, g), c in confusions.most_common(20)],
        "errors": [(t, g, round(c, 2), x) for (t, g, c), x in zip(rows, texts, strict=True) if t != g],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--use", type=int, nargs="*", help="fold indices to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="append each result as a JSON line to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING)
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(args.nlu)
    use = args.use if args.use else list(range(args.folds))
    for config in args.configs:
        result = evaluate(config, data, args.folds, use, args.seed)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
