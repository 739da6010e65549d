"""Training run pieces that need no model: hashes, the held-out split, progress, comparison, activation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.signing import sign_model
from console.nlu_files import NluRepository
from console.training import (
    LogProgress,
    TrainingError,
    TrainingManager,
    compare,
    content_hash,
    hash_of_model,
    in_test_fold,
    make_snapshot,
    project_files,
    read_intent_report,
    split_heldout,
)
from tests.console.support import csrf_of, flashes, post_form, sign_in


def test_content_hash_is_the_makefiles_model_hash(project, settings):
    shell = subprocess.run(
        "find data config.yml domain.yml -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12",
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert content_hash(project_files(settings)) == shell


def test_snapshot_is_keyed_by_hash_and_reused(settings):
    first_hash, first = make_snapshot(settings)
    again_hash, again = make_snapshot(settings)
    assert (first_hash, first) == (again_hash, again)
    assert (first / "data" / "nlu" / "pension.yml").read_bytes() == (settings.nlu_dir / "pension.yml").read_bytes()
    assert content_hash(project_files(settings)) == first_hash
    assert hash_of_model(f"models/rs-{first_hash}.tar.gz") == first_hash
    assert hash_of_model("other.tar.gz") is None


def test_heldout_split_is_stable_and_disjoint(settings, tmp_path):
    _, snapshot = make_snapshot(settings)
    counts = split_heldout(snapshot, tmp_path / "a", 0.2)
    again = split_heldout(snapshot, tmp_path / "b", 0.2)
    assert counts == again
    assert (tmp_path / "a" / "test.yml").read_bytes() == (tmp_path / "b" / "test.yml").read_bytes()
    total = sum(len(i.examples) for i in NluRepository(settings.nlu_dir).load().intents.values())
    assert counts["train"] + counts["test"] == total
    assert 0.1 * total < counts["test"] < 0.3 * total
    train = {e.text for _, e in NluRepository(tmp_path / "a" / "train").load().all_examples()}
    test = {e.text for _, e in NluRepository_from_file(tmp_path / "a" / "test.yml").all_examples()}
    assert not train & test
    # synonyms and lookups stay in the training files
    assert (tmp_path / "a" / "train" / "entities.yml").read_bytes() == (snapshot / "data/nlu/entities.yml").read_bytes()


def NluRepository_from_file(path: Path):  # noqa: N802 - reads like the class it wraps
    directory = path.parent / "only-test"
    directory.mkdir(exist_ok=True)
    (directory / path.name).write_bytes(path.read_bytes())
    return NluRepository(directory).load()


def test_fold_assignment_depends_only_on_the_sentence():
    assert in_test_fold("深圳养老金多少", 0.2) == in_test_fold("深圳 养老金，多少？", 0.2)
    share = sum(in_test_fold(f"句子{i}", 0.2) for i in range(2000)) / 2000
    assert 0.15 < share < 0.25


LOG = (
    "INFO rasa.engine.training.hooks - Starting to train component 'JiebaTokenizer'.\n"
    "INFO rasa.engine.training.hooks - Finished training component 'JiebaTokenizer'.\n"
    "INFO rasa.engine.training.hooks - Starting to train component 'DIETClassifier'.\n"
    "Epochs:   0%|          | 0/100 [00:00<?, ?it/s]\rEpochs:  50%|█████     | 50/100 [00:30<00:30]"
)


def test_log_progress_follows_components_and_epochs():
    progress = LogProgress()
    progress.feed(LOG[:100])
    early = progress.fraction
    for start in range(100, len(LOG), 7):
        progress.feed(LOG[start : start + 7])
    whole = LogProgress()
    whole.feed(LOG)
    assert 0 == early < progress.fraction == whole.fraction < 0.5
    assert "DIETClassifier" in progress.label and "50%" in progress.label
    progress.feed("Finished training component 'DIETClassifier'.\nRestored component 'TEDPolicy' from cache.\n")
    assert progress.fraction > 0.85
    progress.feed("Starting to train component 'DIETClassifier'.\n")
    assert progress.fraction > 0.85, "progress never goes back"


def heldout(weighted: float, per_intent: dict[str, float]) -> dict:
    return {
        "weighted_f1": weighted,
        "macro_f1": weighted,
        "accuracy": weighted,
        "per_intent": {k: {"f1": v, "support": 5} for k, v in per_intent.items()},
        "errors": [],
    }


@pytest.mark.parametrize(
    ("live", "candidate", "live_set", "cand_set", "verdict"),
    [
        (heldout(0.90, {"a": 0.9}), heldout(0.90, {"a": 0.9}), None, None, "not_worse"),
        (heldout(0.90, {"a": 0.9}), heldout(0.895, {"a": 0.89}), None, None, "not_worse"),
        (heldout(0.90, {"a": 0.9}), heldout(0.85, {"a": 0.8}), None, None, "worse"),
        (
            heldout(0.90, {"a": 0.9}),
            heldout(0.92, {"a": 0.95}),
            {"passed": 50, "total": 60},
            {"passed": 49, "total": 60},
            "worse",
        ),
        (
            None,
            heldout(0.92, {"a": 0.95}),
            {"passed": 50, "total": 60},
            {"passed": 50, "total": 60},
            "not_worse",
        ),
        (None, heldout(0.92, {"a": 0.95}), None, None, "unknown"),
    ],
    ids=["equal", "within-tolerance", "f1-drop", "evalset-drop", "evalset-only", "no-baseline"],
)
def test_verdict(live, candidate, live_set, cand_set, verdict):
    assert compare(live, candidate, live_set, cand_set, tolerance=0.01)["verdict"] == verdict


def test_evaluation_set_regressions_are_named():
    live = {"passed": 2, "total": 3, "failures": ["q3"]}
    candidate = {"passed": 2, "total": 3, "failures": ["q1"]}
    result = compare(None, None, live, candidate, 0.01)
    assert (result["verdict"], result["evalset_newly_failed"], result["evalset_newly_passed"]) == (
        "not_worse",
        ["q1"],
        ["q3"],
    )


def test_comparison_rows_say_what_got_better_or_worse():
    result = compare(
        heldout(0.8, {"a": 0.9, "b": 0.5, "c": 0.7}),
        heldout(0.8, {"a": 0.7, "b": 0.8, "d": 1.0}),
        None,
        None,
        0.01,
    )
    rows = {r["intent"]: r for r in result["rows"]}
    assert (rows["a"]["change"], rows["b"]["change"], rows["c"]["change"], rows["d"]["change"]) == (
        "worse",
        "better",
        "gone",
        "new",
    )
    assert result["better"] == ["b"] and result["worse"] == ["a"]
    assert rows["a"]["delta"] == pytest.approx(-0.2)


def test_read_intent_report(tmp_path):
    (tmp_path / "intent_report.json").write_text(
        json.dumps(
            {
                "ask_pension": {
                    "precision": 1.0,
                    "recall": 0.5,
                    "f1-score": 0.667,
                    "support": 4,
                    "confused_with": {"ask_retirement": 2},
                },
                "accuracy": 0.8,
                "macro avg": {"precision": 0.8, "recall": 0.8, "f1-score": 0.75, "support": 10},
                "weighted avg": {"precision": 0.8, "recall": 0.8, "f1-score": 0.78, "support": 10},
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "intent_errors.json").write_text(
        json.dumps(
            [
                {
                    "text": "打13812345678问养老金",
                    "intent": "ask_pension",
                    "intent_prediction": {"name": "ask_retirement", "confidence": 0.6},
                }
            ]
        ),
        encoding="utf-8",
    )
    report = read_intent_report(tmp_path)
    assert (report["accuracy"], report["weighted_f1"], report["macro_f1"]) == (0.8, 0.78, 0.75)
    assert report["per_intent"]["ask_pension"]["f1"] == 0.667
    assert report["errors"] == [
        {
            "text": "打[手机号]问养老金",
            "intent": "ask_pension",
            "predicted": "ask_retirement",
            "confidence": 0.6,
        }
    ]


# --- activation and rollback (fake bot) -------------------------------------------------------------------


def finished_run(store, settings, name: str, verdict: str) -> int:
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / name).write_bytes(b"model")
    sign_model(settings.models_dir / name)
    run = store.create_run("trainer1")
    store.update_run(
        run.id,
        status="done",
        model_name=name,
        progress=100.0,
        report={
            "model": name,
            "comparison": {"verdict": verdict, "rows": [], "reasons": ["测试"], "better": [], "worse": []},
        },
    )
    return run.id


@pytest.mark.parametrize(("verdict", "allowed"), [("not_worse", True), ("worse", False), ("unknown", False)])
def test_admin_activates_only_a_model_that_is_not_worse(server, store, settings, users, fake_rasa, verdict, allowed):
    run_id = finished_run(store, settings, "rs-aaaaaaaaaaaa.tar.gz", verdict)
    admin = sign_in(server.url, users["admin"])
    response = post_form(admin, server.url, f"/training/{run_id}", f"/training/{run_id}/activate", {})
    assert response.status_code == 303
    page = admin.get(server.url + f"/training/{run_id}").text
    loads = [c for c in fake_rasa.calls if c[0] == "load_model"]
    if allowed:
        assert loads == [("load_model", str(settings.models_dir / "rs-aaaaaaaaaaaa.tar.gz"))]
        assert (settings.models_dir / "ACTIVE").read_text() == "rs-aaaaaaaaaaaa.tar.gz\n"
        activation = store.activations()[0]
        assert (activation.kind, activation.model_name, activation.previous_model, activation.by) == (
            "activate",
            "rs-aaaaaaaaaaaa.tar.gz",
            "rs-000000000000.tar.gz",
            "admin1",
        )
        assert store.audit_entries(action="model_activate")[0].target == "rs-aaaaaaaaaaaa.tar.gz"
        assert any("已启用新模型" in f for f in flashes(page))
    else:
        assert loads == []
        assert any("不能启用" in f for f in flashes(page))


def test_trainer_cannot_activate_and_sees_no_button(server, store, settings, users, fake_rasa):
    run_id = finished_run(store, settings, "rs-bbbbbbbbbbbb.tar.gz", "not_worse")
    trainer = sign_in(server.url, users["trainer"])
    page = trainer.get(server.url + f"/training/{run_id}").text
    assert 'id="activate"' not in page
    response = trainer.post(
        server.url + f"/training/{run_id}/activate", data={"csrf_token": csrf_of(page)}, allow_redirects=False
    )
    assert response.status_code == 403
    assert not [c for c in fake_rasa.calls if c[0] == "load_model"]


def test_rollback_loads_an_earlier_model(server, store, settings, users, fake_rasa):
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / "rs-000000000000.tar.gz").write_bytes(b"old")
    sign_model(settings.models_dir / "rs-000000000000.tar.gz")
    run_id = finished_run(store, settings, "rs-cccccccccccc.tar.gz", "not_worse")
    admin = sign_in(server.url, users["admin"])
    post_form(admin, server.url, f"/training/{run_id}", f"/training/{run_id}/activate", {})
    response = post_form(admin, server.url, "/training", "/models/rollback", {"model": "rs-000000000000.tar.gz"})
    assert response.status_code == 303
    assert fake_rasa.model_file.endswith("rs-000000000000.tar.gz")
    assert [a.kind for a in store.activations()] == ["rollback", "activate"]
    assert (settings.models_dir / "ACTIVE").read_text() == "rs-000000000000.tar.gz\n"


@pytest.mark.parametrize("name", ["../config.yml", "/etc/passwd", "rs-missing.tar.gz"])
def test_rollback_refuses_paths_outside_models(settings, store, fake_rasa, name, run_async):
    manager = TrainingManager(settings, store, fake_rasa)
    with pytest.raises(TrainingError):
        run_async(manager.rollback(name, "admin1"))


def test_an_unsigned_or_altered_model_is_never_loaded(settings, store, fake_rasa, run_async):
    run_id = finished_run(store, settings, "rs-ffffffffffff.tar.gz", "not_worse")
    (settings.models_dir / "rs-ffffffffffff.tar.gz").write_bytes(b"swapped")
    with pytest.raises(TrainingError, match="校验失败"):
        run_async(TrainingManager(settings, store, fake_rasa).activate(run_id, "admin1"))
    assert not [c for c in fake_rasa.calls if c[0] == "load_model"]


def test_a_failed_load_is_reported_and_not_recorded(settings, store, fake_rasa, run_async):
    finished = finished_run(store, settings, "rs-dddddddddddd.tar.gz", "not_worse")
    fake_rasa.fail_load = True
    with pytest.raises(TrainingError):
        run_async(TrainingManager(settings, store, fake_rasa).activate(finished, "admin1"))
    assert store.activations() == []


def test_live_snapshot_is_kept_when_the_files_are_the_live_models(settings, store, fake_rasa, run_async):
    data_hash = content_hash(project_files(settings))
    fake_rasa.model_file = f"/somewhere/models/rs-{data_hash}.tar.gz"
    assert run_async(TrainingManager(settings, store, fake_rasa).ensure_live_snapshot()) == data_hash
    assert (settings.snapshots_dir / data_hash / ".complete").exists()


def test_training_pages_render(server, store, settings, users):
    run_id = finished_run(store, settings, "rs-eeeeeeeeeeee.tar.gz", "worse")
    trainer = sign_in(server.url, users["trainer"])
    assert trainer.get(server.url + "/training").status_code == 200
    status = trainer.get(server.url + f"/training/{run_id}/status.json").json()
    assert (status["status"], status["progress"], status["finished"]) == ("done", 100.0, True)
    page = trainer.get(server.url + f"/training/{run_id}").text
    assert "比线上差" in page
