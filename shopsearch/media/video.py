"""Video queries: a few key frames sampled evenly through the clip (capped), plus
the audio track when the clip has one."""

from __future__ import annotations

import av
from PIL import Image

MAX_FRAMES = 8
MAX_SECONDS = 20.0


def key_frames(path: str, max_frames: int = MAX_FRAMES) -> list[Image.Image]:
    """Evenly spaced frames over the first MAX_SECONDS; ValueError if none decode."""
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise ValueError("no video track")
            s = c.streams.video[0]
            dur = float(s.duration * s.time_base) if s.duration else float(c.duration or 0) / 1e6
            dur = min(dur or MAX_SECONDS, MAX_SECONDS)
            wanted = [dur * (i + 0.5) / max_frames for i in range(max_frames)]
            frames, k = [], 0
            for frame in c.decode(video=0):
                t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                if t > MAX_SECONDS:
                    break
                if k < len(wanted) and t >= wanted[k]:
                    frames.append(frame.to_image().convert("RGB"))
                    while k < len(wanted) and t >= wanted[k]:
                        k += 1
            if not frames:  # very short clip: take whatever decodes
                c.seek(0)
                for frame in c.decode(video=0):
                    frames.append(frame.to_image().convert("RGB"))
                    break
    except av.error.FFmpegError as e:
        raise ValueError(f"cannot decode video: {e}") from None
    if not frames:
        raise ValueError("no frames in the video")
    return frames


def has_audio(path: str) -> bool:
    try:
        with av.open(path) as c:
            return bool(c.streams.audio)
    except av.error.FFmpegError:
        return False
