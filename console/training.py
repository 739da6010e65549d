"""Retraining from the console: background training, evaluation, activation and rollback.

A training run (one at a time; table ``console_training_runs``):

1. **Snapshot** ``config.yml``, ``domain.yml`` and ``data/`` (with the console's NLU directory) into
   ``<var>/console/snapshots/<hash>/``. ``<hash>`` is computed exactly like the Makefile's
   ``MODEL_HASH``, so the candidate is ``models/rs-<hash>.tar.gz`` — the file ``make run`` would
   load for the same data — and the snapshot doubles as the record of what that model learnt.
2. **Train** ``rasa train`` in the snapshot directory into ``models/`` (skipped when the file already
   exists), in a subprocess whose log gives the progress bar (components started/finished, epochs).
3. **Held-out evaluation**: a deterministic split (an example is in the test fold when a hash of its
   normalised text says so; about :attr:`ConsoleSettings.heldout_fraction`, only intents with 5+
   examples), ``rasa train nlu`` on the rest and ``rasa test nlu`` on the fold. The same is done for
   the live model's snapshot (cached per data hash in ``console_evaluations``), so both sides are
   measured the same way; per-intent F1 are compared side by side.
4. **Evaluation set** (when ``tests/eval/questions.yml`` exists and ``CONSOLE_EVAL_SET`` is not
   ``off``): the candidate — and the live model, cached per model — runs on a spare port with its
   own action server and tracker file, and ``evaluation/runner.py`` scores it.
5. **Verdict**: *not worse* when the candidate's weighted F1 is at least the live one minus
   ``f1_tolerance`` and it passes at least as many evaluation questions. Without any baseline the
   verdict is "unknown" and activation is refused.

The candidate is signed like ``make train`` does (``bot.signing``); activation and rollback load
only a model whose manifest verifies. Activation (admin, verdict not worse) is ``PUT /model`` on the
running bot — no restart — recorded in ``console_model_activations`` and in ``models/ACTIVE``; every
model file stays in ``models/`` so a rollback is another ``PUT /model``.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from bot.sanitize import mask_pii
from bot.signing import ModelRejected, manifest_path, sign_model, verify_model
from console.checks import normalise, rasa_env, rasa_validate, read_tail
from console.nlu_files import NluFile, parse_example
from console.rasa_client import RasaClient
from console.settings import REPO_ROOT, ConsoleSettings
from console.store import Store, TrainingRun, utcnow

logger = logging.getLogger(__name__)

EVAL_QUESTIONS = REPO_ROOT / "tests" / "eval" / "questions.yml"
EVAL_RUNNER = REPO_ROOT / "tests" / "eval" / "runner.py"
MIN_EXAMPLES_FOR_TEST_FOLD = 5
TRAIN_TIMEOUT = 4 * 3600
SAME = 0.005  # per-intent F1 changes smaller than this are shown as unchanged


class TrainingError(RuntimeError):
    """A refused or failed training operation; the message is for the page."""


# --- content hash and snapshots ------------------------------------------------------------------


def project_files(settings: ConsoleSettings) -> dict[str, Path]:
    """Relative path (as in the repository) -> file, for everything a model is trained from."""
    files: dict[str, Path] = {}
    for name in ("config.yml", "domain.yml"):
        path = settings.project_root / name
        if path.is_file():
            files[name] = path
    data_dir = settings.data_dir
    nlu_inside = _inside(settings.nlu_dir, data_dir)
    if data_dir.is_dir():
        for path in data_dir.rglob("*"):
            if not path.is_file():
                continue
            if not nlu_inside and _inside(path, data_dir / "nlu"):
                continue
            files[path.relative_to(settings.project_root).as_posix()] = path
    if not nlu_inside:
        for path in settings.nlu_dir.rglob("*"):
            if path.is_file():
                files["data/nlu/" + path.relative_to(settings.nlu_dir).as_posix()] = path
    return files


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def content_hash(files: dict[str, Path]) -> str:
    """The Makefile's ``MODEL_HASH``: ``find data config.yml domain.yml -type f | LC_ALL=C sort |
    xargs sha256sum | sha256sum | cut -c1-12``."""
    listing = "".join(
        f"{hashlib.sha256(files[name].read_bytes()).hexdigest()}  {name}\n"
        for name in sorted(files, key=lambda n: n.encode("utf-8"))
    )
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()[:12]


def model_name_for(data_hash: str) -> str:
    return f"rs-{data_hash}.tar.gz"


def hash_of_model(model_name: str | None) -> str | None:
    match = re.match(r"^rs-([0-9a-f]{12})\.tar\.gz$", Path(model_name or "").name)
    return match.group(1) if match else None


def make_snapshot(settings: ConsoleSettings) -> tuple[str, Path]:
    """Copy the training inputs to ``snapshots/<hash>/`` (once per hash); return the hash and the dir."""
    files = project_files(settings)
    data_hash = content_hash(files)
    target = settings.snapshots_dir / data_hash
    if not (target / ".complete").exists():
        tmp = settings.snapshots_dir / f".{data_hash}.{uuid.uuid4().hex[:6]}"
        for name, path in files.items():
            dest = tmp / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        (tmp / ".complete").write_text(utcnow().isoformat(), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    return data_hash, target


# --- held-out split ------------------------------------------------------------------------------------


def in_test_fold(text: str, fraction: float) -> bool:
    """Stable fold assignment: the same sentence is always on the same side, whatever its intent."""
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split_heldout(snapshot: Path, workdir: Path, fraction: float) -> dict[str, int]:
    """Write ``workdir/train/*.yml`` (all NLU files minus the test fold) and ``workdir/test.yml``."""
    train_dir = workdir / "train"
    shutil.rmtree(train_dir, ignore_errors=True)
    train_dir.mkdir(parents=True)
    test_lines = ['version: "3.1"', "nlu:"]
    counts = {"train": 0, "test": 0}
    for path in sorted((snapshot / "data" / "nlu").glob("*.yml")):
        nf = NluFile.load(path)
        for name, block in nf.intents.items():
            lines = block.lines()
            positions = block.example_positions()
            raws = block.raw_examples()
            test = []
            if len(raws) >= MIN_EXAMPLES_FOR_TEST_FOLD:
                test = [i for i, raw in enumerate(raws) if in_test_fold(parse_example(raw).text, fraction)]
                # why: an intent must keep most of its examples for training.
                test = test[: max(1, len(raws) // 3)]
            if test:
                drop = {positions[i] for i in test}
                block.set_lines([line for n, line in enumerate(lines) if n not in drop])
                test_lines.append(f"- intent: {name}")
                test_lines.append("  examples: |")
                test_lines += [f"    - {raws[i]}" for i in test]
            counts["test"] += len(test)
            counts["train"] += len(raws) - len(test)
        (train_dir / path.name).write_text(nf.dump(), encoding="utf-8")
    (workdir / "test.yml").write_text("\n".join(test_lines) + "\n", encoding="utf-8")
    return counts


def read_intent_report(report_dir: Path) -> dict:
    """Summary of ``rasa test nlu`` output: accuracy, weighted/macro F1, per intent, errors (masked)."""
    report = json.loads((report_dir / "intent_report.json").read_text(encoding="utf-8"))
    per_intent = {}
    for name, row in report.items():
        if isinstance(row, dict) and "f1-score" in row and name not in ("macro avg", "weighted avg", "micro avg"):
            per_intent[name] = {
                "f1": round(float(row["f1-score"]), 4),
                "precision": round(float(row["precision"]), 4),
                "recall": round(float(row["recall"]), 4),
                "support": int(row.get("support", 0)),
                "confused_with": row.get("confused_with") or {},
            }
    errors = []
    errors_path = report_dir / "intent_errors.json"
    if errors_path.exists():
        for item in json.loads(errors_path.read_text(encoding="utf-8")):
            prediction = item.get("intent_prediction") or {}
            errors.append(
                {
                    "text": mask_pii(str(item.get("text", "")))[0],
                    "intent": item.get("intent"),
                    "predicted": prediction.get("name"),
                    "confidence": round(float(prediction.get("confidence") or 0), 3),
                }
            )
    weighted = report.get("weighted avg", {})
    macro = report.get("macro avg", {})
    return {
        "accuracy": round(float(report.get("accuracy", 0.0)), 4),
        "weighted_f1": round(float(weighted.get("f1-score", 0.0)), 4),
        "macro_f1": round(float(macro.get("f1-score", 0.0)), 4),
        "per_intent": per_intent,
        "errors": errors,
    }


# --- progress from the training log ---------------------------------------------------------------------

_STARTED = re.compile(r"Starting to train component '(\w+)'")
_FINISHED = re.compile(r"(?:Finished training component|Restored component) '(\w+)'")
_EPOCHS = re.compile(r"Epochs:\s+(\d+)%")
# Share of the training time of the components that train for many epochs; the rest share 15%.
HEAVY = {"DIETClassifier": 0.55, "LinearIntentClassifier": 0.1, "TEDPolicy": 0.30, "ResponseSelector": 0.1,
         "UnexpecTEDIntentPolicy": 0.1}


def heavy_components(config: Path) -> dict[str, float] | None:
    """The :data:`HEAVY` components that ``config`` trains (None: the default guess)."""
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    names = [c.get("name", "").rsplit(".", 1)[-1] for c in (data.get("pipeline") or []) + (data.get("policies") or [])]
    found = {n: HEAVY[n] for n in names if n in HEAVY}
    return found or None


class LogProgress:
    """Turns ``rasa train`` log text into a fraction 0..1 (monotonic) and a short phase label."""

    def __init__(self, heavy: dict[str, float] | None = None) -> None:
        self.heavy = heavy or {n: HEAVY[n] for n in ("DIETClassifier", "TEDPolicy")}
        self.done: set[str] = set()
        self.light_done = 0
        self.current: str | None = None
        self.current_pct = 0.0
        self.fraction = 0.0
        self.label = "准备中"
        self._rest = ""

    def feed(self, text: str) -> None:
        """Take the next chunk of log text (chunks may cut lines anywhere)."""
        pieces = re.split(r"[\r\n]", self._rest + text)
        # why: the last piece may be half a line; keep it for the next chunk, but read a tqdm bar from it now.
        self._rest = pieces.pop()
        lines = pieces + [self._rest]
        for number, line in enumerate(lines):
            complete = number < len(pieces)
            started = _STARTED.search(line)
            finished = _FINISHED.search(line)
            epochs = _EPOCHS.search(line)
            if not complete and not epochs:
                continue
            if not complete:
                started = finished = None
            if started:
                self.current, self.current_pct = started.group(1), 0.0
                self.label = f"训练组件 {self.current}"
            elif finished:
                name = finished.group(1)
                if name in self.heavy:
                    self.done.add(name)
                else:
                    self.light_done += 1
                if name == self.current:
                    self.current, self.current_pct = None, 0.0
            elif epochs and self.current in self.heavy:
                self.current_pct = int(epochs.group(1)) / 100
                self.label = f"训练组件 {self.current}（{epochs.group(1)}%）"
        total = 0.15 + sum(self.heavy.values())
        value = min(0.15, 0.02 * self.light_done) + sum(self.heavy[n] for n in self.done)
        if self.current in self.heavy and self.current not in self.done:
            value += self.heavy[self.current] * self.current_pct
        self.fraction = max(self.fraction, min(1.0, value / total))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # why: a training subprocess must not outlive the console (same as ops.launcher's children).
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


async def run_logged(
    argv: list[str],
    cwd: Path,
    log_path: Path,
    on_output: Callable[[str], None] | None = None,
    timeout: float = TRAIN_TIMEOUT,
    env: dict | None = None,
    processes: set | None = None,
) -> int:
    """Run ``argv`` with its output appended to ``log_path``; feed new output to ``on_output``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        start_offset = log.tell()
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            env=env or rasa_env(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    if processes is not None:
        processes.add(process)
    offset = start_offset
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await asyncio.wait_for(process.wait(), 2.0)
                finished = True
            except asyncio.TimeoutError:
                finished = False
            if on_output is not None:
                with log_path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                    offset += len(chunk)
                if chunk:
                    on_output(chunk.decode("utf-8", errors="replace"))
            if finished:
                return process.returncode
            if time.monotonic() > deadline:
                raise TrainingError(f"{Path(argv[0]).name} {argv[1]} 超时")
    finally:
        if process.returncode is None:
            _kill(process)
            await process.wait()
        if processes is not None:
            processes.discard(process)


def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


# --- comparison -----------------------------------------------------------------------------------------


def compare(
    live_heldout: dict | None,
    candidate_heldout: dict | None,
    live_evalset: dict | None,
    candidate_evalset: dict | None,
    tolerance: float,
) -> dict:
    """Side-by-side rows per intent and the verdict (see the module docstring)."""
    rows = []
    live_intents = (live_heldout or {}).get("per_intent", {})
    cand_intents = (candidate_heldout or {}).get("per_intent", {})
    for intent in sorted(set(live_intents) | set(cand_intents)):
        live = live_intents.get(intent, {}).get("f1")
        cand = cand_intents.get(intent, {}).get("f1")
        delta = None if live is None or cand is None else round(cand - live, 4)
        change = (
            "new"
            if live is None
            else "gone"
            if cand is None
            else ("better" if delta > SAME else "worse" if delta < -SAME else "same")
        )
        rows.append(
            {
                "intent": intent,
                "live": live,
                "candidate": cand,
                "delta": delta,
                "change": change,
                "support": cand_intents.get(intent, {}).get("support", live_intents.get(intent, {}).get("support")),
            }
        )
    reasons: list[str] = []
    checks: list[bool] = []
    if live_heldout and candidate_heldout:
        ok = candidate_heldout["weighted_f1"] >= live_heldout["weighted_f1"] - tolerance
        checks.append(ok)
        reasons.append(
            f"留出集加权 F1：候选 {candidate_heldout['weighted_f1']:.3f}，"
            f"线上 {live_heldout['weighted_f1']:.3f}"
            f"（容差 {tolerance:.3f}）→ {'不低于线上' if ok else '低于线上'}"
        )
    elif candidate_heldout:
        reasons.append("线上模型没有留出集基线（没有它训练时的数据快照）")
    if live_evalset and candidate_evalset:
        ok = candidate_evalset["passed"] >= live_evalset["passed"]
        checks.append(ok)
        reasons.append(
            f"评估集：候选通过 {candidate_evalset['passed']}/{candidate_evalset['total']}，"
            f"线上 {live_evalset['passed']}/{live_evalset['total']} → {'不差于线上' if ok else '差于线上'}"
        )
    newly_failed: list[str] = []
    newly_passed: list[str] = []
    if live_evalset and candidate_evalset:
        live_failed, cand_failed = set(live_evalset.get("failures", [])), set(candidate_evalset.get("failures", []))
        newly_failed, newly_passed = sorted(cand_failed - live_failed), sorted(live_failed - cand_failed)
    verdict = "unknown" if not checks else ("not_worse" if all(checks) else "worse")
    if verdict == "unknown":
        reasons.append("没有可比较的基线，不能证明候选模型不比线上差")
    return {
        "rows": rows,
        "better": [r["intent"] for r in rows if r["change"] == "better"],
        "worse": [r["intent"] for r in rows if r["change"] == "worse"],
        "verdict": verdict,
        "reasons": reasons,
        "evalset_newly_failed": newly_failed,
        "evalset_newly_passed": newly_passed,
    }


# --- the manager ------------------------------------------------------------------------------------------


@dataclass
class _Step:
    name: str
    label: str
    weight: float


class TrainingManager:
    """Owns the background training task and model activation (one per web app)."""

    def __init__(self, settings: ConsoleSettings, store: Store, rasa: RasaClient) -> None:
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self._task: asyncio.Task | None = None
        self._processes: set = set()
        self._activation_lock = asyncio.Lock()

    # -- state ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def live_model(self) -> tuple[str | None, str]:
        """(file name of the model the bot runs, or None; why not known)."""
        reply = await self.rasa.status()
        if not reply.ok:
            return None, reply.error
        model_file = (reply.data or {}).get("model_file") or ""
        return (Path(model_file).name or None), ""

    def model_path(self, name: str) -> Path:
        path = (self.settings.models_dir / Path(name).name).resolve()
        if path.parent != self.settings.models_dir.resolve() or not path.name.endswith(".tar.gz"):
            raise TrainingError("无效的模型文件名")
        return path

    def models(self) -> list[dict]:
        out = []
        for path in sorted(self.settings.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True):
            stat = path.stat()
            out.append(
                {
                    "name": path.name,
                    "size_mb": round(stat.st_size / 2**20, 1),
                    "mtime": time.strftime("%Y-%m-%d %H:%M", time.localtime(stat.st_mtime)),
                }
            )
        return out

    async def ensure_live_snapshot(self) -> str | None:
        """Keep a snapshot of the live model's training data when the current files are exactly it."""
        name, _ = await self.live_model()
        wanted = hash_of_model(name)
        if wanted is None or (self.settings.snapshots_dir / wanted / ".complete").exists():
            return wanted
        current = await asyncio.to_thread(lambda: content_hash(project_files(self.settings)))
        if current == wanted:
            await asyncio.to_thread(make_snapshot, self.settings)
            logger.info("kept a snapshot of the live model's data (%s)", wanted)
        return wanted

    # -- training ---------------------------------------------------------------------------------

    def start(self, username: str) -> TrainingRun:
        """Create a run and start it in the background; refuse while another one is running."""
        if self.busy:
            raise TrainingError("已有训练在进行，请等它结束")
        run = self.store.create_run(username)
        self.store.audit(username, "training_start", f"run {run.id}")
        self._task = asyncio.get_running_loop().create_task(self._execute(run.id))
        return run

    async def shutdown(self) -> None:
        for process in list(self._processes):
            _kill(process)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down anyway
                pass

    async def wait(self) -> None:
        """Wait for the running task (tests)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _execute(self, run_id: int) -> None:
        settings = self.settings
        run_dir = settings.runs_dir / str(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        log_path = run_dir / "train.log"
        timings: dict[str, float] = {}
        started = time.monotonic()
        update = self._updater(run_id)
        try:
            await asyncio.to_thread(
                self.store.update_run, run_id, status="running", run_dir=str(run_dir), phase="准备数据"
            )
            t0 = time.monotonic()
            # why: saves are checked file by file; the whole project is validated once, here, before training.
            validation = await rasa_validate(settings)
            timings["validate"] = round(validation.seconds, 1)
            if not validation.ok:
                raise TrainingError("rasa data validate 没有通过，未开始训练：" + "；".join(validation.messages[:5]))
            t0 = time.monotonic()
            data_hash, snapshot = await asyncio.to_thread(make_snapshot, settings)
            live_name, live_note = await self.live_model()
            timings["snapshot"] = round(time.monotonic() - t0, 1)
            model_name = model_name_for(data_hash)
            model_path = settings.models_dir / model_name
            await asyncio.to_thread(self.store.update_run, run_id, data_hash=data_hash, model_name=model_name)
            live_hash = hash_of_model(live_name)
            live_snapshot = settings.snapshots_dir / live_hash if live_hash else None
            if live_snapshot is not None and not (live_snapshot / ".complete").exists():
                live_snapshot = None
            live_heldout = (
                await asyncio.to_thread(self.store.cached_evaluation, self._heldout_key(live_hash))
                if live_hash
                else None
            )
            evalset_on = settings.eval_set and EVAL_QUESTIONS.exists() and EVAL_RUNNER.exists()
            questions_hash = hashlib.sha256(EVAL_QUESTIONS.read_bytes()).hexdigest()[:12] if evalset_on else ""
            live_evalset = (
                await asyncio.to_thread(self.store.cached_evaluation, f"evalset:{live_name}:{questions_hash}")
                if evalset_on and live_name
                else None
            )
            cand_heldout_cached = await asyncio.to_thread(self.store.cached_evaluation, self._heldout_key(data_hash))
            steps = [_Step("train", "训练候选模型", 0.05 if model_path.exists() else 0.55)]
            if cand_heldout_cached is None:
                steps.append(_Step("heldout_candidate", "留出集评估（候选）", 0.2))
            if live_heldout is None and live_snapshot is not None and live_hash != data_hash:
                steps.append(_Step("heldout_live", "留出集评估（线上）", 0.2))
            if evalset_on:
                steps.append(_Step("evalset_candidate", "评估集（候选）", 0.1))
                if (
                    live_evalset is None
                    and live_name
                    and live_name != model_name
                    and (settings.models_dir / live_name).exists()
                ):
                    steps.append(_Step("evalset_live", "评估集（线上）", 0.1))
            total = sum(s.weight for s in steps)
            done = 0.0
            results: dict[str, Any] = {
                "heldout_candidate": cand_heldout_cached,
                "heldout_live": live_heldout,
                "evalset_candidate": None,
                "evalset_live": live_evalset,
            }
            for step in steps:
                t0 = time.monotonic()
                base = done

                def report(fraction: float, label: str = "", _base=base, _step=step) -> None:
                    update(
                        phase=label or _step.label,
                        progress=round(100 * (_base + _step.weight * fraction) / total, 1),
                    )

                report(0.0)
                if step.name == "train":
                    if model_path.exists():
                        timings["train_skipped"] = 1
                        if not manifest_path(model_path).exists():
                            await asyncio.to_thread(sign_model, model_path)
                    else:
                        await self._train(snapshot, model_name, log_path, report)
                elif step.name == "heldout_candidate":
                    results["heldout_candidate"] = await self._heldout(
                        snapshot, data_hash, run_dir / "heldout-candidate", log_path, report
                    )
                elif step.name == "heldout_live":
                    results["heldout_live"] = await self._heldout(
                        live_snapshot, live_hash, run_dir / "heldout-live", log_path, report
                    )
                elif step.name == "evalset_candidate":
                    results["evalset_candidate"] = await self._evalset(
                        model_path, run_dir / "evalset-candidate", log_path, report, questions_hash
                    )
                elif step.name == "evalset_live":
                    results["evalset_live"] = await self._evalset(
                        self.model_path(live_name), run_dir / "evalset-live", log_path, report, questions_hash
                    )
                timings[step.name] = round(time.monotonic() - t0, 1)
                done += step.weight
            comparison = compare(
                results["heldout_live"],
                results["heldout_candidate"],
                results["evalset_live"],
                results["evalset_candidate"],
                settings.f1_tolerance,
            )
            if live_name == model_name:
                comparison["reasons"].insert(0, "候选模型与线上模型相同（数据没有变化）")
            report_data = {
                "model": model_name,
                "data_hash": data_hash,
                "live_model": live_name,
                "live_note": live_note,
                "heldout": {"candidate": results["heldout_candidate"], "live": results["heldout_live"]},
                "evalset": {"candidate": results["evalset_candidate"], "live": results["evalset_live"]},
                "comparison": comparison,
            }
            timings["total"] = round(time.monotonic() - started, 1)
            await asyncio.to_thread(
                self.store.update_run,
                run_id,
                status="done",
                phase="完成",
                progress=100.0,
                finished_at=utcnow(),
                report=report_data,
                timings=timings,
            )
            logger.info(
                "training run %s done in %.0fs: %s (%s)",
                run_id,
                timings["total"],
                model_name,
                comparison["verdict"],
            )
        except asyncio.CancelledError:
            await asyncio.to_thread(
                self.store.update_run,
                run_id,
                status="failed",
                error="控制台已停止",
                finished_at=utcnow(),
                timings=timings,
            )
            raise
        except Exception as error:  # noqa: BLE001 - any failure ends the run with a message on the page
            logger.exception("training run %s failed", run_id)
            message = str(error) if isinstance(error, TrainingError) else f"{error.__class__.__name__}: {error}"
            timings["total"] = round(time.monotonic() - started, 1)
            await asyncio.to_thread(
                self.store.update_run,
                run_id,
                status="failed",
                error=mask_pii(message)[0],
                finished_at=utcnow(),
                timings=timings,
            )

    def _updater(self, run_id: int) -> Callable[..., None]:
        last = {"at": 0.0, "values": None}

        def update(**values: Any) -> None:
            # why: progress changes often; one database write per second at most.
            now = time.monotonic()
            if values != last["values"] and now - last["at"] >= 1.0:
                last["at"], last["values"] = now, values
                self.store.update_run(run_id, **values)

        return update

    def _heldout_key(self, data_hash: str | None) -> str:
        return f"heldout:{data_hash}:{self.settings.heldout_fraction}"

    async def _train(self, snapshot: Path, model_name: str, log_path: Path, report: Callable) -> None:
        settings = self.settings
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        progress = LogProgress(heavy_components(snapshot / "config.yml"))

        def on_output(chunk: str) -> None:
            progress.feed(chunk)
            report(progress.fraction, f"训练候选模型：{progress.label}")

        env = {**rasa_env(), "RASA_CACHE_DIRECTORY": str(settings.rasa_cache_dir)}
        code = await run_logged(
            [
                str(settings.rasa_bin),
                "train",
                "--config",
                "config.yml",
                "--domain",
                "domain.yml",
                "--data",
                "data",
                "--out",
                str(settings.models_dir),
                "--fixed-model-name",
                model_name.removesuffix(".tar.gz"),
            ],
            snapshot,
            log_path,
            on_output,
            env=env,
            processes=self._processes,
        )
        if code != 0 or not (settings.models_dir / model_name).exists():
            raise TrainingError(f"rasa train 失败（退出码 {code}），见训练日志")
        # why: the launcher starts only signed models (bot.signing); sign as `make train` does.
        await asyncio.to_thread(sign_model, settings.models_dir / model_name)

    async def _heldout(self, snapshot: Path, data_hash: str, workdir: Path, log_path: Path, report: Callable) -> dict:
        settings = self.settings
        counts = await asyncio.to_thread(split_heldout, snapshot, workdir, settings.heldout_fraction)
        progress = LogProgress({"DIETClassifier": 0.85, "LinearIntentClassifier": 0.85})

        def on_output(chunk: str) -> None:
            progress.feed(chunk)
            report(0.85 * progress.fraction, f"留出集评估：{progress.label}")

        env = {**rasa_env(), "RASA_CACHE_DIRECTORY": str(settings.rasa_cache_dir)}
        code = await run_logged(
            [
                str(settings.rasa_bin),
                "train",
                "nlu",
                "--config",
                "config.yml",
                "--nlu",
                str(workdir / "train"),
                "--out",
                str(workdir),
                "--fixed-model-name",
                "heldout",
            ],
            snapshot,
            log_path,
            on_output,
            env=env,
            processes=self._processes,
        )
        if code != 0:
            raise TrainingError(f"留出集训练失败（退出码 {code}），见训练日志")
        report(0.9, "留出集评估：测试")
        code = await run_logged(
            [
                str(settings.rasa_bin),
                "test",
                "nlu",
                "--model",
                str(workdir / "heldout.tar.gz"),
                "--nlu",
                str(workdir / "test.yml"),
                "--out",
                str(workdir / "report"),
                "--no-plot",
            ],
            snapshot,
            log_path,
            None,
            env=env,
            processes=self._processes,
        )
        if code != 0:
            raise TrainingError(f"rasa test nlu 失败（退出码 {code}），见训练日志")
        result = read_intent_report(workdir / "report")
        result["counts"] = counts
        await asyncio.to_thread(self.store.cache_evaluation, self._heldout_key(data_hash), result)
        # why: the NLU-only model is only a measuring device; keep the report, not 30 MB per run.
        (workdir / "heldout.tar.gz").unlink(missing_ok=True)
        return result

    async def _evalset(
        self, model_path: Path, workdir: Path, log_path: Path, report: Callable, questions_hash: str
    ) -> dict:
        """Score ``model_path`` on the evaluation set, on a spare port with its own action server."""
        from ops.launcher import bot_services
        from ops.supervise import free_port, stop_all, wait_ready

        workdir.mkdir(parents=True, exist_ok=True)
        services = bot_services(
            str(model_path),
            rasa_port=free_port(),
            action_port=free_port(),
            tracker_db=str(workdir / "tracker.db"),
            log_dir=workdir,
            extra_env={"RASA_API_TOKEN": uuid.uuid4().hex},
        )
        try:
            report(0.1, "评估集：启动临时机器人")
            for service in services:
                service.start()
            await asyncio.to_thread(wait_ready, services, 600)
            report(0.4, "评估集：提问中")
            out = workdir / "eval.json"
            rest_url = services[1].health_url.rstrip("/") + "/webhook"
            code = await run_logged(
                [
                    str(self.settings.python_bin),
                    "-m",
                    "evaluation.runner",
                    "--url",
                    rest_url,
                    "--out",
                    str(out),
                    "--min-rate",
                    "0",
                    "--min-category-rate",
                    "0",
                ],
                REPO_ROOT,
                log_path,
                None,
                timeout=3600,
                processes=self._processes,
            )
            if not out.exists():
                raise TrainingError(f"评估集运行失败（退出码 {code}）")
            summary = json.loads(out.read_text(encoding="utf-8"))
        finally:
            await asyncio.to_thread(stop_all, services)
        result = {
            "passed": summary["passed"],
            "total": summary["total"],
            "pass_rate": summary["pass_rate"],
            "categories": summary.get("categories", {}),
            "failures": [f.get("id") for f in summary.get("failures", [])],
            # why: what a trainer needs to fix a regression: which question and what was missing (masked).
            "failure_details": {
                str(f.get("id")): mask_pii("; ".join(f.get("problems", [])))[0][:300]
                for f in summary.get("failures", [])
            },
        }
        await asyncio.to_thread(self.store.cache_evaluation, f"evalset:{model_path.name}:{questions_hash}", result)
        return result

    # -- activation -------------------------------------------------------------------------------

    async def activate(self, run_id: int, username: str) -> tuple[float, str | None]:
        """Load the run's model into the bot if its verdict is "not worse"; return (seconds, previous)."""
        run = await asyncio.to_thread(self.store.run, run_id)
        if run is None or run.status != "done" or not run.model_name:
            raise TrainingError("这次训练没有完成，不能启用")
        verdict = (run.report.get("comparison") or {}).get("verdict")
        if verdict != "not_worse":
            raise TrainingError("候选模型没有被证明不比线上差，不能启用")
        return await self._load(run.model_name, username, "activate", run_id)

    async def rollback(self, model_name: str, username: str) -> tuple[float, str | None]:
        """Load an earlier model again (it must still be in ``models/``)."""
        return await self._load(model_name, username, "rollback", None)

    async def _load(self, model_name: str, username: str, kind: str, run_id: int | None) -> tuple[float, str | None]:
        path = self.model_path(model_name)
        if not path.exists():
            raise TrainingError(f"模型文件不存在：{path.name}")
        try:
            # why: the running bot must only ever load a model our training signed, as at start-up.
            await asyncio.to_thread(verify_model, path)
        except ModelRejected as error:
            raise TrainingError(f"模型校验失败，不能加载：{error}") from error
        async with self._activation_lock:
            previous, _ = await self.live_model()
            started = time.monotonic()
            reply = await self.rasa.load_model(str(path))
            seconds = round(time.monotonic() - started, 1)
            if not reply.ok:
                raise TrainingError(f"机器人没有加载模型：{reply.error}")
            now_live, _ = await self.live_model()
            if now_live and now_live != path.name:
                raise TrainingError(f"机器人报告的模型是 {now_live}，不是 {path.name}")
            await asyncio.to_thread(self.store.record_activation, path.name, previous, kind, run_id, username, seconds)
            await asyncio.to_thread(
                self.store.audit,
                username,
                f"model_{kind}",
                path.name,
                previous=previous,
                seconds=seconds,
                run=run_id,
            )
            await asyncio.to_thread(self._write_active, path.name)
        logger.info("%s %s by %s in %.1fs (was %s)", kind, path.name, username, seconds, previous)
        return seconds, previous

    def _write_active(self, name: str) -> None:
        # why: a plain file next to the models says what the bot runs, for `make run` and for people.
        target = self.settings.models_dir / "ACTIVE"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(tmp, target)

    def log_tail(self, run: TrainingRun, chars: int = 6000) -> str:
        if not run.run_dir:
            return ""
        return read_tail(Path(run.run_dir) / "train.log", chars)
