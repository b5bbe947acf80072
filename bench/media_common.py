"""Making test media: spoken queries with espeak-ng and short clips from photos with PyAV."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
from PIL import Image


def speak(text: str, out: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """A WAV of `text` spoken by espeak-ng."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True, capture_output=True)
    return out


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
