"""Seeded 5-fold cross-validation of a scikit-learn replica of the NLU pipeline, in seconds.

``python -m bench.nlu_fast [--seeds 0 1] [--no-rules] [--errors]`` rebuilds the features of ``config.yml``
without Rasa: jieba tokens (with ``data/dict``), word 1-2-gram and character (char_wb) 1-4-gram counts, the
knowledge-base topic scores of ``bot.nlu.topic_features``, a linear SVM (C=0.1), then the IntentGuard rules
(``bot.nlu.components.rule_intent``). It prints intent macro-F1 per seed, the weakest intents and the top
confusions; ``--errors`` lists every held-out mistake (true, predicted, text) for whoever edits the examples.

It takes about 20 s where ``make crossval`` takes about 6 minutes, so it is the tool for trying data edits and
settings; ``make crossval`` (Rasa's own run of the real pipeline) stays the figure of record. The two agree
within about half a point.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULE_INTENTS = {"option": "select_option", "injection": "prompt_injection", "fraud": "request_fraud"}


def load(nlu: Path):
    """(texts, intents, jieba-joined texts, topic-score matrix) of the NLU examples."""
    import jieba
    import numpy as np
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.topic_features import bm25_weights, terms

    jieba.setLogLevel(60)
    for path in sorted((ROOT / "data" / "dict").glob("*")):
        jieba.load_userdict(str(path))
    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("text")]
    texts = [e.get("text") for e in examples]
    intents = np.array([e.get("intent") for e in examples])
    joined = [" ".join(t for t in jieba.lcut(x.lower()) if t.strip()) for x in texts]
    documents = json.loads((ROOT / "data" / "topics" / "topics.json").read_text(encoding="utf-8"))
    topic_intents, weights = bm25_weights(documents)
    rows = {t: np.asarray(w, dtype=np.float32) for t, w in weights.items()}

    def scores(text: str):
        total = np.zeros(len(topic_intents), dtype=np.float32)
        for term in set(terms(text)):
            if term in rows:
                total += rows[term]
        return np.log1p(total)

    return texts, intents, joined, np.stack([scores(x) for x in texts])


def crossval(texts, intents, joined, topics, seed: int, c: float, chars: tuple[int, int], rules: bool):
    """(true, predicted, text) for every example, each predicted by a model that did not see it."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    from bot.nlu.components import rule_intent

    topics = sp.csr_matrix(topics)
    rows = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(texts, intents):
        words = CountVectorizer(tokenizer=str.split, lowercase=False, token_pattern=None, ngram_range=(1, 2))
        grams = CountVectorizer(analyzer="char_wb", ngram_range=chars)
        fit = [joined[i] for i in train]
        held = [joined[i] for i in test]
        x_train = sp.hstack([words.fit_transform(fit), grams.fit_transform(fit), topics[train]]).tocsr()
        x_test = sp.hstack([words.transform(held), grams.transform(held), topics[test]]).tocsr()
        predicted = LinearSVC(C=c, random_state=42, max_iter=5000).fit(x_train, intents[train]).predict(x_test)
        for index, guess in zip(test, predicted, strict=True):
            rule = rule_intent(texts[index]) if rules else None
            rows.append((intents[index], RULE_INTENTS[rule] if rule else guess, texts[index]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlu", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--C", type=float, default=0.1)
    parser.add_argument("--chars", type=int, nargs=2, default=(1, 4), metavar=("MIN", "MAX"))
    parser.add_argument("--no-rules", action="store_true", help="score the classifier alone")
    parser.add_argument("--errors", action="store_true", help="list the held-out mistakes")
    args = parser.parse_args(argv)
    from sklearn.metrics import f1_score

    data = load(args.nlu)
    for seed in args.seeds:
        rows = crossval(*data, seed, args.C, tuple(args.chars), not args.no_rules)
        truth, guess = [r[0] for r in rows], [r[1] for r in rows]
        labels = sorted(set(truth))
        per_intent = f1_score(truth, guess, labels=labels, average=None, zero_division=0)
        accuracy = sum(t == g for t, g in zip(truth, guess, strict=True)) / len(rows)
        print(f"seed {seed}: {len(rows)} examples, intent macro-F1 {per_intent.mean():.4f}, accuracy {accuracy:.4f}")
        worst = sorted(zip(per_intent, labels, strict=True))[:10]
        print("  weakest: " + ", ".join(f"{label} {f:.2f}" for f, label in worst))
        confusions = Counter((t, g) for t, g, _ in rows if t != g).most_common(10)
        print("  confusions: " + ", ".join(f"{t}->{g} {n}" for (t, g), n in confusions))
        if args.errors:
            for true, predicted, text in sorted(r for r in rows if r[0] != r[1]):
                print(f"{true}\t{predicted}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
