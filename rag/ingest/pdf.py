"""PDF articles: the text layer of each page, with where each page starts.

The pages are read with pypdf and joined with a blank line between them; the
offset where each page starts is kept, and after cleaning (which trims lines,
drops a headline and furniture, joins folded lines) ``locate_pages`` finds
each page again in the cleaned text, so a citation can say "p. 3". A PDF with
no text layer (a scan) is skipped with the reason: there is nothing to index
without OCR.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence

from rag.types import LoadProblem, RawDocument

log = logging.getLogger(__name__)

# Characters of a page's text that must be found to place its start.
_PROBE = 40
_PROBES = 5


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def read_pdf(
    data: bytes, origin: str, *, url: str | None = None
) -> tuple[RawDocument | None, LoadProblem | None]:
    """The PDF as one document with its page starts, or the reason it gives none."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return None, LoadProblem(origin, "the PDF is encrypted with a password; skipped")
        texts = [_page_text(page) for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        return None, LoadProblem(origin, f"not a readable PDF ({exc}); skipped")
    except Exception as exc:  # pypdf raises many kinds on damaged files
        log.debug("pypdf failed on %s", origin, exc_info=True)
        return None, LoadProblem(origin, f"not a readable PDF ({type(exc).__name__}); skipped")
    if not any(t.strip() for t in texts):
        return None, LoadProblem(
            origin,
            f"the PDF has no text layer on any of its {len(texts)} page(s) (a scan?); "
            "skipped. Run OCR on it (e.g. ocrmypdf) and index the result.",
        )
    starts: list[int] = []
    parts: list[str] = []
    position = 0
    for text in texts:
        starts.append(position)
        parts.append(text)
        position += len(text) + 2
    title = _meta(info, "/Title")
    return RawDocument(
        text="\n\n".join(parts),
        origin=origin,
        title=title,
        source=_meta(info, "/Author"),
        url=url,
        page_starts=tuple(starts),
    ), None


def _page_text(page: object) -> str:
    text = page.extract_text() or ""  # type: ignore[attr-defined]
    return text.replace("\x00", "").strip()


def _meta(info: object, key: str) -> str | None:
    try:
        value = info.get(key) if info is not None else None  # type: ignore[attr-defined]
    except Exception:  # a damaged info dictionary is no reason to skip the text
        return None
    text = str(value).strip() if value else ""
    return text or None


def _squashed(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace, and for each kept character its offset in ``text``."""
    kept: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if not ch.isspace():
            kept.append(ch)
            where.append(i)
    return "".join(kept), where


def locate_pages(
    raw_text: str,
    raw_starts: Sequence[int],
    cleaned: str,
    normalise: Callable[[str], str],
) -> tuple[int, ...]:
    """Where each page of ``raw_text`` starts in ``cleaned`` (page 1 always at 0).

    Cleaning only removes lines and whitespace and normalises characters, so a
    page is found by the first characters of its own text that survive,
    compared without whitespace. A page none of whose text survives starts
    where the next one does. ``normalise`` is the cleaner's character normalisation,
    applied to each raw page before it is looked for.
    """
    flat, where = _squashed(cleaned)
    bounds = [*raw_starts, len(raw_text)]
    starts: list[int | None] = [0]
    cursor = 0
    raw_before = 0  # non-space characters of the raw pages before this one
    for number in range(1, len(raw_starts)):
        raw_before += sum(not c.isspace() for c in raw_text[bounds[number - 1] : bounds[number]])
        page, _ = _squashed(normalise(raw_text[bounds[number] : bounds[number + 1]]))
        found = -1
        # Try the page's opening, then a few later probes (its first line may have been
        # dropped). Cleaning only removes characters, so text of this page cannot stand
        # later in the cleaned text than in the raw one: the search ends there.
        for offset in range(0, min(len(page), _PROBES * _PROBE), _PROBE):
            probe = page[offset : offset + _PROBE]
            found = flat.find(probe, cursor, raw_before + offset + len(probe))
            if found >= 0:
                break
        if found < 0:
            starts.append(None)
            continue
        cursor = found
        starts.append(where[found])
    # A page with no surviving text starts where the next one does: it holds nothing.
    following = len(cleaned)
    for i in range(len(starts) - 1, -1, -1):
        if starts[i] is None:
            starts[i] = following
        following = starts[i]  # type: ignore[assignment]
    return tuple(s for s in starts if s is not None)
