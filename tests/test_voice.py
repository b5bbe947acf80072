"""Voice correction that does no harm, with the real Whisper tiny.en, real espeak-ng clips
and a Vocabulary built from real catalogue rows: words heard for sure are never changed,
unsure ones move toward what the other hypotheses and the catalogue say."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from conftest import fashion_rows  # noqa: E402
from media_common import add_noise, speak  # noqa: E402

from shopsearch.media.audio import decode_audio  # noqa: E402
from shopsearch.media.voice import Heard, clean, correct, is_real_word, listen, words_of  # noqa: E402
from shopsearch.media.voice_lm import lm_for  # noqa: E402
from shopsearch.query.vocab import Vocabulary  # noqa: E402
from shopsearch.settings import Settings  # noqa: E402

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng makes the test speech: apt-get install -y espeak-ng")
SETTINGS = Settings(voice_sure=0.9, voice_lm_weight=0.25, voice_temperature=1.0, voice_word_bonus=4.0,
                    voice_spell_penalty=3.0)  # the defaults, whatever the environment says


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_records(fashion_rows(3000))


def test_language_model_prefers_catalogue_phrases(vocab):
    lm = lm_for(vocab)
    assert lm_for(vocab) is lm  # built once per vocabulary
    better = [("men black watch", "men black wash"), ("women navy sandals", "ribbon navy sandals"),
              ("black watch for men", "black wash for men"), ("grey wallet", "great wallet"),
              ("women red top", "women men top"), ("men navy sweater", "men navy swagger")]
    for good, bad in better:
        assert lm.logprob(good.split()) > lm.logprob(bad.split()) + 3, (good, bad)
    # a whole query is likelier than a fragment the recogniser might stop at
    assert lm.logprob("women green watch".split()) > lm.logprob("women green".split())


def test_words_heard_for_sure_are_never_changed(vocab):
    """The same n-best list, once with the odd word heard for sure and once unsure."""
    texts = ("black wash for men", "black watch for men", "black wash for men.")
    lps = (-2.0, -2.4, -2.9)

    def heard(p_wash: float) -> Heard:
        return Heard(texts, lps, ((" black", 0.95), (" wash", p_wash), (" for", 0.9), (" men", 0.97)))

    assert correct(heard(0.95), vocab, SETTINGS) == "black wash for men"  # sure: kept, though unlikely
    assert correct(heard(0.30), vocab, SETTINGS) == "black watch for men"  # unsure: the catalogue word


def test_spelling_only_for_unsure_non_words(vocab):
    assert clean("black wach", vocab) == "black watch"  # not a word: corrected
    assert clean("great wallet", vocab) == "great wallet"  # a real word: only hypotheses may change it
    assert is_real_word("watch", vocab) and is_real_word("great", vocab) and not is_real_word("wach", vocab)
    h = Heard(("black wach",), (-1.0,), ((" black", 0.9), (" wach", 0.95)))
    assert correct(h, vocab, SETTINGS) == "black wach"  # heard for sure: left alone even so
    h = Heard(("black wach",), (-1.0,), ((" black", 0.9), (" wach", 0.2)))
    assert correct(h, vocab, SETTINGS) == "black watch"
    assert [w for w, _ in words_of("Men's sweat shirt, t-shirt", vocab)] == ["men", "sweatshirt", "tshirt"]


@needs_espeak
@pytest.mark.parametrize("text,voice,snr", [("black watch for men", "en-us", None),
                                            ("women navy sandals", "en-gb", None),
                                            ("men brown wallet", "en-us+f3", 20.0)])
def test_recorded_clips_keep_what_was_heard_right(vocab, tmp_path, text, voice, snr):
    """Every word Whisper was sure of survives correction ("for", "men" in the first clip; the
    noisy one has none), and the query comes out right."""
    samples = decode_audio(str(speak(text, tmp_path / "q.wav", voice=voice, speed=150)))
    if snr is not None:
        samples = add_noise(samples, snr, "pink", seed=text)
    heard = listen(samples, vocab, model_name="tiny.en", settings=SETTINGS)
    assert len(heard.texts) > 1 and len(heard.words) >= 2  # an n-best list, word probabilities
    out = correct(heard, vocab, SETTINGS).split()
    sure = [w.strip(" ,.!?").lower() for w, p in heard.words if p >= SETTINGS.voice_sure]
    for w in sure:
        if w.isalpha():
            assert w in out, (w, heard, out)
    assert out == text.split(), (heard, out)


@needs_espeak
@pytest.mark.parametrize("text,voice,misheard", [("beige casual shoes", "en-us", "made"),
                                                 ("women red top", "en-us", "men"),
                                                 ("men navy sweater", "en-us+f3", "women")])
def test_unsure_misrecognition_is_corrected_from_other_hypotheses(vocab, tmp_path, text, voice, misheard):
    """Whisper tiny.en's first transcript has a wrong word it is unsure of ("made casual
    shoes", "women men top", a "men, women, women" loop); another hypothesis has the right
    one, which the catalogue model prefers."""
    samples = decode_audio(str(speak(text, tmp_path / "q.wav", voice=voice, speed=150)))
    heard = listen(samples, vocab, model_name="tiny.en", settings=SETTINGS)
    first = [w for w, _ in words_of(heard.text, vocab)]
    assert misheard in first and first != text.split(), heard  # the recogniser got it wrong first
    assert correct(heard, vocab, SETTINGS) == text, heard
