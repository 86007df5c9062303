"""One settings object, built at the edge and passed down.

Precedence, highest first: command-line flags, ``RAG_*`` environment
variables, a TOML config file, the defaults below. The config file is the one
named by ``--config`` or ``RAG_CONFIG``, else ``./rag.toml``, else
``$XDG_CONFIG_HOME/newsrag/config.toml`` when it exists.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from rag.errors import ConfigError


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


# The settings that pick a behaviour by name, each the names it takes (``CHOICES`` below).
# "auto" first: the backend measured fastest on this machine (rag.embed.choose).
EmbedBackend = Literal["auto", "torch", "openvino-int8", "openvino-fp32", "onnx-int8"]
Feedback = Literal["off", "rm3", "rocchio", "both"]
QueryWriter = Literal["off", "hyde"]
Reader = Literal["sentences", "passages"]
AnswerMode = Literal["write", "choose"]
FEEDBACK_MODES: tuple[Feedback, ...] = get_args(Feedback)
# `rag serve`: where it listens unless told, and how many questions may wait for the model
# behind the one it answers (one more is refused with HTTP 429).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_SIZE = 32


@dataclass(frozen=True)
class Settings:
    index_dir: Path = _data_home() / "newsrag" / "index"
    # An embedder pack name (`rag models`: all-minilm-l6-v2, all-mpnet-base-v2) or a
    # sentence-transformers folder; None means the default pack, all-minilm-l6-v2.
    embedder: str | None = None
    # "auto": the fastest backend on this CPU whose vectors match PyTorch's, measured once
    # per machine and remembered. "openvino-int8" runs the embedder with OpenVINO, weights
    # and activations in int8 (fastest where the CPU has VNNI); "openvino-fp32" OpenVINO in
    # float32; "onnx-int8" ONNX Runtime, weights in int8; "torch" PyTorch.
    embed_backend: EmbedBackend = "auto"
    # A model pack name (`rag models`), a GGUF path, or "auto" (also what None means): the
    # best-rated installed pack whose typical answer takes at most ``answer_budget`` seconds
    # on this machine, timed once per machine (rag.answer.pick).
    model: str | None = None
    answer_budget: float = 2.5
    # Check answers by meaning with the model's own yes/no judgement (instruction models).
    judge: bool = True
    # A second model, an instruction model (pack name or GGUF), that judges the answers of
    # the answering model; for a base model such as the default, which cannot judge itself.
    judge_model: str | None = None
    k: int = 4
    # Pseudo-relevance feedback, a second search with the query the first one suggests:
    # "rm3" expands the BM25 query, "rocchio" moves the dense one, "both", or "off".
    feedback: Feedback = "off"
    # Chunks on either side of each matched chunk handed on with it ("match small, read
    # large"); 0 hands on the matched chunk alone.
    passage_neighbours: int = 0
    # Candidates each side (dense, BM25) hands to fusion, at least (2 k when that is more;
    # the retriever's own default is rag.search.retrieve.CANDIDATE_DEPTH, the same 50).
    candidate_depth: int = 50
    # Re-rank the first this many passages with an instruction model's yes/no judgement
    # (0: off). Slow on CPU: seconds per candidate (README, "First-stage recall").
    rerank: int = 0
    rerank_model: str = "qwen2.5-coder-0.5b"
    # "hyde": an instruction model (``query_model``) writes the opening sentence of a report
    # that would answer the question, and the search adds that sentence's rankings; "off".
    # Did not help on RealTimeQA and costs a second a question (README, "First-stage recall").
    query_writer: QueryWriter = "off"
    query_model: str = "qwen2.5-coder-0.5b"
    # Words of each passage the model reads: the sentences around the best match
    # (the "passages" reader).
    passage_words: int = 90
    # How the answer is read from the passages: "passages" hands the model ``k`` passages
    # cut to ``passage_words`` words around the best match; "sentences" ranks every
    # sentence of the first ``read_depth`` passages for answering the question and hands it
    # the best ``evidence_sentences`` of them. "passages" stays the default: it answered
    # right more often on RealTimeQA and the gold set (README, "The reader, measured").
    reader: Reader = "passages"
    read_depth: int = 12
    evidence_sentences: int = 4
    # "write": the model writes the answer from the sentences; "choose": for a question
    # asking for a name, date or number, the model's likelihood picks one of the
    # candidates in the best sentences (or declines), and writes only for other questions.
    answer_mode: AnswerMode = "write"
    temperature: float = 0.0
    max_tokens: int = 160
    context_size: int = 2048
    threads: int | None = None
    chunk_max_tokens: int = 256
    chunk_target_tokens: int = 200
    chunk_overlap_sentences: int = 1
    embed_batch_size: int = 32
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Fetch URLs and feeds on loopback and private networks (refused by default, so a
    # feed cannot make the server probe the local network).
    allow_private_urls: bool = False
    # Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10, 169.254.169.254,
    # fd00:ec2::254, 100.100.100.200) stay refused even with allow_private_urls: a feed
    # must not read a cloud machine's credentials. An address or host named here is fetched.
    allow_url_hosts: tuple[str, ...] = ()
    # Host names `rag serve` answers besides 127.0.0.1, localhost, [::1] and the bound host:
    # any other Host header is refused, so a DNS-rebinding page cannot reach the server.
    allowed_hosts: tuple[str, ...] = ()
    # `rag serve`: the web chat's password (user name 'rag') and the key the HTTP API asks
    # for ('Authorization: Bearer KEY'); off loopback both are required. RAG_PASSWORD and
    # RAG_API_KEY keep them out of the process list; repr leaves them out of logs.
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    # Seconds between two requests to the same web site (feeds, pages, robots.txt).
    fetch_delay: float = 1.0

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            _check(value in allowed, name, value, " or ".join(allowed))
        _check(self.k > 0, "k", self.k, "greater than 0")
        _check(self.k <= 100, "k", self.k, "at most 100")
        _check(
            0 <= self.passage_neighbours <= 5,
            "passage_neighbours",
            self.passage_neighbours,
            "between 0 and 5",
        )
        _check(
            10 <= self.candidate_depth <= 500,
            "candidate_depth",
            self.candidate_depth,
            "between 10 and 500",
        )
        _check(0 <= self.rerank <= 100, "rerank", self.rerank, "between 0 and 100")
        _check(0 < self.read_depth <= 100, "read_depth", self.read_depth, "between 1 and 100")
        _check(
            0 < self.evidence_sentences <= 20,
            "evidence_sentences",
            self.evidence_sentences,
            "between 1 and 20",
        )
        _check(self.passage_words >= 10, "passage_words", self.passage_words, "at least 10")
        _check(0.0 <= self.temperature <= 2.0, "temperature", self.temperature, "between 0 and 2")
        _check(self.max_tokens > 0, "max_tokens", self.max_tokens, "greater than 0")
        _check(self.answer_budget > 0, "answer_budget", self.answer_budget, "greater than 0")
        _check(self.context_size >= 256, "context_size", self.context_size, "at least 256")
        _check(self.threads is None or self.threads > 0, "threads", self.threads, "greater than 0")
        _check(self.chunk_max_tokens > 8, "chunk_max_tokens", self.chunk_max_tokens, "above 8")
        _check(
            0 < self.chunk_target_tokens <= self.chunk_max_tokens,
            "chunk_target_tokens",
            self.chunk_target_tokens,
            f"between 1 and chunk_max_tokens ({self.chunk_max_tokens})",
        )
        _check(
            self.chunk_overlap_sentences >= 0,
            "chunk_overlap_sentences",
            self.chunk_overlap_sentences,
            "0 or more",
        )
        _check(self.embed_batch_size > 0, "embed_batch_size", self.embed_batch_size, "above 0")
        _check(0 < self.port < 65536, "port", self.port, "a TCP port (1-65535)")
        _check(0 <= self.fetch_delay <= 60, "fetch_delay", self.fetch_delay, "between 0 and 60")

    def updated(self, **changes: Any) -> Settings:
        """A copy with the given non-None values replaced (and validated)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# The one table of allowed names, read from the settings' Literal types: Settings checks
# each value against it, and the command line offers them as choices.
CHOICES: dict[str, tuple[str, ...]] = {
    name: get_args(kind)
    for name, kind in get_type_hints(Settings).items()
    if get_origin(kind) is Literal
}


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {expected}, got {value!r}.")


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}
_ENV_PREFIX = "RAG_"


def _coerce(name: str, raw: object, origin: str) -> object:
    kind = str(_FIELD_TYPES[name])
    if raw is None:
        return None
    try:
        if "Path" in kind:
            return Path(os.path.expanduser(str(raw)))
        if kind.startswith("int"):
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("tuple"):
            # A TOML list, repeated flags, or an environment variable's comma-separated text.
            items = raw.split(",") if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
            if not all(isinstance(item, str) for item in items):
                raise ValueError
            return tuple(item.strip() for item in items if item.strip())
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} from {origin} must be {kind}, got {raw!r}.") from None


def _read_config_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Config file {path} could not be read: {exc}.") from None
    # Accept both a flat file and one with a [newsrag] table.
    table = data.get("newsrag", data)
    if not isinstance(table, dict):
        raise ConfigError(f"Config file {path}: [newsrag] must be a table.")
    unknown = sorted(set(table) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(
            f"Config file {path} has unknown settings {unknown}; "
            f"known ones are {sorted(_FIELD_TYPES)}."
        )
    return {k: _coerce(k, v, str(path)) for k, v in table.items()}


def _find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("RAG_CONFIG"):
        return Path(os.environ["RAG_CONFIG"])
    for candidate in (Path("rag.toml"), _config_home() / "newsrag" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    overrides: Mapping[str, object] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from defaults < config file < environment < ``overrides``.

    ``overrides`` holds the command-line values; ``None`` means "not given".
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    path = _find_config_file(config_file)
    if path is not None:
        values.update(_read_config_file(path))
    for name in _FIELD_TYPES:
        env_name = _ENV_PREFIX + name.upper()
        if environ.get(env_name):
            values[name] = _coerce(name, environ[env_name], env_name)
    for name, value in (overrides or {}).items():
        if name not in _FIELD_TYPES:
            raise ConfigError(f"Unknown setting {name!r}.")
        if value is not None:
            values[name] = _coerce(name, value, "the command line")
    return Settings(**values)  # type: ignore[arg-type]


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
