"""The two entry points the CLI, the eval runner and the HTTP API call. Models load
once per process (cached in shopsearch.media.voice and .ocr)."""

from __future__ import annotations

import logging
from typing import Any

from PIL import Image

from shopsearch.media.video import has_audio, key_frames
from shopsearch.media.voice import transcribe_file
from shopsearch.settings import get_settings

log = logging.getLogger(__name__)


def transcribe(path: str, vocab: Any = None, language: str | None = None) -> str:
    """Spoken query -> query text, biased toward and corrected against the catalogue
    vocabulary when one is given. `language`: "en" (tiny.en), "zh", "auto" (English
    or Chinese, detected; multilingual base); default `settings.voice_language`.
    ValueError if the file holds no decodable audio."""
    return transcribe_file(path, vocab, language=language)


def video_query(path: str, vocab: Any = None, ocr: bool | None = None,
                language: str | None = None) -> tuple[str, list[Image.Image]]:
    """(what is said in the clip [+ text read in its frames], its key frames).
    The frames go to the engine as image queries; the text, often empty, as the text
    query. OCR is off unless asked or `settings.video_ocr` (no gain measured on
    catalogue clips). ValueError if no video frame decodes."""
    frames = key_frames(path)
    text = ""
    if has_audio(path):
        try:
            text = transcribe_file(path, vocab, language=language)
        except ValueError as e:  # a broken audio track should not lose the frames
            log.info("video %s: audio track not usable (%s)", path, e)
    if ocr if ocr is not None else get_settings().video_ocr:
        from shopsearch.media.ocr import read_text

        text = " ".join(t for t in (text, read_text(frames)) if t)
    return text, frames
