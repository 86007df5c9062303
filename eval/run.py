"""``rag eval``: evaluate the product and its baselines on a question set.

    rag eval --dataset gold
    rag eval --dataset realtimeqa --weeks 20230106 20230113 20230120 20230127
    rag eval --dataset rgb --limit 20 --seed 1

The same command is installed as ``rag-eval``. ``rag`` finds it through the
``newsrag.commands`` entry point, so the core never imports this package.

Writes ``results.json``, ``report.md`` and PNG plots into ``--out`` (by default
``eval/runs/<dataset>-<time>``). The index of each dataset is cached under
``.rag/eval/`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from eval import DESIGNS, PRODUCT_VARIANTS, RETRIEVERS, SYSTEMS
from eval.commands import script_main, subcommand
from rag.errors import ConfigError, RagError

DATASETS = ("gold", "exact", "realtimeqa", "rgb", "rgb-counterfactual")


def default_index_dir(dataset: str, weeks: list[str] | None) -> Path:
    name = dataset if not weeks else f"{dataset}-{min(weeks)}-{max(weeks)}"
    if dataset == "realtimeqa" and not weeks:
        name = "realtimeqa-all"
    return Path(".rag") / "eval" / name


DESCRIPTION = "Evaluate the product and its baselines on a question set."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--weeks", nargs="+", help="RealTimeQA weeks (YYYYMMDD); default all")
    parser.add_argument("--limit", type=int, help="evaluate a sample of N questions")
    parser.add_argument("--seed", type=int, default=0, help="seed for --limit's sample")
    parser.add_argument(
        "--retrievers",
        nargs="+",
        choices=(*RETRIEVERS, *PRODUCT_VARIANTS, *DESIGNS),
        default=list(RETRIEVERS),
        help="also product-rm3, product-rocchio, product-prf, product-wide, product-rerank, "
        "product-hyde, product-deep: the product with one recall setting on; "
        + "; ".join(f"{name}: {what}" for name, what in DESIGNS.items()),
    )
    parser.add_argument("--systems", nargs="*", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument(
        "--no-dates",
        dest="dates",
        action="store_false",
        help="do not tell the product the day each question was asked (RealTimeQA asks it "
        "as of that day by default, as --as-of does)",
    )
    parser.add_argument("--out", type=Path, help="run folder (default eval/runs/...)")
    parser.add_argument("--index-dir", type=Path, help="index cache for this dataset")
    parser.add_argument("--k", type=int, help="passages the product retrieves")
    parser.add_argument("--config", help="TOML config file, as for rag")
    parser.add_argument("-v", "--verbose", action="store_true")


def _require_extras() -> None:
    import importlib.util

    missing = [name for name in ("matplotlib",) if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"rag eval needs {', '.join(missing)}, from the eval extra: "
            "run `pip install -e '.[eval]'` in the project folder."
        )


def run(args: argparse.Namespace) -> int:
    """Run the evaluation that ``args`` describes; the exit code."""
    from eval.datasets import load_dataset
    from eval.harness import Evaluation, RunOptions, write_run
    from rag.config import load_settings

    prog = "rag eval" if getattr(args, "command", None) == "eval" else "rag-eval"
    try:
        _require_extras()
        if args.limit is not None and args.limit <= 0:
            raise ConfigError(f"--limit must be greater than 0, got {args.limit}")
        index_dir = args.index_dir or default_index_dir(args.dataset, args.weeks)
        # Evaluations are repeatable: greedy decoding whatever the config says.
        settings = load_settings(
            {"index_dir": index_dir, "k": args.k, "temperature": 0.0}, config_file=args.config
        )
        dataset = load_dataset(args.dataset, weeks=args.weeks)
        options = RunOptions(
            args.limit, args.seed, tuple(args.retrievers), tuple(args.systems), args.dates
        )
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=min(args.limit or 10**9, len(dataset.questions)), unit="question")

        def progress(stage: str, done: int, total: int) -> None:
            if bar is not None:
                bar.update(done - bar.n)

        result = Evaluation(dataset, settings, options, progress=progress).run()
        if bar is not None:
            bar.close()
        out = args.out or Path("eval") / "runs" / f"{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
        write_run(result, out)
    except RagError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return err.exit_code
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"Run written to {out}/ (results.json, report.md, answer_in_top_k.png, latency.png)")
    return 0


register = subcommand("eval", DESCRIPTION, add_arguments, run)


def main(argv: list[str] | None = None) -> int:
    return script_main("rag-eval", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
