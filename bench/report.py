"""Markdown report with plots (matplotlib, PNG) from ``bench/results.json`` and the raw samples.

``write_report(results, raw, out_dir)`` writes ``out_dir/report.md`` and its PNGs (``out_dir`` is
``bench/out/``, gitignored). ``python -m bench.report`` re-renders the report from the files of the
last ``make bench`` (``bench/results.json`` and ``bench/out/raw.json``) without measuring again.
Plot labels are English: the CJK font is not installed everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # why: no display on servers and CI; must precede the pyplot import

import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines + [""]


# ------------------------------------------------------------------------------------------- plots


def plot_load(load: dict, path: Path) -> bool:
    series = {name: [s for s in rows if s.get("mode") == "closed"] for name, rows in load.items()
              if isinstance(rows, list)}
    if not any(series.values()):
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in series.items():
        x = [s["conversations"] for s in rows]
        left.plot(x, [s["throughput_msg_s"] for s in rows], marker="o", label=name)
        for q, style in (("p50_ms", ":"), ("p95_ms", "-"), ("p99_ms", "--")):
            right.plot(x, [s[q] or 0 for s in rows], marker="o", linestyle=style, label=f"{name} {q[:-3]}")
    left.axhline(30, color="grey", linewidth=0.8, linestyle="--", label="target 30 msg/s")
    left.set(xlabel="concurrent conversations (closed loop)", ylabel="messages / s", title="Throughput")
    right.axhline(300, color="grey", linewidth=0.8, linestyle="--", label="300 ms")
    right.set(xlabel="concurrent conversations (closed loop)", ylabel="reply latency, ms", title="Latency",
              yscale="log")
    left.legend(fontsize=8)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_cdf(samples: dict[str, list[float]], path: Path, title: str) -> bool:
    samples = {k: v for k, v in samples.items() if v}
    if not samples:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, values in samples.items():
        ordered = sorted(values)
        ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=f"{name} (n={len(values)})")
    ax.axhline(0.95, color="grey", linewidth=0.8, linestyle="--")
    ax.set(xlabel="latency, ms", ylabel="fraction of requests", title=title, xscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_memory(ticks: list[dict], path: Path) -> bool:
    # why: the last samples are taken while the servers stop; they are not the servers' memory.
    ticks = [t for t in ticks if t.get("rss_rasa_mb") is not None and t.get("phase") != "stop"]
    if not ticks:
        return False
    # why: one panel per server with its own scale, so a leak of a few MiB is visible next to 1 GiB.
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = [t["messages"] for t in ticks]
    for ax, key, name in ((axes[0], "rss_rasa_mb", "Rasa server"), (axes[1], "rss_actions_mb", "action server")):
        ax.plot(x, [t[key] or 0 for t in ticks])
        ax.set(xlabel="messages sent by the benchmark", ylabel="resident memory, MiB", title=name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_cpu(ticks: list[dict], path: Path) -> bool:
    if not ticks:
        return False
    fig, ax = plt.subplots(figsize=(10, 3.5))
    t = [tick["t"] for tick in ticks]
    ax.stackplot(t, [x["bot_cores"] for x in ticks], [x["bench_cores"] for x in ticks],
                 [x["other_cores"] for x in ticks], labels=["bot", "benchmark", "other work (noise)"], alpha=0.8)
    ax.plot(t, [x["load1"] for x in ticks], color="black", linewidth=0.8, label="load average (1 min)")
    previous = None
    for tick in ticks:
        if tick["phase"] != previous:
            ax.axvline(tick["t"], color="grey", linewidth=0.5)
            ax.text(tick["t"], ax.get_ylim()[1] * 0.97, tick["phase"], fontsize=6, rotation=90, va="top")
            previous = tick["phase"]
    ax.set(xlabel="seconds", ylabel="CPU cores", title="CPU use during the run")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_accuracy(bot: dict, baseline: dict, path: Path) -> bool:
    if not bot.get("categories") or not baseline.get("categories"):
        return False
    names = sorted(set(bot["categories"]) | set(baseline["categories"]))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1.2))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [bot["categories"].get(n, {}).get("rate", 0) for n in names], height=0.4,
            label=f"bot ({bot['pass_rate']:.1%})")
    ax.barh([i - 0.2 for i in y], [baseline["categories"].get(n, {}).get("rate", 0) for n in names], height=0.4,
            label=f"BM25 passages ({baseline['pass_rate']:.1%})")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.set(xlabel="evaluation pass rate", xlim=(0, 1), title="Evaluation set: bot vs plain search")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------ report


def _cpu(summary: dict) -> str:
    cpu = summary.get("cpu_ms_per_message") or {}
    return " + ".join(f"{_fmt(cpu[k])}" for k in ("rasa", "actions") if k in cpu) or "–"


def side_by_side(load: dict, multi: dict) -> list[str]:
    """One row per load level: one Rasa process against several, throughput, p95 and CPU per message."""
    single = load.get("single") if isinstance(load.get("single"), list) else []
    cluster = load.get("cluster") if isinstance(load.get("cluster"), list) else []
    if not single:
        return []
    lines = ["### One Rasa process and several, side by side", "",
             f"Several: {multi.get('note') or 'not measured'}. CPU ms per message: Rasa + action servers "
             f"(all instances), over every message of the level; the 1-minute load average at its end "
             f"says how busy the machine was.", ""]
    rows = []
    for s in single:
        m = next((c for c in cluster if c["mode"] == s["mode"] and c["conversations"] == s["conversations"]), {})
        rows.append([f"{s['mode']} {s['conversations']}", s["throughput_msg_s"], m.get("throughput_msg_s", "–"),
                     s["p95_ms"], m.get("p95_ms", "–"), _cpu(s), _cpu(m) if m else "–",
                     s.get("load_average", "–"), m.get("load_average", "–")])
    return lines + _table(["level", "msg/s one", "msg/s several", "p95 ms one", "p95 ms several",
                           "CPU ms/msg one", "CPU ms/msg several", "load one", "load several"], rows)


def write_report(results: dict, raw: dict, out_dir: Path) -> Path:
    """Write ``report.md`` and the PNGs into ``out_dir``; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    details = results.get("details", {})
    machine = results.get("machine", {})
    run = results.get("run", {})
    lines = [f"# 人社小助手 benchmark — {run.get('started', '')}", ""]
    lines += [f"Commit `{run.get('commit', '?')}`, bot: {details.get('bot', {}).get('origin', '?')} "
              f"({details.get('bot', {}).get('model') or 'model of the running bot'}). "
              f"Settings: {json.dumps(run.get('settings', {}), ensure_ascii=False)}.", ""]

    lines += ["## Machine", ""]
    lines += _table(["nproc", "CPU", "RAM GiB", "kernel", "Python", "load avg at start", "load avg at end"], [[
        machine.get("nproc"), machine.get("cpu", ""), machine.get("ram_gb"), machine.get("kernel", ""),
        machine.get("python", ""), " / ".join(map(str, machine.get("load_average_at_start") or [])),
        " / ".join(map(str, machine.get("load_average_at_end") or [])),
    ]])
    phases = results.get("phases", {})
    if phases:
        lines += ["CPU cores used per phase (mean of 2 s samples): *other* is work outside this benchmark — "
                  "the noise in the figures.", ""]
        lines += _table(["phase", "seconds", "bot", "benchmark", "other", "max load (1 min)"],
                        [[name, p["seconds"], p["bot_cores"], p["bench_cores"], p["other_cores"], p["load1_max"]]
                         for name, p in phases.items()])

    lines += ["## Figures and targets", ""]
    targets = results.get("targets", {})
    rows = []
    for key, t in targets.items():
        mark = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        rows.append([f"`{key}`", t["what"], _fmt(t["value"], 2), t["target"], mark])
    lines += _table(["key", "figure", "value", "target", ""], rows)
    other = [(k, v) for k, v in results.items()
             if k not in targets and not isinstance(v, dict) and v is not None]
    lines += _table(["key", "value"], [[f"`{k}`", _fmt(v, 3)] for k, v in other])

    if plot_cpu(raw.get("ticks", []), out_dir / "cpu.png"):
        lines += ["![CPU use](cpu.png)", ""]

    nlu = details.get("nlu", {})
    replies = details.get("replies", {})
    lines += ["## NLU and reply latency (one request at a time)", ""]
    keys = ("n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "cpu_ms_per_message")
    rows = [[f"NLU parse ({nlu.get('mode', '?')})", *(nlu.get(k) for k in keys[:-1]), "–"],
            ["static reply (REST)", *(replies.get("static", {}).get(k) for k in keys)],
            ["knowledge answer (REST)", *(replies.get("kb", {}).get(k) for k in keys)]]
    if replies.get("stock_static"):
        rows.append(["baseline: static reply, stock Rasa (no speed-ups)",
                     *(replies["stock_static"].get(k) for k in keys)])
    lines += _table(["what", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "server CPU ms / message"], rows)
    lines += [f"Knowledge / static: p95 ×{_fmt(replies.get('kb_over_static_p95'), 2)}, "
              f"p50 ×{_fmt(replies.get('kb_over_static_p50'), 2)}; knowledge / stock-Rasa static: p95 "
              f"×{_fmt(replies.get('kb_over_stock_static_p95'), 2)} (interleaved A-B-B-A in one sequence, each "
              f"message in a new conversation; CPU: Rasa + action server, read from /proc around each "
              f"request; replies with a source line: {replies.get('replies_with_source')}).",
              ""]
    if plot_cdf({"NLU parse": raw.get("nlu", []), **(raw.get("replies") or {})}, out_dir / "latency.png",
                "Latency, one request at a time"):
        lines += ["![latency CDF](latency.png)", ""]

    load = details.get("load", {})
    lines += ["## Load", "",
              "Closed loop: each conversation sends its next message when the reply arrives (no think time), "
              "so it finds capacity; mean latency = conversations / throughput (Little's law). Paced: the 20 "
              "conversations together offer the target rate. Conversations replay evaluation cases under "
              "new sender ids.", ""]
    if details.get("load_notes"):
        lines += [f"Note: {details['load_notes']}.", ""]
    lines += side_by_side(load, details.get("multi", {}))
    for name, rows in load.items():
        if not isinstance(rows, list):
            lines += [f"{name}: {rows}", ""]
            continue
        lines += [f"### {name}", ""]
        lines += _table(["mode", "conversations", "offered msg/s", "msg/s", "p50 ms", "p95 ms", "p99 ms",
                         "errors", "messages", "client cores"],
                        [[s["mode"], s["conversations"], s["offered_rate_msg_s"], s["throughput_msg_s"],
                          s["p50_ms"], s["p95_ms"], s["p99_ms"], s["errors"], s["messages"],
                          s["client_cpu_cores"]] for s in rows])
    if plot_load(load, out_dir / "load.png"):
        lines += ["![load](load.png)", ""]

    memory = details.get("memory", {})
    lines += ["## Memory", ""]
    lines += _table(["when", "messages since warm-up", "Rasa server MiB", "action server MiB"], [
        ["after warm-up", 0, memory.get("warm", {}).get("rasa_mb"), memory.get("warm", {}).get("actions_mb")],
        ["after the messages", memory.get("after", {}).get("messages"), memory.get("after", {}).get("rasa_mb"),
         memory.get("after", {}).get("actions_mb")],
    ])
    if plot_memory(raw.get("ticks", []), out_dir / "memory.png"):
        lines += ["![memory](memory.png)", ""]

    train, kb, wechat = details.get("train", {}), details.get("kb", {}), details.get("wechat", {})
    lines += ["## Training, knowledge base, WeChat", ""]
    lines += _table(["what", "value"], [
        ["training from scratch, s", train.get("train_s", "skipped")],
        ["model size, MiB", train.get("model_mb", "–")],
        ["KB build, s", kb.get("build_s", kb.get("error", "–"))],
        ["KB search p50 / p95, ms", f"{_fmt(kb.get('search_ms', {}).get('p50'), 2)} / "
                                    f"{_fmt(kb.get('search_ms', {}).get('p95'), 2)}"],
        ["WeChat path p50 / p95, ms", f"{_fmt(wechat.get('p50_ms'))} / {_fmt(wechat.get('p95_ms'))}"
         if "p50_ms" in wechat else str(wechat.get("error", "–"))],
        ["WeChat replies via customer-service API (over 4.5 s)", wechat.get("slow_via_customer_service", "–")],
    ])

    ev, base, cv = details.get("eval", {}), details.get("baseline", {}), details.get("crossval", {})
    lines += ["## Accuracy", ""]
    lines += [f"Evaluation set ({ev.get('total', '?')} questions over REST): bot {_pct(ev.get('pass_rate'))}; "
              f"BM25 over the documents' passages (best passage + citation, same checks): "
              f"{_pct(base.get('pass_rate'))}.", ""]
    names = sorted(set(ev.get("categories", {})) | set(base.get("categories", {})))
    lines += _table(["category", "questions", "bot", "BM25 baseline"], [
        [n, ev.get("categories", {}).get(n, {}).get("total"), _pct(ev.get("categories", {}).get(n, {}).get("rate")),
         _pct(base.get("categories", {}).get(n, {}).get("rate"))] for n in names])
    if plot_accuracy(ev, base, out_dir / "accuracy.png"):
        lines += ["![accuracy](accuracy.png)", ""]
    if cv.get("intent_macro_f1") is not None:
        entities = ", ".join(f"{k} {v['macro_f1']:.3f}" for k, v in cv.get("entities", {}).items()) or "–"
        lines += [f"{cv['folds']}-fold cross-validation ({cv['intent_examples']} examples): intent macro-F1 "
                  f"{cv['intent_macro_f1']:.3f}, weighted-F1 {cv['intent_weighted_f1']:.3f}; entity macro-F1: "
                  f"{entities}."
                  + (f" Of the {cv['errors']} misclassified examples, {cv['confident_errors']} "
                     f"({cv['confident_error_rate']:.1%} of all) had a confidence of at least "
                     f"{cv['fallback_threshold']}; Rasa scores the others by their top intent although the "
                     f"bot would send them to the fallback (clarify / search)." if "confident_errors" in cv else ""),
                  ""]
        lines += _table(["true intent", "predicted", "count"],
                        [[p["intent"], p["predicted"], p["count"]] for p in cv.get("top_confusions", [])])
    else:
        lines += ["Cross-validation: skipped (run `make crossval`).", ""]

    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    raw_path = args.out / "raw.json"
    raw = json.loads(raw_path.read_text(encoding="utf-8")) if raw_path.is_file() else {}
    print(write_report(results, raw, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
