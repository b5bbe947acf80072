"""Photos out (GET /images/{id}) and clips in (the transcript and key frames of an
uploaded voice or video query, for POST /search)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response

from shopsearch.api.deps import engine, product_position
from shopsearch.api.uploads import sniff
from shopsearch.settings import Settings

log = logging.getLogger(__name__)


def transcribe_clip(eng, s: Settings, language: str | None, kind: str, data: bytes) -> tuple[str, list]:
    """Transcript (and key frames, for a video) of an uploaded clip; slow, so it runs in
    a worker thread, never on the event loop."""
    try:
        from shopsearch.media import queries as media
    except ImportError:
        raise HTTPException(501, "voice and video queries are not available in this installation "
                                 "(shopsearch.media.queries is missing)")
    from shopsearch.media.audio import clip_seconds

    with tempfile.NamedTemporaryFile(suffix=f".{kind}") as f:
        f.write(data)
        f.flush()
        try:
            secs = clip_seconds(f.name)
        except ValueError as e:
            raise HTTPException(422, f"cannot decode the {kind}: {e}")
        if secs > s.max_clip_seconds:
            raise HTTPException(413, f"the {kind} clip is {secs:.0f} s long; the limit is {s.max_clip_seconds:.0f} s")
        try:
            if kind == "audio":
                return media.transcribe(f.name, eng.vocab, language), []
            text, frames = media.video_query(f.name, eng.vocab)
            return text, list(frames)
        except ValueError as e:
            log.info("undecodable %s upload: %s", kind, e)
            raise HTTPException(422, f"cannot decode the {kind}: {e}")


def router() -> APIRouter:
    r = APIRouter()

    @r.get("/images/{product_id}", responses={200: {"content": {"image/jpeg": {}}}, 304: {}, 404: {}})
    def image(product_id: str, request: Request, eng=Depends(engine)) -> Response:
        """The product's photo; cached for a day, then revalidated by ETag (304)."""
        p = eng.index.product(product_position(eng, product_id))
        path = Path(p.image) if p.image else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"product {product_id!r} has no photo")
        st = path.stat()
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        headers = {"Cache-Control": "public, max-age=86400", "ETag": etag}
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        with path.open("rb") as f:  # the type by the bytes, not the file name
            mime = sniff(f.read(16), "image")
        if not mime:  # whatever the record says, only photos leave this endpoint
            log.warning("product %s: %s is not an image file; not served", product_id, path)
            raise HTTPException(404, f"product {product_id!r} has no photo")
        return FileResponse(path, media_type=mime, headers=headers)

    return r
