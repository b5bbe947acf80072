"""The two entry points the CLI, eval runner and HTTP API call."""

from __future__ import annotations

from PIL import Image

from shopsearch.media.video import has_audio, key_frames
from shopsearch.media.voice import transcribe_file
from shopsearch.settings import get_settings


def transcribe(path: str, vocab=None, language: str | None = None) -> str:
    """Spoken query -> text, biased toward and corrected against the catalogue.
    `language`: "en" (tiny.en), "zh" or "auto" (multilingual base); default from settings."""
    return transcribe_file(path, vocab, language=language)


def video_query(path: str, vocab=None, ocr: bool | None = None) -> tuple[str, list[Image.Image]]:
    """(transcript of the clip's speech [+ text read in its frames], key frames)."""
    frames = key_frames(path)
    text = ""
    if has_audio(path):
        try:
            text = transcribe_file(path, vocab)
        except ValueError:
            text = ""
    if ocr if ocr is not None else get_settings().video_ocr:
        from shopsearch.media.ocr import read_text

        text = " ".join(t for t in (text, read_text(frames)) if t)
    return text, frames
