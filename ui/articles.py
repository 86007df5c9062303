"""The Articles tab: the indexed articles, uploads, reading one, and removal in two steps."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import IndexNotFoundError, RagError
from rag.ingest.filetypes import FILE_TYPES, SUPPORTED_SUFFIXES
from rag.service import RagService
from ui.notices import beside, refusal, user_error
from ui.render import DOCUMENT_HEADERS, document_rows, escape_chat
from ui.uploads import forget_uploads, store_uploads

# The file picker offers what the loader reads.
UPLOAD_TYPES = sorted(SUPPORTED_SUFFIXES)


def upload_articles(
    service: RagService,
    files: Sequence[Any] | None,
    progress: Callable[..., Any],
    query: str = "",
) -> tuple[str, list[list[object]]]:
    """Index uploaded files; the status lists what was added and what was refused."""
    if not files:
        raise user_error("Choose one or more files to add.")
    paths = [getattr(f, "name", f) for f in files]
    try:
        service.store.check_owned()  # nothing is copied into a folder that is not an index
        saved, refused = store_uploads(paths, service.upload_dir)
    except RagError as err:
        raise user_error(str(err)) from None
    except OSError as err:
        raise user_error(f"Could not keep the uploaded files ({err}).") from None
    lines = [f"- not added {r.name}: {r.reason}" for r in refused]
    if saved:

        def report(done: int, total: int) -> None:
            progress(done / total, desc=f"Embedding {done}/{total} passages")

        progress(0, desc="Reading and splitting the articles")
        try:
            result = service.index_paths(saved, progress=report)
        except RagError as err:
            raise user_error(str(err)) from None
        lines.insert(
            0,
            f"Added {result.added} article(s), {result.unchanged} already indexed; "
            f"{result.chunks_embedded} passages embedded. The index now has "
            f"{result.n_documents} articles.",
        )
        lines += [f"- skipped {Path(p.origin).name}: {p.message}" for p in result.problems]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service, query)


def list_articles(service: RagService, query: str = "") -> list[list[object]]:
    """Rows of the articles table, those whose title, source, date or id hold ``query``."""
    try:
        rows = document_rows(service.documents())
    except IndexNotFoundError:
        return []
    except RagError as err:
        raise user_error(str(err)) from None
    words = query.lower().split()
    return [r for r in rows if all(w in " ".join(map(str, r)).lower() for w in words)]


def removal_request(service: RagService, text: str) -> tuple[str, list[str]]:
    """Step one of removing: the articles ``text`` names, for the user to confirm.

    ``text`` holds article ids (picked rows, or pasted), each exactly as in the
    table. A path, a folder above all, is refused: one click must never reach
    more articles than the rows it shows. Returns the confirmation (titles and
    ids) and the ids that step two removes.
    """
    tokens = [t for t in re.split(r"[\s,;]+", text or "") if t]
    if not tokens:
        raise user_error("Pick the articles in the table (or paste their ids), then press Remove.")
    try:
        documents = {i.article.doc_id: i.article for i in service.documents()}
    except RagError as err:
        raise user_error(str(err)) from None
    ids: list[str] = []
    for token in tokens:
        if token not in documents:
            if re.search(r"[\\/~]", token) or token.startswith("."):
                raise user_error(
                    f"{token} is a path, not an article id. This box takes the ids of rows in "
                    "the table; a folder is never accepted here."
                )
            raise user_error(f"No indexed article has the id {token}. Pick it in the table.")
        if token not in ids:
            ids.append(token)
    lines = [f"**Remove {len(ids)} article(s) from the index?**"]
    lines += [f"- {escape_chat(documents[i].title)} (`{i}`)" for i in ids]
    return "\n".join(lines), ids


def remove_articles(
    service: RagService, ids: Sequence[str], query: str = ""
) -> tuple[str, list[list[object]]]:
    """Step two: remove exactly the confirmed ids, and say what was removed."""
    if not ids:
        raise user_error("Nothing to remove: press Remove first and confirm the list it shows.")
    try:
        removed = service.remove(list(ids))
        forget_uploads(service.upload_dir, removed, [d.article for d in service.documents()])
    except RagError as err:
        raise user_error(str(err)) from None
    lines = [f"Removed {len(removed)} article(s):"]
    lines += [f"- {a.title} ({a.doc_id})" for a in removed]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service, query)


def pick_rows(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    """Rows for the articles table: an unticked "remove" box before each article."""
    return [[False, *row] for row in rows]


def picked_ids(table: Sequence[Sequence[object]] | None) -> str:
    """The ids of the ticked rows, for the remove box (the id is a row's last cell)."""
    return " ".join(str(row[-1]) for row in table or [] if row and row[0] is True)


def article_view(service: RagService, doc_id: str) -> str:
    """An article's title, source, date and whole text, escaped, for reading under the table."""
    try:
        article = service.article(doc_id)
    except RagError as err:
        return f'<div class="newsrag-meta">{escape_chat(str(err))}</div>'
    meta = " · ".join(x for x in (article.source, article.date, article.doc_id) if x)
    return (
        f"<h2>{escape_chat(article.title)}</h2>"
        f'<div class="newsrag-meta">{escape_chat(meta)}</div>'
        f'<div class="newsrag-passage">{escape_chat(article.text)}</div>'
    )


@dataclass(frozen=True)
class ArticlesTab:
    """The Articles tab's components, for the functions that wire it."""

    search: gr.Textbox
    refresh: gr.Button
    table: gr.Dataframe
    remove_id: gr.Textbox
    remove: gr.Button
    confirm_text: gr.Markdown
    confirm: gr.Button
    cancel: gr.Button
    pending_removal: gr.State
    reading: gr.HTML
    upload: gr.File
    add: gr.Button
    status: gr.Markdown

    @property
    def confirmation(self) -> list[Any]:
        """Step two of removing: the list of what goes, the ids, and its two buttons."""
        return [self.confirm_text, self.pending_removal, self.confirm, self.cancel]


def build_articles_tab(service: RagService) -> gr.Dataframe:
    """The articles table, uploads and removal, inside the caller's tab.

    Returns the table, which the page fills when it loads.
    """
    tab = articles_layout()
    wire_uploads(tab, service)
    wire_listing(tab, service)
    wire_removal(tab, service)
    return tab.table


def articles_layout() -> ArticlesTab:
    """The search box, the table, removal in two steps, the reading pane and the uploader."""
    with gr.Row():
        search = gr.Textbox(
            label="Search the articles", placeholder="title, source, date or id", scale=3
        )
        refresh = gr.Button("Refresh", scale=1)
    # Only the "remove" boxes can be changed; a click on another cell shows the article below.
    table = gr.Dataframe(
        headers=["remove", *DOCUMENT_HEADERS],
        datatype=["bool", "str", "str", "str", "number", "str"],
        type="array",
        interactive=True,
        static_columns=[1, 2, 3, 4, 5],
        column_widths=["110px", "40%", "15%", "110px", "90px", "20%"],
        wrap=True,
        elem_id="articles",
    )
    with gr.Row():
        remove_id = gr.Textbox(
            label="Articles to remove (tick their boxes, or paste their ids)",
            elem_id="remove-ids",
            scale=3,
        )
        remove = gr.Button("Remove", variant="stop", scale=1, elem_id="remove")
    # Step two of removing: the list of what goes, and a button that removes it.
    confirm_text = gr.Markdown(visible=False, elem_id="remove-confirm-text")
    with gr.Row():
        confirm = gr.Button(
            "Yes, remove them", variant="stop", visible=False, elem_id="remove-confirm"
        )
        cancel = gr.Button("Cancel", visible=False, elem_id="remove-cancel")
    pending_removal = gr.State([])
    reading = gr.HTML(
        '<div class="newsrag-meta">Click an article\'s title to read it here.</div>',
        elem_id="article-text",
    )
    upload = gr.File(
        label=f"Add articles ({FILE_TYPES}; 50 MB each at most)",
        file_count="multiple",
        file_types=UPLOAD_TYPES,
        elem_id="upload",
    )
    add = gr.Button("Index the uploaded files", variant="primary", elem_id="add")
    status = gr.Markdown(elem_id="upload-status")
    return ArticlesTab(
        search=search,
        refresh=refresh,
        table=table,
        remove_id=remove_id,
        remove=remove,
        confirm_text=confirm_text,
        confirm=confirm,
        cancel=cancel,
        pending_removal=pending_removal,
        reading=reading,
        upload=upload,
        add=add,
        status=status,
    )


def wire_uploads(tab: ArticlesTab, service: RagService) -> None:
    """Index the uploaded files, with progress while the passages are embedded."""

    def on_upload(files, query, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        message, rows = upload_articles(service, files, progress, query)
        return message, pick_rows(rows), None

    # A refusal is said on the status line; the table and the chosen files stay.
    tab.add.click(
        beside(on_upload, others=2),
        [tab.upload, tab.search],
        [tab.status, tab.table, tab.upload],
        concurrency_id="index",
        api_name=False,
    )


def wire_listing(tab: ArticlesTab, service: RagService) -> None:
    """The table follows the search box and Refresh; a click on an article shows its text."""

    def unticked(query: str) -> tuple[list[list[object]], str]:
        """The rows ``query`` finds, none ticked, and an empty remove box."""
        return pick_rows(list_articles(service, query)), ""

    def read(evt: gr.SelectData) -> Any:
        column = evt.index[1] if isinstance(evt.index, list | tuple) else None
        if column == 0 or not evt.row_value:
            return gr.skip()  # a tick in the remove box, not a wish to read
        return article_view(service, str(evt.row_value[-1]))

    # A new filter or a refresh starts with nothing ticked: a tick never hides behind it.
    # These quick reads are off Gradio's queue (as is the removal's question): a queued
    # event's reply comes on the page's event stream, and one sent as that stream closed,
    # after the event before it, was never shown. Off the queue, the reply is the answer.
    listed = [tab.table, tab.remove_id]
    tab.search.change(unticked, tab.search, listed, queue=False, api_name=False)
    tab.refresh.click(unticked, tab.search, listed, queue=False, api_name=False)
    tab.table.input(picked_ids, tab.table, tab.remove_id, queue=False, api_name=False)
    tab.table.select(read, None, tab.reading, queue=False, api_name=False)


def hide_confirmation() -> tuple[Any, ...]:
    """Step two withdrawn: the list and its buttons hidden, nothing pending."""
    hidden = gr.update(visible=False)
    return gr.update(value="", visible=False), [], hidden, hidden


def wire_removal(tab: ArticlesTab, service: RagService) -> None:
    """Remove in two steps: the list of what goes, then Yes or Cancel."""

    def ask_to_remove(text: str, rows: list[list[object]]):
        # A tick sent just before the click may not be in the box yet; the table has it.
        try:
            message, ids = removal_request(
                service, text if (text or "").strip() else picked_ids(rows)
            )
        except gr.Error as err:  # said where the question would be, without its buttons
            hidden = gr.update(visible=False)
            return gr.update(value=refusal(err.message), visible=True), [], hidden, hidden
        shown = gr.update(visible=True)
        return gr.update(value=message, visible=True), ids, shown, shown

    def do_remove(ids, query):
        status_text, rows = remove_articles(service, ids, query)
        return (status_text, pick_rows(rows), "", *hide_confirmation())

    confirmation = tab.confirmation
    # Step one and its withdrawal are quick and off Gradio's queue (see wire_listing); the
    # removal itself waits its turn with the other changes to the index.
    ask = [tab.remove_id, tab.table]
    tab.remove.click(ask_to_remove, ask, confirmation, queue=False, api_name=False)
    # Editing the list after Remove withdraws the question: what is confirmed is what is shown.
    tab.remove_id.change(hide_confirmation, None, confirmation, queue=False, api_name=False)
    tab.cancel.click(hide_confirmation, None, confirmation, queue=False, api_name=False)
    tab.confirm.click(
        beside(do_remove, others=6),
        [tab.pending_removal, tab.search],
        [tab.status, tab.table, tab.remove_id, *confirmation],
        concurrency_id="index",
        api_name=False,
    )
