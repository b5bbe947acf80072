"""Uploaded files: size-limited and identified by their first bytes, never by the
file name or the declared content type (both are the client's word, and a decoder
fed the wrong format is where crashes and exploits live)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request, UploadFile
from PIL import Image
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

log = logging.getLogger(__name__)

KINDS = ("image", "audio", "video")
MAX_IMAGES = 4  # photos in one query; the request body may hold this many full-size uploads
NAMES = {
    "image": "JPEG, PNG, WebP or GIF",
    "audio": "WAV, OGG, WebM, MP3, FLAC or M4A",
    "video": "MP4, WebM or MOV",
}
_QT_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # QuickTime files older than `ftyp`


def _mp3_frame(h: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a known version, layer I-III."""
    return len(h) >= 3 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0 and (h[1] >> 3) & 3 != 1 and (h[1] >> 1) & 3 != 0


def sniff(data: bytes, kind: str) -> str:
    """The MIME type `data` really is, among those accepted for `kind`; "" if none."""
    h = data[:16]
    if kind == "image":
        if h.startswith(b"\xff\xd8\xff"):
            return "image/jpeg"
        if h.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        if h.startswith((b"GIF87a", b"GIF89a")):
            return "image/gif"
        if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
            return "image/webp"
    elif kind == "audio":
        if h[:4] == b"RIFF" and h[8:12] == b"WAVE":
            return "audio/wav"
        if h.startswith(b"OggS"):
            return "audio/ogg"
        if h.startswith(b"\x1a\x45\xdf\xa3"):
            return "audio/webm"
        if h.startswith(b"ID3") or _mp3_frame(h):
            return "audio/mpeg"
        if h.startswith(b"fLaC"):
            return "audio/flac"
        if h[4:8] == b"ftyp":  # M4A: what Safari's MediaRecorder makes
            return "audio/mp4"
    elif kind == "video":
        if h[4:8] == b"ftyp":
            return "video/quicktime" if h[8:12] == b"qt  " else "video/mp4"
        if h[4:8] in _QT_ATOMS:
            return "video/quicktime"
        if h.startswith(b"\x1a\x45\xdf\xa3"):
            return "video/webm"
    else:
        raise ValueError(f"unknown upload kind {kind!r}")
    return ""


def body_limit(max_upload_bytes: int) -> int:
    """The most a multipart search body may hold: a few full-size files and the query."""
    return MAX_IMAGES * max_upload_bytes + 1_000_000


async def read_form(request: Request, max_upload_bytes: int) -> FormData:
    """Parse a multipart body while counting its bytes, so an oversized upload is cut
    off as it streams in (413), not after it has been written to disk."""
    limit = body_limit(max_upload_bytes)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request body ({int(declared):,} bytes) is larger than {limit:,} bytes")

    async def capped() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise HTTPException(413, f"the request body is larger than {limit:,} bytes")
            yield chunk

    try:
        return await MultiPartParser(request.headers, capped(), max_files=MAX_IMAGES + 2, max_fields=20).parse()
    except MultiPartException as e:
        raise HTTPException(400, f"bad multipart body: {e.message}")


async def read_upload(upload: UploadFile, kind: str, limit: int) -> bytes:
    """The upload's bytes, or a 400/413/415 with a clear message."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{kind} upload {upload.filename!r} is larger than {limit:,} bytes")
    if not data:
        raise HTTPException(400, f"{kind} upload {upload.filename!r} is empty")
    if not sniff(data, kind):
        raise HTTPException(415, f"{upload.filename!r} is not a supported {kind} file: {NAMES[kind]} expected "
                                 f"(checked by its content, not its name or declared type)")
    return data


def check_image(data: bytes, name: str | None, max_pixels: int) -> None:
    """Decode a sniffed photo once, cheaply (JPEG at 1/8 scale), so a truncated or
    corrupt file, or a decompression bomb, is the client's 4xx and not our 500."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise HTTPException(413, f"image {name!r} has {w}x{h} pixels, more than {max_pixels:,}")
            if img.format == "JPEG":
                img.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            img.load()
    except HTTPException:
        raise
    except Image.DecompressionBombError:
        raise HTTPException(413, f"image {name!r} has too many pixels")
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        log.info("undecodable image upload %r: %s", name, e)
        raise HTTPException(422, f"cannot decode the image {name!r}: it is truncated or corrupt")
