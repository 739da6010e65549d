"""5-fold cross-validation of the NLU pipeline: intent and entity macro-F1, top confusions; prints a table.

``python -m bench.crossval`` (``make crossval``) runs ``rasa test nlu --cross-validation --folds 5`` on
``data/nlu`` with ``config.yml`` (five NLU trainings), reads the accumulated out-of-fold reports Rasa
writes (``intent_report.json``, ``<Extractor>_report.json``) and stores a summary in
``results/crossval.json`` together with a hash of what the NLU model is trained from.
``--reuse`` returns that summary without training when the hash still matches (what ``make bench``
does, so a ``make crossval`` run just before is not repeated).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "crossval"
SUMMARY = ROOT / "results" / "crossval.json"
# why: everything that changes the NLU model's predictions; the policies do not matter here.
INPUTS = ("config.yml", "data/nlu", "data/dict", "data/topics", "bot/nlu/components.py", "bot/nlu/intent_classifier.py",
          "bot/nlu/topic_features.py")

logger = logging.getLogger("bench.crossval")


def nlu_hash(root: Path = ROOT) -> str:
    """Content hash of the NLU inputs (file names and bytes), 12 hex digits."""
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


def top_confusions(intent_report: dict, n: int = 10) -> list[dict]:
    """The ``n`` most frequent (true intent -> predicted intent) errors of a Rasa intent report."""
    pairs = []
    for intent, row in intent_report.items():
        if not isinstance(row, dict):
            continue
        for other, count in (row.get("confused_with") or {}).items():
            pairs.append({"intent": intent, "predicted": other, "count": int(count)})
    pairs.sort(key=lambda p: (-p["count"], p["intent"], p["predicted"]))
    return pairs[:n]


def summarise_reports(out_dir: Path) -> dict:
    """Intent and entity macro / weighted F1 from the report files Rasa wrote into ``out_dir``."""
    intents = json.loads((out_dir / "intent_report.json").read_text(encoding="utf-8"))
    summary = {
        "intent_macro_f1": round(intents["macro avg"]["f1-score"], 4),
        "intent_weighted_f1": round(intents["weighted avg"]["f1-score"], 4),
        "intent_accuracy": round(intents.get("accuracy", float("nan")), 4),
        "intent_examples": int(intents["macro avg"]["support"]),
        "top_confusions": top_confusions(intents),
        "entities": {},
    }
    errors_path = out_dir / "intent_errors.json"
    threshold = fallback_threshold()
    if errors_path.is_file() and threshold is not None:
        # why: Rasa scores the top intent even where the FallbackClassifier would answer nlu_fallback;
        # in the bot those messages go to the clarifying search, so count the confident mistakes apart.
        errors = json.loads(errors_path.read_text(encoding="utf-8"))
        confident = [e for e in errors if (e.get("intent_prediction") or {}).get("confidence", 0) >= threshold]
        summary["fallback_threshold"] = threshold
        summary["errors"] = len(errors)
        summary["confident_errors"] = len(confident)
        summary["confident_error_rate"] = round(len(confident) / max(1, summary["intent_examples"]), 4)
    for report in sorted(out_dir.glob("*_report.json")):
        if report.name in ("intent_report.json", "response_selection_report.json"):
            continue
        data = json.loads(report.read_text(encoding="utf-8"))
        if "macro avg" in data:
            summary["entities"][report.name.removesuffix("_report.json")] = {
                "macro_f1": round(data["macro avg"]["f1-score"], 4),
                "weighted_f1": round(data["weighted avg"]["f1-score"], 4),
            }
    return summary


def fallback_threshold(config: Path = ROOT / "config.yml") -> float | None:
    """The FallbackClassifier threshold of ``config.yml`` (None without one)."""
    import yaml

    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    for component in pipeline:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return None


def run_crossval(folds: int = 5, out_dir: Path = RESULTS, log: Path | None = None) -> dict:
    """Run Rasa's cross-validation (``folds`` NLU trainings) and return the summary (also stored).

    Rasa's output (progress bars included) goes to ``log`` when given, else to this terminal.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    rasa = Path(sys.executable).with_name("rasa")
    argv = [str(rasa), "test", "nlu", "--cross-validation", "--folds", str(folds), "--config", "config.yml",
            "--nlu", "data/nlu", "--out", str(out_dir), "--no-plot", "--quiet"]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    digest = nlu_hash()
    started = time.perf_counter()
    if log is None:
        subprocess.run(argv, cwd=ROOT, env=env, check=True)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as handle:
            subprocess.run(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True)
    summary = {"nlu_hash": digest, "folds": folds, "seconds": round(time.perf_counter() - started, 1),
               **summarise_reports(out_dir)}
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def cached(folds: int = 5) -> dict | None:
    """The stored summary when it was made from the current NLU inputs with ``folds`` folds."""
    try:
        summary = json.loads(SUMMARY.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if summary.get("nlu_hash") == nlu_hash() and summary.get("folds") == folds else None


def print_table(summary: dict, out=sys.stdout) -> None:
    print(f"{summary['folds']}-fold cross-validation ({summary['intent_examples']} examples, "
          f"{summary['seconds']:.0f}s, NLU inputs {summary['nlu_hash']})", file=out)
    print(f"  intent macro-F1     {summary['intent_macro_f1']:.3f}", file=out)
    print(f"  intent weighted-F1  {summary['intent_weighted_f1']:.3f}", file=out)
    if "confident_errors" in summary:
        print(f"  errors              {summary['errors']} ({summary['confident_errors']} with confidence >= "
              f"{summary['fallback_threshold']}: {summary['confident_error_rate']:.1%} of examples; the rest "
              f"go to the fallback in the bot)", file=out)
    for name, row in summary["entities"].items():
        print(f"  entities {name:24} macro-F1 {row['macro_f1']:.3f}  weighted-F1 {row['weighted_f1']:.3f}",
              file=out)
    print("  top confusions (true -> predicted: count):", file=out)
    for pair in summary["top_confusions"]:
        print(f"    {pair['intent']:28} -> {pair['predicted']:28} {pair['count']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="reuse results/crossval.json if still current")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    args = parser.parse_args(argv)
    summary = (cached(args.folds) if args.reuse else None) or run_crossval(args.folds)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
