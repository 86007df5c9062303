"""The question-answering service that the CLI and the UI share.

``RagService`` owns the models and the index for one index directory. Models
load once, in ``warm_up()`` or on first use; the index is re-read only when
its manifest changes on disk, so a running chat sees articles indexed by
another process without a restart.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from index.store import IndexSnapshot, IndexStore
from rag.chunk import ChunkerSettings, split_sentences
from rag.cite import (
    ABSTAIN_TEXT,
    closest_quote,
    content_words,
    is_abstention,
    relevance,
    verify_citations,
)
from rag.cite import (
    MARKER as MARKERS,
)
from rag.config import Settings
from rag.conflict import sentences_conflict
from rag.dates import mentioned_window, recent_window, within
from rag.embed import make_embedder
from rag.errors import ConfigError, InputError
from rag.indexing import Indexer, IndexReport, Progress
from rag.lexical import STOPWORDS
from rag.prompt import build_prompt, focus_passage
from rag.rerank import rerank
from rag.retrieve import HybridRetriever
from rag.support import Judge, answers_question, asked_kind, gives_kind
from rag.types import (
    Answer,
    AnswerEvent,
    Article,
    Citation,
    Embedder,
    Generator,
    ScoredPassage,
    SearchFilter,
    Timings,
    TokenEvent,
    Turn,
)

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
# An answer stands only when a passage that supports it shares at least this
# share of the question's terms; below it the passage is about something else.
MIN_RELEVANCE = 0.5


@dataclass(frozen=True)
class DocumentInfo:
    article: Article
    n_chunks: int


def check_question(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise InputError("The question is empty. Type a question about the indexed articles.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(question):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Ask a shorter question."
        )
    return question


def parse_day(value: str | None, flag: str) -> datetime.date | None:
    """A YYYY-MM-DD date given by a user, or None when empty."""
    if value is None or not value.strip():
        return None
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{flag} must be a date like 2023-01-31, got {value!r}.") from None


def _check_day(value: str | None, flag: str) -> str | None:
    day = parse_day(value, flag)
    return day.isoformat() if day else None


def make_filter(
    since: str | None = None, until: str | None = None, sources: Sequence[str] = ()
) -> SearchFilter:
    """A search filter from user input, with the dates checked (YYYY-MM-DD)."""
    date_from, date_to = _check_day(since, "--since"), _check_day(until, "--until")
    if date_from and date_to and date_from > date_to:
        raise InputError(f"--since ({date_from}) is after --until ({date_to}).")
    return SearchFilter(date_from, date_to, tuple(s.strip() for s in sources if s.strip()))


def repeats_itself(text: str) -> bool:
    """Has the text just completed a sentence it already wrote?"""
    sentences = [text[a:b] for a, b in split_sentences(text)]
    if len(sentences) < 2 or not text.rstrip().endswith((".", "!", "?", "]")):
        return False
    last = sentences[-1].strip().lower()
    return any(s.strip().lower() == last for s in sentences[:-1])


# Words that point back into the conversation instead of naming what they mean.
_REFERRING = frozenset(
    """he him his she her hers it its they them their theirs this that these those there
    then such same one ones former latter before earlier later afterwards""".split()
)
_LEADS = ("and ", "but ", "what about", "how about", "so ", "also ")
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:[A-Z][\w'’-]*|(?:of|al|bin|de|von)\b))*")


def needs_context(question: str) -> bool:
    """Does the question lean on the conversation ("What did he say?", "And why?")?"""
    words = re.findall(r"[\w'’]+", question.lower())
    if any(w in _REFERRING for w in words) or question.lower().startswith(_LEADS):
        return True
    return len(content_words(question)) < 2


def _names(text: str) -> list[str]:
    """Capitalised phrases, minus a sentence's first word when it is a plain word."""
    found = []
    for match in _NAME.finditer(text):
        name = match.group(0)
        first = name.split()[0]
        starts = match.start() == 0 or text[: match.start()].rstrip().endswith((".", "?", "!"))
        if starts and (first.lower() in STOPWORDS or first.lower() in _ASKING):
            rest = name.split()[1:]
            if not rest:
                continue
            name = " ".join(rest)
        found.append(name)
    return found


_ASKING = frozenset("what who when where why how which whose whom did does do is are was".split())


def search_query_for(question: str, history: Sequence[Turn]) -> str:
    """A stand-alone query for retrieval: a follow-up gets the subject it refers to.

    "What did he say about resigning?" after a question about Rouhani becomes
    "What did he say about resigning? Rouhani ...": the names and content words of
    the previous question and the names in its answer that the follow-up lacks.
    A question that stands on its own (no pronoun, enough words) is left alone,
    so a change of subject does not drag the old one along.
    """
    if not history or not needs_context(question):
        return question
    last = history[-1]
    have = content_words(question)
    extra: list[str] = []
    for name in _names(last.question) + _names(last.answer):
        if not content_words(name) <= have | content_words(" ".join(extra)):
            extra.append(name)
    seen = have | content_words(" ".join(extra))
    for word in re.findall(r"[\w'’]+", last.question):
        if word.lower() in content_words(word) and word.lower() not in seen:
            extra.append(word)
            seen.add(word.lower())
    return f"{question} {' '.join(extra)}".strip()


class RagService:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self.store = IndexStore(settings.index_dir)
        self._embedder = embedder
        self._generator = generator
        self._snapshot: IndexSnapshot | None = None
        self._snapshot_key: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._embedder_loaded = False
        self._reranker: Generator | None = None

    # --- models -------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder, loaded on first use."""
        embedder = self._unloaded_embedder()
        warm_up = getattr(embedder, "warm_up", None)
        if warm_up is not None and not self._embedder_loaded:
            warm_up()
        self._embedder_loaded = True
        return embedder

    def _unloaded_embedder(self) -> Embedder:
        # Constructing is cheap; reading the model id must not load the model.
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from rag.generate import LlamaCppGenerator

            generator = LlamaCppGenerator(
                self.settings.model,
                context_size=self.settings.context_size,
                threads=self.settings.threads,
            )
            generator.warm_up()
            self._generator = generator
        return self._generator

    def judge(self) -> Judge | None:
        """The model as a yes/no judge of support, when it is an instruction model."""
        if not self.settings.judge:
            return None
        generator = self.generator
        if not generator.has_chat_template or not hasattr(generator, "judge"):
            return None
        return generator  # type: ignore[return-value]

    def use_model(self, model: str | Path) -> str:
        """Load another model (a pack name or a GGUF file); questions from now on use it.

        The new model loads before it replaces the old one, so a bad file leaves
        the chat answering with the model it had. An answer already being written
        finishes with the model it started with.
        """
        from rag.generate import LlamaCppGenerator
        from rag.packs import find_pack

        name = str(model).strip()
        if find_pack(name) is None:
            path = Path(name).expanduser()
            if path.suffix.lower() != ".gguf":
                raise InputError(
                    f"{path} is not a .gguf file or a model pack name. Give a pack name "
                    "(`rag models`) or the path of a GGUF model file."
                )
            name = str(path)
        generator = LlamaCppGenerator(
            name, context_size=self.settings.context_size, threads=self.settings.threads
        )
        generator.warm_up()
        self._generator = generator
        self.settings = self.settings.updated(model=name)
        return generator.model_id

    def warm_up(self, *, generator: bool = True) -> None:
        """Load the models now rather than on the first question."""
        self._load_models(generator=generator)

    def _load_models(
        self, *, embedder: bool = True, generator: bool = True, index: bool = False
    ) -> float:
        """Load what is asked for and not loaded yet; the milliseconds it took (0: nothing).

        With both models to load, the language model loads in a thread while the
        embedder loads here: most of each is native code that releases the GIL
        (llama.cpp mapping the GGUF file, OpenVINO reading its compiled model), so
        on two cores they overlap. ``index`` reads the index too, when it changed
        on disk, here while the language model may still be loading. An error is
        raised here, in the order loading one after the other would raise it.
        """
        embedder = embedder and not self._embedder_loaded
        generator = generator and self._generator is None
        if not (embedder or generator or index):
            return 0.0
        started = time.perf_counter()
        snapshot = self._snapshot

        def load_here() -> None:
            if index:
                self.snapshot()
            if embedder:
                _ = self.embedder

        # An embedder about to be exported (once, minutes) loads alone: llama.cpp
        # silences stderr while it loads, and the export's notice must be seen.
        if embedder and generator and getattr(self._unloaded_embedder(), "exported", True):
            failed: list[BaseException] = []

            def load_generator() -> None:
                try:
                    _ = self.generator
                except BaseException as exc:  # raised again in the caller's thread
                    failed.append(exc)

            thread = threading.Thread(target=load_generator, name="rag-load-model", daemon=True)
            thread.start()
            try:
                load_here()
            finally:
                thread.join()
            if failed:
                raise failed[0]
        else:
            load_here()
            if generator:
                _ = self.generator
        if not (embedder or generator) and self._snapshot is snapshot:
            return 0.0  # the index was current: nothing was loaded
        return (time.perf_counter() - started) * 1000

    # --- index --------------------------------------------------------------

    def snapshot(self, *, vectors: bool = True) -> IndexSnapshot:
        """The current index, re-read only when its manifest has changed.

        ``vectors=False`` is enough to list the articles: unless they are loaded
        already, the FAISS and BM25 indexes are not read (nor their libraries imported).
        """
        manifest = self.store.path / "manifest.json"
        with self._lock:
            try:
                stat = manifest.stat()
                key = (stat.st_mtime_ns, stat.st_size)
            except OSError:  # no index yet, or not a folder: load() says which
                key = None
            stale = self._snapshot is None or key != self._snapshot_key
            if stale or (vectors and self._snapshot.faiss_index is None):
                self._snapshot = self.store.load(
                    embedder_id=self._unloaded_embedder().model_id, vectors=vectors
                )
                self._snapshot_key = key
            return self._snapshot

    @property
    def upload_dir(self) -> Path:
        """Where files added through the web chat are kept (inside the index folder)."""
        return self.store.path / "uploads"

    def chunker_settings(self) -> ChunkerSettings:
        return ChunkerSettings(
            max_tokens=self.settings.chunk_max_tokens,
            target_tokens=self.settings.chunk_target_tokens,
            overlap_sentences=self.settings.chunk_overlap_sentences,
        )

    def indexer(self) -> Indexer:
        return Indexer(self.store, self.embedder, self.chunker_settings())

    def index_paths(
        self,
        paths: Sequence[str | Path],
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        return self.indexer().index_paths(paths, rebuild=rebuild, progress=progress)

    def remove(self, selectors: Sequence[str], *, recursive: bool = False) -> list[Article]:
        """Remove articles by exact id or file path (see ``Indexer.remove``).

        Nothing is embedded, so the embedder is not loaded.
        """
        indexer = Indexer(self.store, self._unloaded_embedder(), self.chunker_settings())
        return indexer.remove(selectors, recursive=recursive)

    def documents(self) -> list[DocumentInfo]:
        snapshot = self.snapshot(vectors=False)
        counts: dict[str, int] = {}
        for chunk in snapshot.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        infos = [DocumentInfo(a, counts.get(d, 0)) for d, a in snapshot.documents.items()]
        return sorted(infos, key=lambda i: (i.article.date or "", i.article.title), reverse=True)

    def article(self, doc_id: str) -> Article:
        return self.snapshot().documents[doc_id]

    # --- questions ----------------------------------------------------------

    def retriever(self) -> HybridRetriever:
        return HybridRetriever(
            self.embedder,
            self.snapshot(),
            feedback=self.settings.feedback,  # type: ignore[arg-type]
            neighbours=self.settings.passage_neighbours,
        )

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        where: SearchFilter | None = None,
        as_of: datetime.date | None = None,
    ) -> list[ScoredPassage]:
        """The best passages for ``query``.

        ``as_of`` answers as if asked on that day: later articles are left out.
        Passages from the days before the question is asked (``as_of``, else
        today) rank higher: the window its time words name ("this week",
        "yesterday"), or else the last ``RECENT_DAYS`` days. An older passage
        comes first only when both sides rank the recent ones low.
        """
        query = check_question(query)
        k = k or self.settings.k
        day = as_of or datetime.date.today()
        if as_of is not None:
            limit = (as_of + datetime.timedelta(days=1)).isoformat()
            where = within(SearchFilter(date_to=limit), where or SearchFilter())
        window = mentioned_window(query, day) or recent_window(day)
        depth = max(k, self.settings.rerank)
        passages = self.retriever().search(query, depth, where=where, preferred=window)
        if self.settings.rerank:
            passages = rerank(self.reranker(), query, passages, depth=self.settings.rerank)
        return passages[:k]

    def reranker(self) -> Judge:
        """The instruction model that re-ranks passages (the answering model, if the same)."""
        if self._reranker is None:
            from rag.generate import LlamaCppGenerator

            if self.settings.rerank_model == self.settings.model:
                self._reranker = self.generator
            else:
                generator = LlamaCppGenerator(
                    self.settings.rerank_model,
                    context_size=self.settings.context_size,
                    threads=self.settings.threads,
                )
                generator.warm_up()
                self._reranker = generator
        if not getattr(self._reranker, "has_chat_template", False):
            raise ConfigError(
                f"rerank_model {self.settings.rerank_model!r} has no chat template, so it "
                "cannot judge passages: use an instruction model (`rag models`)."
            )
        return self._reranker  # type: ignore[return-value]

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        passages: Sequence[ScoredPassage] | None = None,
        where: SearchFilter | None = None,
        as_of: datetime.date | None = None,
    ) -> Iterator[TokenEvent | AnswerEvent]:
        """Yield the answer's pieces as they are written, then the checked answer.

        ``passages`` skips retrieval and answers from the given ones (evaluation uses
        it to hand the model the gold passage).
        """
        question = check_question(question)
        query = search_query_for(question, history)
        load_ms = self._load_models(embedder=passages is None, index=passages is None)
        generator = self.generator
        started = time.perf_counter()
        if passages is None:
            passages = self.search(query, k=k, where=where, as_of=as_of)
        retrieve_ms = (time.perf_counter() - started) * 1000
        if not passages:
            timings = Timings(retrieve_ms=retrieve_ms, total_ms=retrieve_ms, load_ms=load_ms)
            yield AnswerEvent(
                Answer(question, ABSTAIN_TEXT, abstained=True, timings=timings, search_query=query)
            )
            return
        max_tokens = max_tokens or self.settings.max_tokens
        focused = [focus_passage(p, question, self.settings.passage_words) for p in passages]
        plan = build_prompt(
            question,
            focused,
            count_tokens=generator.count_tokens,
            context_size=generator.context_size,
            max_answer_tokens=max_tokens,
            history=history,
        )
        options = {
            "max_tokens": max_tokens,
            "temperature": self.settings.temperature if temperature is None else temperature,
            "stop": plan.stop,
        }
        pieces = (
            generator.stream_chat(plan.messages, **options)
            if generator.has_chat_template
            else generator.stream(plan.text, **options)
        )
        raw: list[str] = []
        first_token_ms: float | None = None
        for piece in pieces:
            if first_token_ms is None:
                first_token_ms = (time.perf_counter() - started) * 1000
            raw.append(piece)
            yield TokenEvent(piece)
            if piece.strip() and repeats_itself("".join(raw)):
                break  # small models loop; a repeated sentence adds nothing
        checking = time.perf_counter()
        answer = self._finish(question, "".join(raw), plan.passages, passages)
        now = time.perf_counter()
        timings = Timings(
            retrieve_ms,
            first_token_ms,
            (now - started) * 1000,
            len(raw),
            load_ms=load_ms,
            check_ms=(now - checking) * 1000,
        )
        yield AnswerEvent(
            replace(answer, passages=tuple(passages), timings=timings, search_query=query)
        )

    def _finish(
        self,
        question: str,
        raw: str,
        prompt_passages: Sequence[ScoredPassage],
        passages: Sequence[ScoredPassage],
    ) -> Answer:
        if is_abstention(raw):
            return self._quote_or_abstain(question, passages, "the model found no answer")
        checked = verify_citations(raw, prompt_passages, question, judge=self.judge())
        if not checked.citations:
            return self._quote_or_abstain(
                question, passages, "no passage supports the model's answer", checked.unsupported
            )
        # Judge relevance on the whole retrieved chunk, not the window the model read.
        whole = {p.chunk_id: p for p in passages}
        best = max(
            relevance(question, whole.get(c.passage.chunk_id, c.passage)) for c in checked.citations
        )
        if not content_words(MARKERS.sub("", checked.text)) - content_words(question):
            return self._quote_or_abstain(
                question, passages, "the answer only repeats the question", (checked.text,)
            )
        if not gives_kind(checked.text, question, asked_kind(question)):
            return self._quote_or_abstain(
                question,
                passages,
                f"the answer gives no {asked_kind(question)}, which the question asks for",
                (checked.text,),
            )
        if best < MIN_RELEVANCE:
            return self._quote_or_abstain(
                question,
                passages,
                "the passages that support the answer are about something else",
                (checked.text,),
            )
        answer = Answer(
            question,
            checked.text,
            abstained=False,
            citations=checked.citations,
            unsupported=checked.unsupported,
        )
        return with_other_side(answer, prompt_passages)

    def _quote_or_abstain(
        self,
        question: str,
        passages: Sequence[ScoredPassage],
        reason: str,
        unsupported: tuple[str, ...] = (),
    ) -> Answer:
        """No checked answer: quote the sentence closest to the question, or abstain.

        With an instruction model the quote must also be judged to answer the
        question: a sentence that only shares its names is no answer.
        """
        quote = closest_quote(question, passages)
        if quote is not None and not gives_kind(quote.text, question, asked_kind(question)):
            quote = None  # it shares the question's words but not what it asks for
        judge = self.judge() if quote is not None else None
        if judge is not None and not answers_question(question, quote.text, judge):
            quote = None
        if quote is None:
            return Answer(
                question, ABSTAIN_TEXT, abstained=True, unsupported=unsupported, reason=reason
            )
        return Answer(
            question,
            f"The articles say: \u201c{quote.text}\u201d [{quote.marker}]",
            abstained=False,
            citations=(quote,),
            unsupported=unsupported,
            quoted=True,
        )

    def ask(self, question: str, **options: object) -> Answer:
        for event in self.ask_stream(question, **options):  # type: ignore[arg-type]
            if isinstance(event, AnswerEvent):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")


def with_other_side(answer: Answer, passages: Sequence[ScoredPassage]) -> Answer:
    """The answer, plus the sentence of another article that states a different fact.

    When a cited sentence and a sentence of another passage make the same
    statement with a different name or number, the reader is told the sources
    disagree and sees both, each with its marker, instead of one picked in silence.
    """
    cited = {c.passage.doc_id for c in answer.citations}
    for citation in answer.citations:
        for n, passage in enumerate(passages, 1):
            if passage.doc_id in cited:
                continue
            for start, end in split_sentences(passage.text):
                sentence = passage.text[start:end]
                if sentences_conflict(citation.text, sentence) is None:
                    continue
                other = Citation(
                    marker=n,
                    passage=passage,
                    text=sentence,
                    start=passage.chunk.start + start,
                    end=passage.chunk.start + end,
                )
                text = (
                    f"{answer.text} The sources disagree: another article says "
                    f"\u201c{sentence.strip()}\u201d [{n}]."
                )
                return replace(
                    answer, text=text, citations=(*answer.citations, other), conflict=True
                )
    return answer
