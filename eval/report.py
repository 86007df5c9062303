"""``report.md`` tables and PNG plots for one evaluation run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.results import K_VALUES, RunResult


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.0f}"
    return str(value)


def table(rows: dict[str, dict[str, Any]], columns: list[str], first: str) -> str:
    lines = [
        "| " + " | ".join([first, *columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for name, row in rows.items():
        lines.append("| " + " | ".join([name] + [_fmt(row.get(c)) for c in columns]) + " |")
    return "\n".join(lines)


RETRIEVAL_COLUMNS = [f"answer_in_top_{k}" for k in K_VALUES] + [
    "mrr_at_10",
    "ndcg_at_10",
    "recall_at_5",
    "recall_at_10",
    "follow_up_answer_in_top_5",
    "follow_up_standalone_answer_in_top_5",
    "ms_p50",
    "ms_p95",
    "words_top_5",
]
ON_TOPIC_COLUMNS = [f"on_topic_answer_in_top_{k}" for k in K_VALUES]
ANSWER_COLUMNS = [
    "n",
    "exact_match",
    "token_f1",
    "contains_gold",
    "right",
    "confidently_wrong",
]
GROUNDING_COLUMNS = [
    "citation_precision",
    "citation_recall",
    "abstention_precision",
    "abstention_recall",
    "false_abstention_rate",
]
COST_COLUMNS = [
    "retrieve_ms_p50",
    "first_token_ms_p50",
    "first_token_ms_p95",
    "total_ms_p50",
    "total_ms_p95",
    "tokens_per_s",
]


def _later(result: RunResult) -> str:
    n = result.n_published_later
    return f", {n} of them only from articles published after they were asked" if n else ""


def _on_topic(result: RunResult) -> int:
    return sum(bool(r.get("on_topic_answer")) for r in result.records)


def markdown(result: RunResult) -> str:
    m = result.metrics
    setup = result.setup
    opts = result.options
    notes = result.dataset_notes or {}
    grounded = {k: v for k, v in m.answers.items() if k in ("product", "oracle")}
    parts = [
        f"# Evaluation: {result.dataset}",
        "",
        f"{result.n_questions} questions ({result.n_answerable} answerable from the "
        f"corpus{_later(result)}); {setup.articles} articles, {setup.chunks} chunks; k={opts.k}, "
        f"temperature {opts.temperature}, limit {opts.limit}, seed {opts.seed}; "
        f"run took {result.seconds} s.",
    ]
    if notes:
        parts += ["", "Dataset: " + ", ".join(f"{k} {v}" for k, v in notes.items() if k != "weeks")]
        if "weeks" in notes:
            parts.append(f"Weeks: {', '.join(notes['weeks'])}")
    if setup.chunks_embedded:
        parts.append(
            f"Indexing embedded {setup.chunks_embedded} chunks at "
            f"{setup.embed_chunks_per_s} chunks/s ({setup.index_seconds} s in all)."
        )
    else:
        parts.append(f"The index was already built (checked in {setup.index_seconds} s).")
    parts += [
        "",
        "## Retrieval (answerable questions; a passage is relevant when it holds a gold string)",
        "",
        table(m.retrieval, RETRIEVAL_COLUMNS, "retriever"),
        "",
        f"## Retrieval on topic ({_on_topic(result)} answerable questions with a passage that "
        "holds a gold string and a third of the question's terms; only such passages count)",
        "",
        table(m.retrieval, ON_TOPIC_COLUMNS, "retriever"),
        "",
        "## Answers (answerable questions)",
        "",
        table(m.answers, ANSWER_COLUMNS, "system"),
        "",
        "## Citations and abstention",
        "",
        table(grounded, GROUNDING_COLUMNS, "system"),
        "",
        "## Cost (ms unless stated)",
        "",
        table(grounded, COST_COLUMNS, "system"),
        "",
        "How to read this: `answer_in_top_k` is the share of answerable questions with a gold"
        " string in one of the first k passages; `recall_at_k` the share of gold articles "
        "among them (where the dataset names them). `on_topic_answer_in_top_k` counts only "
        "passages that also hold a third of the question's (stemmed) terms under their title,"
        " over the questions the corpus has such a passage for: a gold string also matches by"
        " coincidence (a place of the same name, a number in a score). `contains_gold` is the"
        " share of answers that contain a gold string; `right` is the share of all questions "
        "answered right (naming the gold choice and no other where the dataset gives choices,"
        " else holding a gold string) and `confidently_wrong` the share answered but not "
        "right. Citation precision is the share of citations whose passage holds a gold "
        "string or the supporting sentence; citation recall the share of answerable questions"
        " whose answer cites such a passage. `closed_book` answers with no passages, "
        "`extractive` returns the top passage's best-matching sentence, `oracle` gives the "
        "model the passage that holds the answer: the upper bound for generation.",
    ]
    return "\n".join(parts) + "\n"


def write_report(result: RunResult, out_dir: Path) -> None:
    (out_dir / "report.md").write_text(markdown(result), encoding="utf-8")
    plot_topk(result, out_dir / "answer_in_top_k.png")
    plot_latency(result, out_dir / "latency.png")


def plot_topk(result: RunResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, row in result.metrics.retrieval.items():
        values = [row.get(f"answer_in_top_{k}") or 0.0 for k in K_VALUES]
        ax.plot(K_VALUES, values, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(K_VALUES, [str(k) for k in K_VALUES])
    ax.set_xlabel("k (passages)")
    ax.set_ylabel("answer in top k")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.dataset}: answer in top k")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(result: RunResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("product", "oracle"):
        values = [
            r["answers"][name]["timings"]["total_ms"]
            for r in result.records
            if name in r["answers"]
        ]
        if values:
            ax.hist(values, bins=20, alpha=0.6, label=f"{name} total")
    first = [
        r["answers"]["product"]["timings"]["first_token_ms"]
        for r in result.records
        if "product" in r["answers"] and r["answers"]["product"]["timings"]["first_token_ms"]
    ]
    if first:
        ax.hist(first, bins=20, alpha=0.6, label="product first token")
    ax.set_xlabel("milliseconds")
    ax.set_ylabel("questions")
    ax.set_title(f"{result.dataset}: answer latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
