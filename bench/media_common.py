"""Making test media: spoken queries with espeak-ng and short clips from photos with PyAV."""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image


def speak(text: str, out: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """A WAV of `text` spoken by espeak-ng (`voice` any of `espeak-ng --voices`, with a
    variant as "en-us+f3"; `speed` in words a minute). Kept if already there."""
    if out.is_file() and out.stat().st_size > 44:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(tmp), text], check=True, capture_output=True)
    tmp.rename(out)
    return out


def add_noise(samples: np.ndarray, snr_db: float, colour: str = "pink", seed: str | int = 0) -> np.ndarray:
    """`samples` with white or pink (1/f power) noise mixed in at `snr_db`, the ratio of
    speech power (over samples louder than -40 dB of the peak, so espeak-ng's leading and
    trailing silence does not count) to noise power. Seeded, so a clip is the same every run."""
    x = np.asarray(samples, np.float32)
    rng = np.random.default_rng(zlib.crc32(str(seed).encode()))
    noise = rng.standard_normal(x.size)
    if colour == "pink":
        spec = np.fft.rfft(noise)
        f = np.fft.rfftfreq(x.size)
        f[0] = f[1] if f.size > 1 else 1.0
        noise = np.fft.irfft(spec / np.sqrt(f), n=x.size)
    elif colour != "white":
        raise ValueError(f"noise colour {colour!r}: white or pink")
    loud = np.abs(x) > 0.01 * (np.abs(x).max() or 1.0)
    p_speech = float(np.mean(x[loud] ** 2)) if loud.any() else 0.0
    noise *= np.sqrt(p_speech / (10 ** (snr_db / 10)) / max(float(np.mean(noise ** 2)), 1e-12))
    return np.clip(x + noise, -1.0, 1.0).astype(np.float32)


def pan_zoom_clip(photo: Path, out: Path, seconds: float = 2.0, fps: int = 10, size=(240, 320),
                  audio_wav: Path | None = None) -> Path:
    """An MP4 of a slow zoom and pan over one photo, optionally with a speech track."""
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        ast = None
        if audio_wav is not None:
            ast = c.add_stream("aac", rate=16000)
        n = int(seconds * fps)
        for i in range(n):
            z = 1.0 - 0.25 * i / max(n - 1, 1)
            cw, ch = int(w * z), int(h * z)
            x = int((w - cw) * i / max(n - 1, 1))
            y = int((h - ch) / 2)
            frame = av.VideoFrame.from_image(img.crop((x, y, x + cw, y + ch)).resize(size))
            for p in vs.encode(frame):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if ast is not None:
            with av.open(str(audio_wav)) as a:
                res = av.AudioResampler(format="fltp", layout="mono", rate=16000)
                for fr in a.decode(audio=0):
                    for r in res.resample(fr):
                        r.pts = None
                        for p in ast.encode(r):
                            c.mux(p)
                for p in ast.encode():
                    c.mux(p)
    return out
