"""One settings object for the whole engine; every field can be overridden by a
``SHOPSEARCH_<NAME>`` environment variable so operators never edit code."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _default_data() -> Path:
    # The shared data folder sits beside the repository checkout.
    return PACKAGE_DIR.parent.parent / "shared" / "data" / "fashion"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPSEARCH_", extra="ignore")

    # Where things live
    data: Path = _default_data()
    index: str = "var/index"  # a folder, or a Milvus URI: http://host:19530[/collection]
    milvus_token: str | None = None
    cache: Path = Path.home() / ".cache" / "shopsearch"
    image_model: Path = PACKAGE_DIR / "models" / "fashion"

    # Encoders
    text_model: str = "minilm"  # "minilm" (bundled) or a folder with an ONNX text model
    quantize_text: bool = False  # int8 text tower (see bench/encoders.py for speed and quality)
    threads: int = 2
    image_width: int = 144
    image_height: int = 192
    encode_batch: int = 8  # photos per trunk run: small batches ran faster here (bench/encoders.py)

    # Ingest
    ingest_batch: int = 256
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = 40_000_000
    min_image_side: int = 16

    # Embedded index: exact numpy search up to ann_threshold products; above it, a
    # FAISS inverted file over 8-bit scalar-quantised vectors (a quarter of the
    # memory), saved beside the records per write generation, records read on
    # demand. (An IVF, not HNSW: catalogues are full of near-duplicate variants,
    # which HNSW graphs route around; see docs/scaling.md.)
    ann_threshold: int = 200_000
    ivf_lists_per_sqrt_n: float = 4.0  # nlist = this x sqrt(products)
    ivf_nprobe: int = 48  # lists scanned per query
    large_reload_quiet_s: float = 15.0  # a served large index reloads once another writer has paused this long
    ann_rerank: int = 100  # top-k requests up to this size are re-ranked on the exact float32 vectors
    ann_rerank_pool: int = 200  # ...out of this many graph candidates (near-duplicates need a deep pool)

    # Retrieval and fusion
    candidates: int = 1000
    rrf_k: int = 60
    fusion: str = "rrf"  # text queries: "rrf" or "weighted"
    photo_fusion: str = "weighted"  # photo queries: cosine scores are calibrated, near-duplicates must win
    weight_bm25: float = 1.0
    weight_text: float = 1.0
    weight_image: float = 0.5  # text -> product photos
    weight_visual: float = 1.0  # photo -> product photos (visual vector)
    weight_photo_image: float = 0.5  # photo -> product photos (aligned vector)
    weight_photo_text: float = 0.3  # photo -> product text
    attribute_boost: float = 1.0  # in units of the fused score (1.0 = first in every retriever)
    # Share of the boost per named attribute: the type matters most to a shopper
    # (a black shirt beats a navy t-shirt for "navy shirt"), then colour, then gender.
    attribute_share_type: float = 0.5
    attribute_share_colour: float = 0.3
    attribute_share_gender: float = 0.2
    # Photo-only matching of a query that names a brand the image tower's brand
    # head knows: that head's probability joins the evidence with this share.
    attribute_share_brand: float = 0.5
    # A field boosts only if it is facet-like: few distinct values per product
    # (fashion types: 0.01; free-form Amazon categories: 0.17, where boosts hurt).
    facet_like_ratio: float = 0.05
    negative_penalty: float = 1.0
    # A negated attribute ("not sports", "不要黑色") pushes a product that has it down by this
    # many times the attribute boost; a negated word in its title ("without logo") by this share
    negated_attribute_penalty: float = 2.0
    negated_word_penalty: float = 0.5
    # Words the catalogue never uses (query/concepts.py): a mapping at least this sure acts
    # like a catalogue word (boost, and a filter in strict mode); below it, a boost scaled
    # by its confidence, never a filter. The text model maps words nothing else knows.
    concept_strong: float = 0.75
    concept_embedding: bool = True
    # Totals and facets count the products that match (search/fuse.py, matched): with a sure type,
    # those of it; otherwise candidates whose text similarity reaches count_text_sim or
    # whose BM25 score reaches count_bm25_share of the best (bench/counts.py chose them
    # on the dev-t queries).
    count_text_sim: float = 0.675
    count_bm25_share: float = 0.5
    # A photo with words ("in red"): the photo's type is every type the image tower's type
    # head and neighbours give at least this share of the top probability (at most two)
    photo_type_share: float = 0.5
    photo_type_neighbours: int = 10  # ... half the head's probabilities, half its nearest photos' types
    photo_type_temperature: float = 0.05  # the neighbours' votes: softmax of their cosines at this temperature
    # Photo-only matching of words ("fields": ["image"]) scores each photo log-linearly:
    #   cosine(words, photo) + T x (boost x sum over named attributes of log(1 + p / floor)
    #                               + words x the borrowed title words the query has)
    # p: the image tower's probability that the photo shows a named type, colour, gender
    # or brand; a product must match all of them, so doubts multiply. Borrowed words:
    # the nearest training photos' titles (visual.Words). The best of a grid on the
    # validation slice's titles as queries plus dev-x, not on KAGL (`bench/photo_text.py`).
    photo_text_temperature: float = 0.08
    photo_attribute_floor: float = 0.001
    photo_attribute_boost: float = 1.0
    photo_words: float = 0.3
    page_size: int = 20

    # Score modifiers (in the spirit of Marqo's score modifiers / Vespa rank
    # profiles): [{"field": "rating", "weight": 0.2, "transform": "log1p"}, ...];
    # field "popularity" comes from events. An index's own list (set with
    # `shopsearch modifiers`) wins over this default.
    score_modifiers: list[dict] = []

    # Personalisation (session profiles from events)
    personal_boost: float = 1.0  # the most a profile can add to a fused score (as much as the query's attributes)
    personal_half_life_s: float = 1800.0
    personal_max_drop: int = 40  # no result moves more than this many places down
    # How much each kind of event says about a shopper's taste (profiles) and a product's
    # pull (the popularity modifier): one table for both
    event_weights: dict[str, float] = {"view": 0.3, "click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}

    # Voice: "en" uses Whisper tiny.en; "zh", "auto" or another code the multilingual base model
    voice_language: str = "en"
    # English speech: "tiny.en", "base" or "small" (small's published packages are incomplete).
    # tiny.en: base hears accented voices better but costs 1.9x the CPU, over 1 s a clip here (docs/voice.md)
    voice_model: str = "tiny.en"
    voice_beams: int = 5
    voice_hypotheses: int = 5  # n-best transcripts the correction chooses among
    # Correction (docs/voice.md; grid-searched on dev-t slice 1 over 5 voices x 2 speeds x clean/noisy):
    voice_sure: float = 0.9  # a word heard with at least this probability is never changed
    voice_lm_weight: float = 0.25  # catalogue language model vs recogniser, in log probability
    voice_temperature: float = 1.0  # divides the recogniser's log probabilities before the n-best posterior
    voice_spell_penalty: float = 3.0  # log-posterior cost of a catalogue spelling of an unsure word vs a hypothesis
    voice_word_bonus: float = 4.0  # per word, against the language model's taste for short queries
    video_ocr: bool = False  # read text in video frames (RapidOCR); measured no help on catalogue clips

    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None
    events_url: str | None = None  # SQLAlchemy URL; default: SQLite in the index folder
    event_retention_days: float = 90.0
    max_upload_bytes: int = 25_000_000
    max_clip_seconds: float = 60.0  # longer audio or video queries are refused (only the start is used anyway)
    decode_timeout_s: float = 10.0  # an uploaded photo that takes longer to decode is refused
    # Photos named by the admin API must lie under this folder; unset, it takes none
    # (a path there is a file read on the server, so it is never open-ended).
    images_root: str | None = None
    search_concurrency: int = 2  # searches run at once (the cores); the rest queue
    media_concurrency: int = 1  # voice/video transcriptions at once (each uses every core)
    media_queue_max: int = 6  # clips that may wait for a slot; more get 429 + Retry-After (bounded latency)

    # Meilisearch-compatible API and API keys (docs/api.md)
    meili_index_uid: str = "products"  # the uid the served index has in the Meilisearch API
    # Search without a key: "auto" until the first search key is issued, "open" always, "key" never
    search_auth: Literal["auto", "open", "key"] = "auto"
    keys_path: str | None = None  # the key store (SQLite); default: keys.sqlite in the index folder
    key_rate_limit_per_minute: int = 600  # a new key's limit unless it is given one (0: none)
    cors_origins: list[str] = []  # origins whose pages may call the API (JSON list; ["*"]: any)

    # Analytics and A/B tests (docs/operators-guide.md)
    search_log: bool = True  # log each search (query, modality, count, latency, session, arm) for analytics
    low_ctr_min_searches: int = 2  # a query needs this many searches to be called low click-through
    low_ctr_max: float = 0.1  # ... and at most this share of its searches clicked


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once from the environment."""
    return Settings()
