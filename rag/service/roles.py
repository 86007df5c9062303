"""The second roles a language model plays: the judge of support, the re-ranker and the
query writer.

Each role is played by a model named in the settings (``Models.helper``: the answering
model when it is the same one), and only an instruction model, one with a chat template,
can play it. Imports ``rag.answer.support``, ``rag.errors`` and ``rag.types``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from rag.answer.support import Judge
    from rag.service.models import Models
    from rag.types import Generator


def judge(models: Models) -> Judge | None:
    """The yes/no judge of support: ``judge_model`` when set, else the answering
    model when it is an instruction model."""
    settings = models.settings
    if not settings.judge:
        return None
    if settings.judge_model is None:
        generator = models.generator
    else:
        generator = models.helper(settings.judge_model)
        if not generator.has_chat_template:
            raise ModelError(
                f"The judge model {generator.model_id} has no chat template: a judge must "
                "be an instruction model, such as qwen2.5-coder-0.5b (`rag models`)."
            )
    if not generator.has_chat_template or not hasattr(generator, "judge"):
        return None
    return generator  # type: ignore[return-value]


def reranker(models: Models) -> Judge:
    """The instruction model that re-ranks passages (the answering model, if the same)."""
    model = _instruction_model(
        models, "rerank_model", models.settings.rerank_model, "judge passages"
    )
    return model  # type: ignore[return-value]


def query_writer(models: Models) -> Generator:
    """The instruction model that writes search queries (the answering model, if the same)."""
    return _instruction_model(
        models, "query_model", models.settings.query_model, "write search queries"
    )


def _instruction_model(models: Models, setting: str, name: str, job: str) -> Generator:
    """The second model ``name`` (from ``setting``), refused unless it has a chat template."""
    model = models.helper(name)
    if not getattr(model, "has_chat_template", False):
        raise ConfigError(
            f"{setting} {name!r} has no chat template, so it cannot {job}: "
            "use an instruction model (`rag models`)."
        )
    return model
