"""Uploaded files: size-limited and identified by their first bytes, never by the
file name or the declared content type."""

from __future__ import annotations

from fastapi import HTTPException, UploadFile

SIGNATURES: dict[str, list[tuple[int, bytes, str]]] = {
    "image": [(0, b"\xff\xd8\xff", "image/jpeg"), (0, b"\x89PNG\r\n\x1a\n", "image/png"), (0, b"GIF8", "image/gif"),
              (8, b"WEBP", "image/webp")],
    "audio": [(8, b"WAVE", "audio/wav"), (0, b"OggS", "audio/ogg"), (0, b"\x1a\x45\xdf\xa3", "audio/webm"),
              (0, b"ID3", "audio/mpeg"), (0, b"\xff\xfb", "audio/mpeg"), (0, b"fLaC", "audio/flac"),
              (4, b"ftyp", "audio/mp4")],
    "video": [(4, b"ftyp", "video/mp4"), (0, b"\x1a\x45\xdf\xa3", "video/webm")],
}


def sniff(data: bytes, kind: str) -> str:
    for offset, magic, mime in SIGNATURES[kind]:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return ""


async def read_upload(upload: UploadFile, kind: str, limit: int) -> bytes:
    """The upload's bytes, or a 413/415 with a clear message."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{kind} upload {upload.filename!r} is larger than {limit:,} bytes")
    if not data:
        raise HTTPException(400, f"{kind} upload {upload.filename!r} is empty")
    if not sniff(data, kind):
        raise HTTPException(415, f"{upload.filename!r} is not a supported {kind} file (checked by its content, "
                                 f"not its name)")
    return data
