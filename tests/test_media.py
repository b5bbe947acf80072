"""Voice and video queries with the real models (Whisper from PyPI packages, the tiny
image tower, RapidOCR): speech made by espeak-ng, clips and browser formats by PyAV."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from media_common import pan_zoom_clip, speak  # noqa: E402

from shopsearch.schema import Query  # noqa: E402

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                   reason="espeak-ng makes the test speech: apt-get install -y espeak-ng "
                                          "(make system-deps)")


@pytest.fixture(scope="module")
def media():
    from shopsearch.media import queries

    return queries


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the test speech: apt-get install -y espeak-ng (make system-deps)")
    return speak("men black watch", tmp_path_factory.mktemp("voice") / "q.wav")


def reencode(src: Path, out: Path, codec: str, fmt: str | None = None) -> Path:
    """The WAV re-encoded the way a browser or phone sends it (webm/opus, ogg, mp3)."""
    with av.open(str(src)) as i, av.open(str(out), "w", format=fmt) as o:
        rate = 48000 if codec == "libopus" else 44100
        st = o.add_stream(codec, rate=rate)
        st.layout = "mono"
        res = av.AudioResampler(format=st.format.name, layout="mono", rate=rate)
        for frame in i.decode(audio=0):
            for r in res.resample(frame):
                r.pts = None
                for p in st.encode(r):
                    o.mux(p)
        for p in st.encode():
            o.mux(p)
    return out


class _Unseekable(io.RawIOBase):
    """A stream the muxer cannot seek back in: webm without a duration, as MediaRecorder makes."""

    def __init__(self, f):
        self.f = f

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b) -> int:
        return self.f.write(b)


def test_transcript_cleaning_against_the_catalogue(engine):
    from shopsearch.media.voice import bias_for, clean

    v = engine.vocab
    assert clean("Men's black watches, watches.", v) == "men black watches"
    assert clean("Red running shoes under fifty-five dollars!", v) == "red running shoes under 55 dollars"
    assert clean("two pack socks", v) == "two pack socks"  # not a price
    assert clean("kids t-shirt", v).endswith("tshirt")
    assert clean("black wach", v) == "black watch"  # a word off by one letter, fixed from the catalogue
    assert clean("男士，黑色，手表鞋鞋鞋\ufffd，", v) == "男士，黑色，手表鞋"
    b = bias_for(v)
    assert "watches" in b.hotwords and b.prompt.startswith("Shopping search: men, women")
    assert "手表" in (bias_for(v, "zh").prompt or "") or "衬衫" in (bias_for(v, "zh").prompt or "")


@needs_espeak
def test_spoken_query_is_transcribed_and_adapted(media, wav, engine):
    text = media.transcribe(str(wav), engine.vocab)
    assert "black" in text and "watch" in text
    res = engine.search(Query(text=text, page_size=3))
    assert res.hits[0].type == "Watches"


@needs_espeak
def test_browser_and_phone_formats_decode(tmp_path, media, wav, engine):
    from shopsearch.media.audio import RATE, decode_audio

    ref = decode_audio(str(wav))
    for name, codec, fmt in (("q.webm", "libopus", "webm"), ("q.ogg", "libopus", "ogg"), ("q.mp3", "libmp3lame", None)):
        out = reencode(wav, tmp_path / name, codec, fmt)
        samples = decode_audio(str(out))
        assert samples.dtype == np.float32 and abs(len(samples) - len(ref)) < 0.2 * RATE, name
        assert "watch" in media.transcribe(str(out), engine.vocab), name
    capped = decode_audio(str(wav), max_seconds=0.5)
    assert len(capped) == RATE // 2


@needs_espeak
def test_multilingual_model_auto_detects_english(media, wav, engine):
    assert "watch" in media.transcribe(str(wav), engine.vocab, language="auto")


def test_no_speech_gives_no_words(tmp_path, media, engine):
    """A tone under the catalogue prompt must not come back as invented shop words."""
    from shopsearch.media.voice import transcribe_samples

    t = np.arange(3 * 16000) / 16000
    assert transcribe_samples((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), engine.vocab) == ""
    assert transcribe_samples(np.zeros(16000, np.float32), engine.vocab) == ""


def test_undecodable_input_is_a_clear_error(tmp_path, media):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    for p in (bad, empty):
        with pytest.raises(ValueError, match="cannot decode|no audio|empty"):
            media.transcribe(str(p))
        with pytest.raises(ValueError, match="cannot decode|no video"):
            media.video_query(str(p))
    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(photo)
    with pytest.raises(ValueError):
        media.transcribe(str(photo))


def test_video_clip_finds_the_shown_product(tmp_path, media, engine, small_catalogue, data_dir):
    rows = list(csv.DictReader(small_catalogue.open()))
    for row in (rows[11], rows[57]):
        clip = pan_zoom_clip(data_dir / row["image_hr"], tmp_path / f"{row['id']}.mp4", seconds=2.5)
        text, frames = media.video_query(str(clip), engine.vocab)
        assert text == "" and 2 <= len(frames) <= 8 and all(isinstance(f, Image.Image) for f in frames)
        res = engine.search(Query(images=frames, page_size=5))
        assert row["id"] in [h.id for h in res.hits]


def test_webm_video_without_duration(tmp_path, media, engine, small_catalogue, data_dir):
    """Browser recordings often carry no duration: frames are still sampled over the clip."""
    row = list(csv.DictReader(small_catalogue.open()))[23]
    photo = Image.open(data_dir / row["image_hr"]).convert("RGB").resize((180, 240))
    out = tmp_path / "rec.webm"
    with out.open("wb") as raw, av.open(_Unseekable(raw), "w", format="webm") as c:
        vs = c.add_stream("libvpx", rate=10)
        vs.width, vs.height, vs.pix_fmt = 180, 240, "yuv420p"
        for i in range(25):
            shift = Image.new("RGB", (180, 240), "white")  # a zoom out: the product shrinks to 40%
            shift.paste(photo.resize((180 - 4 * i, 240 - 6 * i)), (2 * i, 3 * i))
            for p in vs.encode(av.VideoFrame.from_image(shift)):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    from shopsearch.media.video import duration

    assert duration(str(out)) == 0.0
    text, frames = media.video_query(str(out), engine.vocab)
    assert len(frames) >= 3
    assert row["id"] in [h.id for h in engine.search(Query(images=frames, page_size=5)).hits]


@needs_espeak
def test_video_with_speech_gives_a_transcript(tmp_path, media, engine, small_catalogue, data_dir):
    row = list(csv.DictReader(small_catalogue.open()))[12]
    speech = speak("black watch", tmp_path / "s.wav")
    clip = pan_zoom_clip(data_dir / row["image_hr"], tmp_path / "c.mp4", audio_wav=speech)
    text, frames = media.video_query(str(clip), engine.vocab)
    assert "watch" in text and frames
    res = engine.search(Query(text=text, images=frames, page_size=5))
    assert res.hits and res.hits[0].type == "Watches"


@needs_espeak
def test_api_accepts_audio_and_video(tmp_path, small_index, tiny_model, wav, small_catalogue, data_dir):
    httpx = pytest.importorskip("httpx")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from server import running_server

    idx = tmp_path / "idx"
    shutil.copytree(small_index, idx)
    row = list(csv.DictReader(small_catalogue.open()))[13]
    clip = pan_zoom_clip(data_dir / row["image_hr"], tmp_path / "c.mp4")
    with running_server(idx, {"SHOPSEARCH_IMAGE_MODEL": str(tiny_model)}) as base:
        r = httpx.post(f"{base}/search", files={"audio": ("voice.wav", wav.read_bytes(), "audio/wav")},
                       data={"query": json.dumps({"page_size": 5})}, timeout=120)
        d = r.json()
        assert r.status_code == 200 and "watch" in d["transcript"] and d["hits"][0]["type"] == "Watches"
        r = httpx.post(f"{base}/search", files={"video": ("clip.mp4", clip.read_bytes(), "video/mp4")},
                       data={"query": json.dumps({"page_size": 5})}, timeout=120)
        assert r.status_code == 200 and row["id"] in [h["id"] for h in r.json()["hits"]]
        r = httpx.post(f"{base}/search", files={"audio": ("voice.wav", b"not audio at all", "audio/wav")},
                       data={"query": "{}"}, timeout=60)
        assert r.status_code in (415, 422)


def test_ocr_reads_text_shown_in_a_frame():
    from PIL import ImageDraw, ImageFont

    from shopsearch.media.ocr import read_text

    img = Image.new("RGB", (400, 200), "white")
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 64)
    except OSError:
        font = ImageFont.load_default(size=64)
    ImageDraw.Draw(img).text((40, 60), "PUMA", fill="black", font=font)
    assert "PUMA" in read_text([img]).upper()
