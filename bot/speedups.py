"""Run the Rasa server with a fix for one measured Rasa 3.6 hot spot (``python -m bot.speedups run ...``).

Rasa 3.6's ``RemoteAction._validate_action_result`` checks every action-server reply with
``jsonschema.validate(result, schema)``. ``validate`` first checks the *schema itself* against the
JSON-Schema meta-schema (``check_schema``), and with jsonschema 4.17 and the draft 2020-12
meta-schema that costs tens of milliseconds of CPU per call (about 200 ms on a busy 2-core machine),
while validating the reply against an already built validator costs well under a millisecond. It
runs once per custom-action call, so it is most of the extra latency of a knowledge answer over a
static reply (``bench/profile.py``, ``make bench``).

:func:`install` replaces that method with one that validates against a validator built once from
the same schema, with the same error message; behaviour is otherwise unchanged. It is applied
explicitly, at process start, by :func:`main` (a drop-in for the ``rasa`` command), never at import.

Second hot spot: ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession`` -- a new connection
pool, so a new TCP connection -- for every call to the action server. :func:`install` makes
``EndpointConfig.session`` hand out one long-lived session per endpoint settings and event loop, whose
``async with`` does not close it, so calls reuse keep-alive connections. Headers, authentication and
the timeout are the same as Rasa's.

Third: TensorFlow without TensorFlow. Rasa 3.6.21 imports TensorFlow at start-up even when no component
of the model uses it (``rasa/__main__.py`` imports ``rasa.utils.tensorflow.environment``;
``rasa.core.agent`` -> ``rasa.nlu.extractors.extractor`` -> ``rasa.utils.train_utils`` ->
``rasa.utils.tensorflow.callback``, which subclasses ``tf.keras.callbacks.Callback``; the default recipe
imports DIET and TED): about 420 MB of memory and 8-15 s of start-up. :func:`stub_tensorflow` checks the
model's prediction graph (``metadata.json`` in the archive): when every node's class is in
:data:`TF_FREE_COMPONENTS`, it serves ``tensorflow`` (and ``keras``, ``tensorflow_hub``,
``tensorflow_text``, ``tensorflow_addons``) from an inert stand-in whose every attribute is a
placeholder class, so those imports and class definitions succeed and nothing of TensorFlow is loaded;
and it makes ``rasa.engine.loader.load_predict_graph_runner`` refuse a model that needs TensorFlow (a
model swapped in later through the HTTP API), instead of running it on the stand-in. A model with a
TensorFlow component (DIET, TED, ResponseSelector, ...) gets the real TensorFlow. ``RASA_STUB_TENSORFLOW=0``
turns this off. Unnecessary with a Rasa that imports TensorFlow lazily (Rasa Pro 3.8+ / Rasa 4 moved to
lazy component imports; Rasa Open Source 3.6 does not).
"""
# rasa-patch: validator-cache (docs/rasa-patches.md)
# rasa-patch: endpoint-session (docs/rasa-patches.md)
# rasa-patch: tensorflow-stub (docs/rasa-patches.md)
# rasa-patch: in-process-actions (docs/rasa-patches.md)

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, List

from bot.settings import environ

logger = logging.getLogger(__name__)
_installed = False


def install() -> None:
    """Patch ``RemoteAction._validate_action_result`` to use a cached validator (idempotent)."""
    global _installed
    if _installed:
        return
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_cls = validator_for(schema)
    # why: the schema is Rasa's own constant; checking it against the meta-schema once is enough.
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    fast = _event_validators(schema, validator_cls)

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        if fast is not None and _valid_by_event(result, fast):
            return True
        try:
            # why: best_match is what jsonschema.validate raises, so the error is the one Rasa reports.
            error = best_match(validator.iter_errors(result))
            if error is not None:
                raise error
            return True
        except ValidationError as e:
            # same message as Rasa 3.6
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _share_endpoint_sessions()
    if in_process_actions():
        _run_actions_in_process(environ().get("ACTIONS_MODULE", "actions"))
    _installed = True
    logger.info("speedups: action-server replies validated with a cached JSON-schema validator")


def _event_validators(schema: Dict[str, Any], validator_cls: Any) -> Dict[str, Any] | None:
    """Validators of one action-server reply checked event by event, or None when the schema's shape
    is not the one this was written for (then every reply takes the full check).

    why: an event item's schema is ``oneOf`` over every event type, told apart by ``event``'s ``const``;
    jsonschema tries all ~20 branches for every event (about 0.5 ms per reply in ``bench.profile``).
    With the branches told apart by their const, "valid against the item schema" is the same as
    "valid against the item schema with ``oneOf`` replaced by the branch of its own const".
    """
    try:
        events = schema["properties"]["events"]
        item = events["items"]
        branches = item["oneOf"]
        responses = schema["properties"]["responses"]
        consts = [b["properties"]["event"]["const"] for b in branches]
    except (KeyError, TypeError):
        return None
    if len(set(consts)) != len(consts) or set(schema) - {"type", "properties"} or set(events) - {"type", "items"}:
        return None
    base = {k: v for k, v in item.items() if k != "oneOf"}
    by_event = {c: validator_cls({**base, "allOf": [b]}) for c, b in zip(consts, branches, strict=True)}
    return {"events": by_event, "responses": validator_cls(responses)}


def _valid_by_event(result: Any, fast: Dict[str, Any]) -> bool:
    """True when ``result`` is valid (event by event); False means "take the full check", not "invalid"."""
    if not isinstance(result, dict):
        return False
    events = result.get("events", [])
    if not isinstance(events, list):
        return False
    for event in events:
        checker = fast["events"].get(event.get("event")) if isinstance(event, dict) else None
        if checker is None or not checker.is_valid(event):
            return False
    return "responses" not in result or fast["responses"].is_valid(result["responses"])


def in_process_actions() -> bool:
    """True when ``ACTIONS_IN_PROCESS`` is 1 / true / yes / on."""
    return environ().get("ACTIONS_IN_PROCESS", "0").strip().lower() in ("1", "true", "yes", "on")


def _run_actions_in_process(package: str) -> None:
    """Answer the action endpoint's calls with rasa_sdk's executor in this process, not over HTTP.

    why: a knowledge answer's extra latency over a static reply is mostly the round trip to the action
    server (the tracker as JSON, Sanic on the other side, the reply parsed back: ~5 ms of a turn on a
    busy 2-core machine, issue 20). ``EndpointConfig.request`` of the action endpoint hands the very
    request body to ``rasa_sdk.executor.ActionExecutor.run`` and returns its reply, so everything Rasa does
    around the call (validation, responses, events) is unchanged; rasa_sdk's rejections and any failure
    become the exceptions Rasa raises for an HTTP 400 / an unreachable server, so a broken action still
    gets the channel guard's polite reply. Other endpoints (NLG, models) keep HTTP. Rasa Pro 3.10+ has
    this built in (``action_endpoint: actions_module:``); Rasa Open Source 3.6 does not.
    """
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor
    from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

    executor = ActionExecutor()
    executor.register_package(package)
    original = EndpointConfig.request

    async def request(self: EndpointConfig, method: str = "post", subpath: str | None = None,
                      content_type: str | None = "application/json", compress: bool = False, **kwargs: Any):
        body = kwargs.get("json")
        if not (isinstance(body, dict) and "next_action" in body and "tracker" in body):
            return await original(self, method, subpath, content_type, compress, **kwargs)
        name = body.get("next_action")
        try:
            return await executor.run(body)
        except SdkRejection as error:
            raise ActionExecutionRejection(error.action_name, error.message) from error
        except Exception as error:  # noqa: BLE001 - what an action server's HTTP 500 would be
            logger.exception("in-process action %s failed", name)
            raise RasaException(f"Failed to execute custom action '{name}'") from error

    EndpointConfig.request = request  # type: ignore[method-assign]
    logger.info("speedups: custom actions of %r run in the Rasa process (ACTIONS_IN_PROCESS)", package)


class _KeptSession:
    """``async with`` that yields a shared ``aiohttp.ClientSession`` and leaves it open."""

    def __init__(self, factory) -> None:
        self._factory = factory

    async def __aenter__(self):
        return self._factory()

    async def __aexit__(self, *exc_info) -> None:
        return None


def _share_endpoint_sessions() -> None:
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    sessions: Dict[Any, aiohttp.ClientSession] = {}

    def shared(self: EndpointConfig) -> aiohttp.ClientSession:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        loop = asyncio.get_running_loop()
        key = (id(loop), repr(sorted((self.headers or {}).items())), repr(self.basic_auth))
        session = sessions.get(key)
        if session is None or session.closed or getattr(session, "_loop", loop) is not loop:
            session = sessions[key] = aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT)
            )
        return session

    def session(self: EndpointConfig) -> _KeptSession:
        return _KeptSession(lambda: shared(self))

    EndpointConfig.session = session  # type: ignore[method-assign]


# why: the classes of this bot's prediction graph, none of which runs TensorFlow (bot.* import no TensorFlow).
TF_FREE_COMPONENTS = frozenset({
    "bot.nlu.components.IntentGuard",
    "bot.nlu.intent_classifier.LinearIntentClassifier",
    "bot.nlu.topic_features.TopicFeaturizer",
    "rasa.core.policies.ensemble.DefaultPolicyPredictionEnsemble",
    "rasa.core.policies.memoization.MemoizationPolicy",
    "rasa.core.policies.memoization.AugmentedMemoizationPolicy",
    "rasa.core.policies.rule_policy.RulePolicy",
    "rasa.graph_components.converters.nlu_message_converter.NLUMessageConverter",
    "rasa.graph_components.providers.domain_provider.DomainProvider",
    "rasa.graph_components.providers.rule_only_provider.RuleOnlyDataProvider",
    "rasa.nlu.classifiers.fallback_classifier.FallbackClassifier",
    "rasa.nlu.classifiers.regex_message_handler.RegexMessageHandler",
    "rasa.nlu.extractors.entity_synonyms.EntitySynonymMapper",
    "rasa.nlu.extractors.regex_entity_extractor.RegexEntityExtractor",
    "rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer.CountVectorsFeaturizer",
    "rasa.nlu.featurizers.sparse_featurizer.regex_featurizer.RegexFeaturizer",
    "rasa.nlu.tokenizers.jieba_tokenizer.JiebaTokenizer",
})
_STUBBED = ("tensorflow", "tensorflow_hub", "tensorflow_text", "tensorflow_addons", "keras")


def graph_classes(model: str) -> set[str] | None:
    """The classes of a model archive's prediction graph; None when it cannot be read."""
    import json
    import tarfile

    try:
        with tarfile.open(model, "r:gz") as archive:
            member = next(m for m in archive.getmembers() if m.name.lstrip("/") == "metadata.json")
            metadata = json.load(archive.extractfile(member))
        return {node["uses"] for node in metadata["predict_schema"]["nodes"].values()}
    except (OSError, StopIteration, KeyError, TypeError, ValueError, tarfile.TarError):
        return None


class _Placeholder(type):
    """Every attribute, call, subscript or union of a placeholder class is a placeholder class again."""

    def __getattr__(cls, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert

    def __call__(cls, *args, **kwargs):
        if cls is _Inert and len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # a decorator (``@tf.function``) leaves the function as it is
        return _Inert

    def __getitem__(cls, item):
        return _Inert

    def __or__(cls, other):
        return _Inert

    __ror__ = __or__


class _Inert(metaclass=_Placeholder):
    """Stand-in for any TensorFlow class or value; subclassable, never does anything."""


def _stub_finder():
    import importlib.abc
    import importlib.machinery
    import types

    class _Module(types.ModuleType):
        def __getattr__(self, name: str):
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            return _Inert

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in _STUBBED:
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = _Module(spec.name)
            module.__path__ = []
            module.__version__ = "2.12.0"  # the pinned version (constraints.txt), for version checks
            module.__rasa_stub__ = True
            return module

        def exec_module(self, module) -> None:
            return None

    return Finder()


def stub_tensorflow(model: str | None) -> bool:
    """Serve an inert TensorFlow when ``model`` needs none (module docstring); True when installed."""
    if environ().get("RASA_STUB_TENSORFLOW", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(name.split(".")[0] in _STUBBED for name in sys.modules):
        return False  # too late: the real one is loaded
    classes = graph_classes(model) if model else None
    if not classes or not classes <= TF_FREE_COMPONENTS:
        logger.info("speedups: TensorFlow loaded (model components: %s)",
                    ", ".join(sorted((classes or set()) - TF_FREE_COMPONENTS)) or "unknown")
        return False
    sys.meta_path.insert(0, _stub_finder())
    import rasa.engine.loader as loader

    original = loader.load_predict_graph_runner

    def load_predict_graph_runner(storage_path, model_archive_path, *args, **kwargs):
        needed = graph_classes(str(model_archive_path))
        if needed is None or not needed <= TF_FREE_COMPONENTS:
            raise RuntimeError(f"{model_archive_path} needs TensorFlow, which this server did not load "
                               f"(components: {sorted((needed or set()) - TF_FREE_COMPONENTS)}); restart it "
                               f"with this model, or with RASA_STUB_TENSORFLOW=0")
        return original(storage_path, model_archive_path, *args, **kwargs)

    loader.load_predict_graph_runner = load_predict_graph_runner
    logger.info("speedups: TensorFlow not loaded (no component of %s uses it)", os.path.basename(model))
    return True


def _model_argument(argv: List[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("--model", "-m") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def enabled() -> bool:
    """False when ``RASA_SPEEDUPS`` is 0 / false / no / off."""
    return environ().get("RASA_SPEEDUPS", "1").strip().lower() not in ("0", "false", "no", "off")


def rasa_command() -> List[str]:
    """The argv prefix that starts Rasa in a child process: through this module unless disabled.

    ``RASA_SPEEDUPS=0`` gives the plain ``rasa`` command (for a before/after comparison, or should a
    future Rasa make the patch wrong).
    """
    if not enabled():
        return [os.path.join(os.path.dirname(sys.executable), "rasa")]
    return [sys.executable, "-m", "bot.speedups"]


async def _no_version(request):
    """Request middleware: 404 for ``/version``; ``/`` without the version (see :func:`hide_version`)."""
    from sanic import response

    path = request.path.rstrip("/") or "/"
    if path == "/version":
        return response.json({"status": "failure", "reason": "NotFound", "code": 404}, status=404)
    if path == "/" and request.method in ("GET", "HEAD"):
        return response.text("Hello from 人社小助手")
    return None


def hide_version() -> None:
    """Rasa's app answers ``/version`` with 404 and ``/`` without the version number (idempotent).

    why: Rasa 3.6 serves ``GET /version`` without authentication whenever the HTTP API is on (and
    ``make run`` turns it on for the trainer console), and ``GET /`` says "Hello from Rasa: 3.6.21"
    even without the API: both tell a scanner which advisories to try. Applied to every app
    ``rasa.core.run.configure_app`` builds (``rasa run`` builds its app there), as a request
    middleware, so nothing else of Rasa's API changes. nginx (``deploy/nginx.conf.template``) does
    not route ``/version`` in the first place. Not applied with ``RASA_SPEEDUPS=0`` (plain ``rasa``,
    for benchmark comparisons only).
    """
    import rasa.core.run as run

    if getattr(run.configure_app, "__hides_version__", False):
        return
    original = run.configure_app

    def configure_app(*args, **kwargs):
        app = original(*args, **kwargs)
        app.register_middleware(_no_version, "request")
        return app

    configure_app.__hides_version__ = True  # type: ignore[attr-defined]
    run.configure_app = configure_app


def main() -> int:
    """``rasa`` with the speed-ups installed: ``python -m bot.speedups run --model ...``."""
    # why: before anything imports Rasa's TensorFlow-importing modules.
    stub_tensorflow(_model_argument(sys.argv[1:]))
    install()
    hide_version()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    return rasa_main() or 0


if __name__ == "__main__":
    sys.exit(main())
