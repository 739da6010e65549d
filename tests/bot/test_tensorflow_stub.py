"""bot.speedups.stub_tensorflow: a model without TensorFlow components runs without TensorFlow loaded.

Each case runs in a fresh interpreter: this test process has imported Rasa, and so the real TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bot.speedups import TF_FREE_COMPONENTS, graph_classes

ROOT = Path(__file__).resolve().parents[2]


def _fake_model(path: Path, classes: list[str]) -> Path:
    metadata = path.parent / "metadata.json"
    metadata.write_text(json.dumps({"predict_schema": {"nodes": {
        f"node_{i}": {"uses": name} for i, name in enumerate(classes)}}}), encoding="utf-8")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(metadata, arcname="metadata.json")
    return path


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_trained_model_needs_no_tensorflow(bot_model):
    classes = graph_classes(bot_model)
    assert classes and classes <= TF_FREE_COMPONENTS, sorted(classes - TF_FREE_COMPONENTS)


@pytest.mark.parametrize(("classes", "stubbed"), [
    (["rasa.core.policies.rule_policy.RulePolicy"], True),
    (["rasa.core.policies.rule_policy.RulePolicy", "rasa.core.policies.ted_policy.TEDPolicy"], False),
    (["rasa.nlu.classifiers.diet_classifier.DIETClassifier"], False),
    ([], False),  # nothing readable: keep the real TensorFlow
])
def test_stub_only_for_a_model_without_tensorflow_components(tmp_path, classes, stubbed):
    model = _fake_model(tmp_path / "m.tar.gz", classes)
    done = _python(f"import sys; from bot import speedups; print(speedups.stub_tensorflow({str(model)!r})); "
                   "print('tensorflow' in sys.modules)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(stubbed), "False"]


def test_rasa_runs_the_real_model_on_the_stub_and_refuses_one_that_needs_tensorflow(bot_model, tmp_path):
    ted = _fake_model(tmp_path / "ted.tar.gz", ["rasa.core.policies.ted_policy.TEDPolicy"])
    code = f"""
import asyncio, pathlib
from bot import speedups
assert speedups.stub_tensorflow({bot_model!r})
from rasa.core.agent import Agent
import tensorflow
assert tensorflow.__rasa_stub__
agent = Agent.load({bot_model!r})
print("OUT", asyncio.run(agent.parse_message("深圳社保卡怎么补办"))["intent"]["name"])
print("OUT", asyncio.run(agent.handle_text("你好"))[0]["text"][:5])
import rasa.engine.loader as loader
try:
    loader.load_predict_graph_runner(pathlib.Path({str(tmp_path)!r}), pathlib.Path({str(ted)!r}), None, None)
except RuntimeError as error:
    print("OUT refused", "needs TensorFlow" in str(error))
maps = pathlib.Path("/proc/self/maps").read_text()
print("OUT", "libtensorflow" in maps)
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    # why: Rasa logs to stdout as well; our lines carry a prefix.
    out = [line[4:] for line in done.stdout.splitlines() if line.startswith("OUT ")]
    assert out == ["ask_social_security_card", "您好！我是", "refused True", "False"]
