"""Decoding any audio the browser or a phone sends (WAV, webm/opus, ogg, mp3, m4a)
to 16 kHz mono float32 with PyAV, capped in length."""

from __future__ import annotations

import av
import numpy as np

RATE = 16_000
MAX_SECONDS = 30.0


def clip_seconds(path: str) -> float:
    """The clip's length as its container states it (0 when it does not say, as
    browser-recorded webm often does); ValueError if it is not a media file."""
    try:
        with av.open(path) as c:
            if c.duration:
                return float(c.duration) / 1e6
            for s in list(c.streams.audio) + list(c.streams.video):
                if s.duration and s.time_base:
                    return float(s.duration * s.time_base)
    except av.error.FFmpegError as e:
        raise ValueError(f"not a media file: {e}") from None
    return 0.0


def decode_audio(path: str, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Samples in [-1, 1]; ValueError if there is no decodable audio."""
    try:
        with av.open(path) as c:
            if not c.streams.audio:
                raise ValueError("no audio track")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            chunks, n = [], 0
            for frame in c.decode(audio=0):
                for out in resampler.resample(frame):
                    a = out.to_ndarray().reshape(-1)
                    chunks.append(a)
                    n += len(a)
                if n >= max_seconds * RATE:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as e:
        raise ValueError(f"cannot decode audio: {e}") from None
    if not chunks:
        raise ValueError("the audio is empty")
    return np.concatenate(chunks)[: int(max_seconds * RATE)].astype(np.float32)
