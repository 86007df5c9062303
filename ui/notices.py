"""Refusals shown beside the control that was used, instead of in place of the panel.

Gradio marks every output of an event that raised with an "Error" badge, so a
refused upload once swapped the articles table and the uploader for badges, and
cut the message short. Here a refusal becomes the text of the event's status
line, and its other outputs (tables, file pickers) stay as they were.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from ui.render import escape_chat


def user_error(message: str) -> gr.Error:
    """An error for the person at the browser; a refused input needs no traceback in the log."""
    return gr.Error(message, print_exception=False)


def refusal(message: str) -> str:
    """A refusal for a status line (Markdown): said whole, markup shown as text."""
    return f"**Not done:** {escape_chat(message)}"


def beside(action: Callable[..., Any], *, others: int) -> Callable[..., Any]:
    """``action`` for an event whose first output is a status line and ``others`` follow.

    A ``gr.Error`` it raises becomes that line's text; the other outputs are
    left alone. The signature stays ``action``'s, for Gradio's ``gr.Progress``.
    """

    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except gr.Error as err:
            return (refusal(err.message), *[gr.skip()] * others)

    return run
