"""Generate the held-out-style fashion dev set from the word lists in bench/devset/.

    python bench/devset.py [--out var/devset] [--seed 25] [--no-audio]
    python bench/devset.py --check-grading   # the grading function against the shared dev qrels

Why: the shared dev queries are few and the engine is tuned on them, so a score on
them says little about phrasings it never saw. This set is built from shopper word
lists that are written apart from the engine's tables, and every list is split
deterministically into half A (build/calibrate: anyone may read and tune on it)
and half B (test: only ever reported). A query is B only if every list item it
uses is B (queries are generated per half, so none mixes halves).

Writes, in exactly the shared fashion format (shared/bench/README.md):
  <out>/queries.jsonl   qid, text | image | audio
  <out>/qrels.tsv       qid 0 product_id grade (graded by devset_grade over catalogue_hr)
and beside them
  <out>/meta.jsonl      per query: category, split A/B, intent, list items used, twin qid...
  <out>/lists.json      each list's half A and half B (what others may look at: A)
  <out>/audio/*.wav     16 kHz mono espeak-ng clips of the spoken queries

Categories (qid prefix): hp paraphrase templates, hs synonyms, hm misspellings,
hz Chinese, hv-<voice> spoken twins of typed queries, hi photo + modifier."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, DATA, ROOT  # noqa: E402
from devset_grade import GENDERS, Intent, grade, load_catalogue, parse_plain, type_keys  # noqa: E402

log = logging.getLogger("devset")

LISTS = Path(__file__).resolve().parent / "devset"
HALVES = ("A", "B")
MIN_GRADE2 = 3
# Queries per half and category (x2 for both halves); spoken clips are per half.
COUNTS = {"hp": 160, "hs": 180, "hm": 100, "hz": 100, "hi": 80, "hv": 75}
SPEEDS = (140, 150, 160, 170, 180)
NOISE_SNR_DB = 20.0
NOISE_SHARE = 1 / 3


# --- lists and their halves -------------------------------------------------------------------

def _h(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


def load_lists(folder: Path = LISTS) -> dict[str, list[str]]:
    """Every splittable list, flattened to name -> items ('types/Tshirts', 'colours/red', ...)."""
    rd = lambda n: json.loads((folder / n).read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for t, v in rd("types.json").items():
        if not t.startswith("_"):
            out[f"types/{t}"] = v["words"]
    for c, v in rd("colours.json").items():
        if not c.startswith("_"):
            out[f"colours/{c}"] = v
    for g, v in rd("genders.json").items():
        if not g.startswith("_"):
            out[f"genders/{g}/pre"] = v["pre"]
            out[f"genders/{g}/post"] = v["post"]
    tm = rd("templates.json")
    out["templates/query"], out["templates/np"] = tm["query"], tm["np"]
    zh = rd("chinese.json")
    for part in ("types", "colours", "genders"):
        for k, v in zh[part].items():
            out[f"zh/{part}/{k}"] = v
    out["zh/templates"] = zh["templates"]
    for k, v in rd("misc.json").items():
        if not k.startswith("_"):
            out[f"misc/{k}"] = v
    return out


def plain_words(folder: Path = LISTS) -> dict[str, list[str]]:
    """articleType -> its catalogue-name forms (neutral, in both halves)."""
    t = json.loads((folder / "types.json").read_text(encoding="utf-8"))
    return {k: v["plain"] for k, v in t.items() if not k.startswith("_")}


def split_lists(lists: dict[str, list[str]]) -> dict[str, str]:
    """item -> 'A' or 'B'. Deterministic (sha1 order, no seed: the halves must not
    move when the generator's seed does), balanced within each list, and one half
    per item across lists, so no word is in both halves."""
    half: dict[str, str] = {}
    for name in sorted(lists):
        n = {"A": 0, "B": 0}
        for it in lists[name]:
            if it in half:
                n[half[it]] += 1
        for it in sorted(lists[name], key=lambda s: _h(f"{name}|{s}")):
            if it in half:
                continue
            if n["A"] != n["B"]:
                h = "A" if n["A"] < n["B"] else "B"
            else:
                h = "A" if int(_h(name), 16) % 2 == 0 else "B"
            half[it] = h
            n[h] += 1
    return half


@dataclass
class Item:
    list: str
    item: str
    half: str


@dataclass
class Gen:
    qid: str
    category: str
    split: str
    intent: dict
    text: str | None = None
    image: str | None = None
    audio: str | None = None
    items: list[Item] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Lists:
    """The lists restricted to one half: the only words a generator for that half sees."""

    def __init__(self, lists: dict[str, list[str]], halves: dict[str, str], half: str):
        self.half = half
        self.l = {k: [w for w in v if halves[w] == half] for k, v in lists.items()}

    def has(self, name: str) -> bool:
        return bool(self.l.get(name))

    def pick(self, rng: random.Random, name: str, used: list[Item]) -> str:
        w = rng.choice(self.l[name])
        used.append(Item(name, w, self.half))
        return w


WORD_LISTS = ("types/", "colours/", "genders/", "zh/")


def neutral_words(plain: dict[str, list[str]]) -> set[str]:
    """Words in both halves: catalogue type names, colour family names, plain genders."""
    from shopsearch.query.tables import COLOUR_FAMILIES  # the family names only

    return {w for v in plain.values() for w in v} | set(COLOUR_FAMILIES) | set(GENDERS)


def _occurs(w: str, text: str) -> bool:
    if w not in text or not w.isascii():  # the substring test first: cheap, and enough for Chinese
        return w in text
    return re.search(r"(?<![\w'])" + re.escape(w) + r"(?![\w'])", text) is not None


def leaked(text: str, own: list[str], other: set[str], neutral: set[str]) -> list[str]:
    """Other-half words that a query's text shows by accident ("looking for" + "men"
    reads as the A phrase "for men"), unless inside a word the query itself used
    ("tee" in "tee shirt"). A half-B query must show no half-A word at all."""
    cover = [c for c in [*own, *neutral] if c and _occurs(c, text)]
    return [w for w in other if _occurs(w, text) and not any(w != c and w in c for c in cover)]


# --- intents ---------------------------------------------------------------------------------

def intents(rows, types: list[str]) -> list[Intent]:
    """Every (type, colour family or none, gender or none) with >= MIN_GRADE2 grade-2 products."""
    from shopsearch.query.tables import COLOUR_FAMILIES  # grading only

    combos = Counter((r["articleType"], r["baseColour"], r["gender"]) for r in rows)
    out = []
    for t in types:
        mine = [(c, g, n) for (tt, c, g), n in combos.items() if tt == t]
        for c in [None, *sorted(COLOUR_FAMILIES)]:
            for g in [None, *GENDERS]:
                n2 = sum(n for cc, gg, n in mine if (c is None or cc in COLOUR_FAMILIES[c])
                         and (g is None or gg in GENDERS[g]))
                if n2 >= MIN_GRADE2:
                    out.append(Intent(t, c, g))
    return out


def pick_intent(rng: random.Random, pool: list[Intent], ok=lambda i: True) -> Intent:
    """Mostly colour + type, often with a gender, sometimes bare: shaped like shoppers' queries."""
    want_c = rng.random() < 0.8
    want_g = rng.random() < 0.55
    cand = [i for i in pool if (i.colour is not None) == want_c and (i.gender is not None) == want_g and ok(i)]
    if not cand:
        cand = [i for i in pool if ok(i)]
    return rng.choice(cand)


# --- English text ---------------------------------------------------------------------------

def english(rng: random.Random, it: Intent, L: Lists, plain: dict[str, list[str]], used: list[Item], *,
            type_syn: float, colour_syn: float, gender_phrase: float, template: float, np_form: float,
            content: list[str] | None = None) -> str:
    """One English query for an intent; each `*` probability is the chance of using the
    half's list for that slot instead of the neutral catalogue word. The type, colour
    and gender words go to `content` (what misspellings may touch)."""
    content = content if content is not None else []
    if L.has(f"types/{it.type}") and rng.random() < type_syn:
        t = L.pick(rng, f"types/{it.type}", used)
    else:
        t = rng.choice(plain[it.type])
    content += t.split()
    np_ = "{type}"
    if it.colour is not None:
        if L.has(f"colours/{it.colour}") and rng.random() < colour_syn:
            c = L.pick(rng, f"colours/{it.colour}", used)
        else:
            c = it.colour
        content += c.split()
        np_ = L.pick(rng, "templates/np", used) if rng.random() < np_form else "{colour} {type}"
        np_ = np_.replace("{colour}", c)
    np_ = np_.replace("{type}", t)
    if it.gender is not None:
        if rng.random() < gender_phrase:
            form = rng.choice([f for f in ("pre", "post") if L.has(f"genders/{it.gender}/{f}")])
            g = L.pick(rng, f"genders/{it.gender}/{form}", used)
            content += g.split()
            np_ = f"{g} {np_}" if form == "pre" else f"{np_} {g}"
        else:
            np_ = f"{it.gender} {np_}"
            content.append(it.gender)
    if rng.random() < template:
        np_ = L.pick(rng, "templates/query", used).replace("{np}", np_)
    return " ".join(np_.split())


_KEYS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _neighbours(ch: str) -> str:
    for r, row in enumerate(_KEYS):
        i = row.find(ch)
        if i >= 0:
            out = row[max(0, i - 1):i] + row[i + 1:i + 2]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_KEYS):
                    out += _KEYS[rr][max(0, i - 1):i + 1]
            return out
    return ""


def typo(word: str, rule: str, rng: random.Random) -> str:
    """Apply one deterministic typo rule to a word (at an rng-chosen inner position)."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 3:
        return word
    i = rng.choice(letters[1:])  # keep the first letter: shoppers rarely miss it
    if rule == "drop":  # not the last letter either: "jackets" -> "jacket" is no typo
        i = rng.choice(letters[1:-1])
        return word[:i] + word[i + 1:]
    if rule == "swap":
        j = i - 1
        return word[:j] + word[i] + word[j] + word[i + 1:] if word[j].isalpha() and word[j] != word[i] else word[:i] + word[i + 1:]
    if rule == "neighbour":
        nb = _neighbours(word[i])
        return word[:i] + rng.choice(nb) + word[i + 1:] if nb else word
    if rule == "double":
        return word[:i] + word[i] + word[i:]
    if rule == "vowel":
        vs = [k for k in letters if word[k] in "aeiou"]
        if not vs:
            return word
        k = rng.choice(vs)
        return word[:k] + rng.choice([v for v in "aeiou" if v != word[k]]) + word[k + 1:]
    if rule == "space":
        sp = word.find(" ")
        if sp > 0:
            return word[:sp] + word[sp + 1:]
        return word[:i] + " " + word[i:]
    raise ValueError(rule)


def misspell(rng: random.Random, text: str, content: list[str], L: Lists, used: list[Item]) -> str:
    """1-2 typos from the half's rules on the type, colour and gender words (>= 4 letters),
    never on the template's words: the set measures misspelt product words."""
    n = 1 if rng.random() < 0.7 else 2
    words = text.split()
    ok = {w for w in content if len(w) >= 4 and w.isalpha()}
    for _ in range(n):
        cand = [k for k, w in enumerate(words) if w in ok]
        if not cand:
            break
        rule = L.pick(rng, "misc/typos", used)
        k = rng.choice(cand)
        words[k] = typo(words[k], rule, rng)
    return " ".join(" ".join(words).split())


def chinese(rng: random.Random, it: Intent, L: Lists, used: list[Item]) -> str:
    t = L.pick(rng, f"zh/types/{it.type}", used)
    c = L.pick(rng, f"zh/colours/{it.colour}", used) if it.colour else ""
    g = L.pick(rng, f"zh/genders/{it.gender}", used) if it.gender else ""
    tpl = L.pick(rng, "zh/templates", used)
    if not c:
        tpl = tpl.replace("{c}的", "")
    return tpl.replace("{g}", g).replace("{c}", c).replace("{t}", t)


# --- audio ------------------------------------------------------------------------------------

def speak(text: str, voice: str, speed: int, out: Path, snr_db: float | None, seed: str) -> None:
    """espeak-ng -> 16 kHz mono 16-bit WAV, white noise at `snr_db` (power of the clip's
    speech samples, so the silence around the words does not inflate the SNR)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        raw = Path(td) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True,
                       capture_output=True)
        res = Path(td) / "16k.wav"
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(res)], check=True,
                       capture_output=True)
        with wave.open(str(res)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    if snr_db is not None and x.size:
        speech = x[np.abs(x) > 0.02 * np.abs(x).max()] if np.abs(x).max() > 0 else x
        p_sig = float(np.mean(speech**2)) if speech.size else float(np.mean(x**2))
        rs = np.random.default_rng(int(_h(seed)[:12], 16))
        noise = rs.standard_normal(x.size)
        noise *= np.sqrt(p_sig / 10 ** (snr_db / 10) / np.mean(noise**2))
        x = x + noise
    y = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(y.tobytes())


# --- the set ----------------------------------------------------------------------------------

def generate(seed: int = 25, data: Path = DATA, lists_dir: Path = LISTS) -> tuple[list[Gen], dict[str, dict[str, int]], dict]:
    """All queries (in a fixed order), their qrels, and the lists' halves. Pure: no files written."""
    from shopsearch.query.tables import COLOUR_FAMILIES  # grading only

    rows = load_catalogue(str(data / "catalogue_hr.csv"))
    lists = load_lists(lists_dir)
    halves = split_lists(lists)
    plain = plain_words(lists_dir)
    pool = intents(rows, sorted(plain))
    by_type: dict[str, list[dict]] = {}
    for r in rows:
        by_type.setdefault(r["articleType"], []).append(r)
    gens: list[Gen] = []
    qrels: dict[str, dict[str, int]] = {}

    memo: dict[Intent, dict[str, int]] = {}

    def graded(it: Intent) -> dict[str, int]:
        if it not in memo:
            memo[it] = grade(by_type[it.type], it)
        return memo[it]

    def add(g: Gen, it: Intent) -> None:
        gens.append(g)
        qrels[g.qid] = graded(it)

    neutral = neutral_words(plain)
    for half in HALVES:
        L = Lists(lists, halves, half)
        seen: set[str] = set()
        other = {w for k, v in lists.items() if k.startswith(WORD_LISTS) for w in v if halves[w] != half}

        def unique(make, tries: int = 50):
            for _ in range(tries):
                r = make()
                if r is not None and r[0] not in seen and not leaked(r[0], [u.item for u in r[2]], other, neutral):
                    seen.add(r[0])
                    return r
            return None

        specs = {
            "hp": dict(type_syn=0.0, colour_syn=0.0, gender_phrase=0.85, template=1.0, np_form=0.6),
            "hs": dict(type_syn=0.75, colour_syn=0.75, gender_phrase=0.5, template=0.35, np_form=0.2),
            "hm": dict(type_syn=0.5, colour_syn=0.4, gender_phrase=0.4, template=0.3, np_form=0.2),
        }
        typed: list[Gen] = []
        for cat, spec in specs.items():
            rng = random.Random(f"{seed}:{cat}:{half}")
            for n in range(1, COUNTS[cat] + 1):
                def make():
                    it = pick_intent(rng, pool)
                    used: list[Item] = []
                    content: list[str] = []
                    text = english(rng, it, L, plain, used, content=content, **spec)
                    if cat == "hs" and not any(u.list.startswith(("types/", "colours/")) for u in used):
                        return None
                    if cat == "hm":
                        before = text
                        text = misspell(rng, text, content, L, used)
                        if text == before:
                            return None
                    return text, it, used
                r = unique(make)
                if r is None:
                    continue
                text, it, used = r
                g = Gen(f"{cat}-{half}-{n:04d}", cat, half, asdict(it), text=text, items=used)
                add(g, it)
                if cat in ("hp", "hs"):
                    typed.append(g)
        # Chinese
        rng = random.Random(f"{seed}:hz:{half}")
        zh_ok = lambda i: (L.has(f"zh/types/{i.type}") and (i.colour is None or L.has(f"zh/colours/{i.colour}"))
                           and (i.gender is None or L.has(f"zh/genders/{i.gender}")))
        for n in range(1, COUNTS["hz"] + 1):
            def make():
                it = pick_intent(rng, pool, zh_ok)
                used: list[Item] = []
                return chinese(rng, it, L, used), it, used
            r = unique(make)
            if r is None:
                continue
            text, it, used = r
            add(Gen(f"hz-{half}-{n:04d}", "hz", half, asdict(it), text=text, items=used), it)
        # Spoken twins of typed paraphrase / synonym queries, in this half's voices.
        rng = random.Random(f"{seed}:hv:{half}")
        voices = L.l["misc/voices"]
        twins = rng.sample(typed, min(COUNTS["hv"], len(typed)))
        for n, tw in enumerate(twins, 1):
            used = list(tw.items)
            voice = L.pick(rng, "misc/voices", used) if voices else "en-us"
            speed = rng.choice(SPEEDS)
            snr = NOISE_SNR_DB if rng.random() < NOISE_SHARE else None
            qid = f"hv-{voice}-{half}-{n:04d}"
            # The clip's name carries what it says and how, so a changed list never
            # leaves a stale clip under a reused qid.
            tag = _h(f"{tw.text}|{voice}|{speed}|{snr}")[:8]
            g = Gen(qid, "hv", half, tw.intent, audio=f"audio/{qid}-{tag}.wav", items=used,
                    extra={"twin": tw.qid, "voice": voice, "speed": speed, "snr_db": snr, "say": tw.text})
            gens.append(g)
            qrels[qid] = qrels[tw.qid]
        # Photo + modifier: photos of unseen-split products (the shipped image model never
        # trained on them), different products in each half.
        rng = random.Random(f"{seed}:hi:{half}")
        photos = [r for r in rows if r["image_hr"] and int(r["id"]) % 5 == 0 and r["articleType"] in plain
                  and (int(_h(r["id"]), 16) % 2 == 0) == (half == "A")]
        fam_of = lambda colour: {f for f, vs in COLOUR_FAMILIES.items() if colour in vs}
        n = 0
        for _ in range(COUNTS["hi"] * 20):
            if n >= COUNTS["hi"]:
                break
            p = rng.choice(photos)
            used: list[Item] = []
            if rng.random() < 0.75:
                fam = rng.choice(sorted(COLOUR_FAMILIES))
                if fam in fam_of(p["baseColour"]) or p["baseColour"] in COLOUR_FAMILIES[fam]:
                    continue
                it = Intent(p["articleType"], fam, None)
                if sum(1 for v in graded(it).values() if v == 2) < MIN_GRADE2:
                    continue
                word = L.pick(rng, f"colours/{fam}", used) if rng.random() < 0.4 and L.has(f"colours/{fam}") else fam
                text = L.pick(rng, "misc/photo_colour", used).replace("{colour}", word)
            else:
                gen = rng.choice([g for g in GENDERS if p["gender"] not in GENDERS[g]])
                it = Intent(p["articleType"], None, gen)
                if sum(1 for v in graded(it).values() if v == 2) < MIN_GRADE2:
                    continue
                word = L.pick(rng, f"genders/{gen}/post", used)
                text = L.pick(rng, "misc/photo_gender", used).replace("{gender}", word)
            key = f"{p['id']}|{text}"
            if key in seen or leaked(text, [u.item for u in used], other, neutral):
                continue
            seen.add(key)
            n += 1
            g = Gen(f"hi-{half}-{n:04d}", "hi", half, asdict(it), text=text, image=str(data / p["image_hr"]),
                    items=used, extra={"photo_id": p["id"], "photo_type": p["articleType"],
                                       "photo_colour": p["baseColour"], "photo_gender": p["gender"]})
            add(g, it)
    # A query's split is B only if all its items are B (true by construction; checked here).
    for g in gens:
        assert all(u.half == g.split for u in g.items), g.qid
    split_out = {name: {h: [w for w in items if halves[w] == h] for h in HALVES} for name, items in lists.items()}
    return gens, qrels, split_out


def write(gens: list[Gen], qrels: dict[str, dict[str, int]], split_out: dict, out: Path, audio: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for g in gens:
            q: dict = {"qid": g.qid}
            for k in ("text", "image", "audio"):
                if getattr(g, k):
                    q[k] = getattr(g, k)
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with (out / "qrels.tsv").open("w", encoding="utf-8") as f:
        for g in gens:
            for pid, gr in qrels[g.qid].items():
                f.write(f"{g.qid}\t0\t{pid}\t{gr}\n")
    with (out / "meta.jsonl").open("w", encoding="utf-8") as f:
        for g in gens:
            m = {"qid": g.qid, "category": g.category, "split": g.split, "intent": g.intent,
                 "items": [asdict(u) for u in g.items], **g.extra}
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    (out / "lists.json").write_text(json.dumps(split_out, ensure_ascii=False, indent=1), encoding="utf-8")
    if audio:
        if not shutil.which("espeak-ng") or not shutil.which("sox"):
            raise SystemExit("espeak-ng and sox are needed for the spoken clips (apt-get install -y espeak-ng sox) or pass --no-audio")
        made = 0
        wanted = {out / g.audio for g in gens if g.audio}
        for old in (out / "audio").glob("*.wav") if (out / "audio").exists() else []:
            if old not in wanted:
                old.unlink()
        for g in gens:
            if g.category != "hv":
                continue
            path = out / g.audio
            if path.exists():
                continue
            speak(g.extra["say"], g.extra["voice"], g.extra["speed"], path, g.extra["snr_db"], g.qid)
            made += 1
        log.info("spoken clips written: %d", made)


def check_grading(bench: Path = BENCH, data: Path = DATA) -> dict[str, dict[str, int]]:
    """Re-derive the shared dev qrels from their query text (a tiny parser over catalogue
    values) with `grade`: per family, how many queries agree exactly."""
    rows = load_catalogue(str(data / "catalogue_hr.csv"))
    keys = type_keys(rows)
    want: dict[str, dict[str, int]] = {}
    with (bench / "fashion" / "dev-qrels.tsv").open(encoding="utf-8") as f:
        for line in f:
            p = line.split()
            want.setdefault(p[0], {})[p[2]] = int(p[3])
    out: dict[str, dict[str, int]] = {}
    for line in (bench / "fashion" / "dev-queries.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        fam = out.setdefault(re.sub(r"\d+$", "", q["qid"]), {"queries": 0, "exact": 0, "unparsed": 0})
        fam["queries"] += 1
        it = parse_plain(q.get("text", ""), keys)
        if it is None:
            fam["unparsed"] += 1
            continue
        where = (lambda r: int(r["id"]) % 5 == 0) if q.get("split") == "unseen" else None
        if grade(rows, it, where) == want.get(q["qid"], {}):
            fam["exact"] += 1
        else:
            log.warning("%s %r: %s differs from the shared qrels", q["qid"], q.get("text"), it)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "devset")
    ap.add_argument("--seed", type=int, default=25)
    ap.add_argument("--no-audio", action="store_true", help="write the queries but not the spoken clips")
    ap.add_argument("--check-grading", action="store_true",
                    help="only re-derive the shared dev qrels with the grading function and print the agreement")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.check_grading:
        for fam, r in check_grading().items():
            print(f"  {fam}: {r['exact']}/{r['queries']} queries' qrels re-derived exactly ({r['unparsed']} unparsed)")
        return
    gens, qrels, split_out = generate(a.seed)
    write(gens, qrels, split_out, a.out, audio=not a.no_audio)
    c = Counter((g.category, g.split) for g in gens)
    print(f"{len(gens)} queries -> {a.out}")
    for cat in ("hp", "hs", "hm", "hz", "hv", "hi"):
        print(f"  {cat}: A {c[cat, 'A']:4d}  B {c[cat, 'B']:4d}")
    print(f"  qrels lines: {sum(len(v) for v in qrels.values())}")


if __name__ == "__main__":
    main()
