"""Voice and video queries with the real models: espeak-ng speech, PyAV clips."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from media_common import pan_zoom_clip, speak  # noqa: E402
from server import running_server  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                                reason="espeak-ng and ffmpeg are needed (make system-deps)")


@pytest.fixture(scope="module")
def media():
    from shopsearch.media import queries

    return queries


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return speak("men black watch", tmp_path_factory.mktemp("voice") / "q.wav")


def test_spoken_query_is_transcribed_and_adapted(media, wav, engine):
    text = media.transcribe(str(wav), engine.vocab)
    assert "black" in text and "watch" in text


def test_browser_formats_decode(tmp_path, media, wav, engine):
    for ext, codec in (("webm", "libopus"), ("ogg", "libvorbis")):
        out = tmp_path / f"q.{ext}"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-c:a", codec, str(out)], check=True)
        assert "watch" in media.transcribe(str(out), engine.vocab)


def test_undecodable_input_is_a_clear_error(tmp_path, media):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(ValueError):
        media.transcribe(str(bad))
    with pytest.raises(ValueError):
        media.video_query(str(bad))


def test_video_clip_finds_the_shown_product(tmp_path, media, engine, small_catalogue, data_dir):
    row = list(csv.DictReader(small_catalogue.open()))[11]
    clip = pan_zoom_clip(data_dir / row["image_hr"], tmp_path / "c.mp4")
    text, frames = media.video_query(str(clip), engine.vocab)
    assert text == "" and 1 <= len(frames) <= 8
    from shopsearch.schema import Query

    res = engine.search(Query(images=frames, page_size=5))
    assert row["id"] in [h.id for h in res.hits]


def test_video_with_speech_gives_a_transcript(tmp_path, media, engine, small_catalogue, data_dir):
    row = list(csv.DictReader(small_catalogue.open()))[12]
    speech = speak("black watch", tmp_path / "s.wav")
    clip = pan_zoom_clip(data_dir / row["image_hr"], tmp_path / "c.mp4", audio_wav=speech)
    text, frames = media.video_query(str(clip), engine.vocab)
    assert "watch" in text and frames


def test_api_accepts_audio_and_video(tmp_path, small_index, tiny_model, wav, small_catalogue, data_dir):
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
        assert r.status_code == 415


def test_ocr_reads_text_shown_in_a_frame():
    from PIL import Image, ImageDraw, ImageFont

    from shopsearch.media.ocr import read_text

    img = Image.new("RGB", (400, 200), "white")
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 64)
    except OSError:
        font = ImageFont.load_default(size=64)
    ImageDraw.Draw(img).text((40, 60), "PUMA", fill="black", font=font)
    assert "PUMA" in read_text([img]).upper()
