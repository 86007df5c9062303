from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings, load_settings
from rag.errors import ConfigError


def test_precedence_flags_over_env_over_file(tmp_path):
    config = tmp_path / "rag.toml"
    config.write_text('k = 3\ntemperature = 0.5\nindex_dir = "~/from-file"\nmax_tokens = 99\n')
    env = {"RAG_K": "4", "RAG_TEMPERATURE": "0.2"}
    settings = load_settings({"k": 7}, config_file=config, environ=env)
    assert settings.k == 7
    assert settings.temperature == 0.2
    assert settings.max_tokens == 99
    assert settings.index_dir == Path.home() / "from-file"


def test_newsrag_table_is_accepted(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[newsrag]\nk = 2\n")
    assert load_settings(config_file=config, environ={}).k == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 0}, "k must be greater than 0, got 0"),
        ({"temperature": 5.0}, "temperature must be between 0 and 2, got 5.0"),
        ({"context_size": 10}, "context_size must be at least 256, got 10"),
        ({"port": 70000}, "port must be a TCP port"),
        ({"passage_words": 5}, "passage_words must be at least 10, got 5"),
        ({"query_writer": "hide"}, "query_writer must be off or hyde, got 'hide'"),
        ({"reader": "words"}, "reader must be sentences or passages, got 'words'"),
        ({"answer_mode": "pick"}, "answer_mode must be write or choose, got 'pick'"),
        ({"candidate_depth": 5}, "candidate_depth must be between 10 and 500, got 5"),
    ],
)
def test_bad_values_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**changes)


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="RAG_K"):
        load_settings(environ={"RAG_K": "many"})


@pytest.fixture
def empty(tmp_path) -> Path:
    """An empty config file, so that no rag.toml found nearby counts."""
    path = tmp_path / "rag.toml"
    path.write_text("")
    return path


def test_query_writer_from_the_environment(empty):
    env = {"RAG_QUERY_WRITER": "hyde", "RAG_QUERY_MODEL": "writer.gguf"}
    settings = load_settings(config_file=empty, environ=env)
    assert (settings.query_writer, settings.query_model) == ("hyde", "writer.gguf")
    assert load_settings(config_file=empty, environ={}).query_writer == "off"
    with pytest.raises(ConfigError, match="query_writer must be off or hyde"):
        load_settings(config_file=empty, environ={"RAG_QUERY_WRITER": "on"})


def test_unknown_key_in_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("top_k = 3\n")
    with pytest.raises(ConfigError, match="unknown settings"):
        load_settings(config_file=config, environ={})


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("k = = 3")
    with pytest.raises(ConfigError, match="could not be read"):
        load_settings(config_file=broken, environ={})


def test_the_serve_secrets_come_from_the_environment_and_stay_out_of_repr(empty):
    env = {"RAG_PASSWORD": "pw-from-env", "RAG_API_KEY": "key-from-env"}
    settings = load_settings(config_file=empty, environ=env)
    assert (settings.password, settings.api_key) == ("pw-from-env", "key-from-env")
    assert "from-env" not in repr(settings)
    flagged = load_settings({"password": "pw-from-flag"}, config_file=empty, environ=env)
    assert flagged.password == "pw-from-flag"
    none = load_settings(config_file=empty, environ={"RAG_PASSWORD": "", "RAG_API_KEY": ""})
    assert (none.password, none.api_key) == (None, None)
