"""Encoder throughput: the text tower on torch (transformers, the baseline), on
onnxruntime fp32 and int8; the photo trunk fp32 (the baseline) and the served
model's int8 trunk on onnxruntime, and the whole image tower; plus what int8
costs in quality (cosine to fp32 vectors, dev-t nDCG@10 with int8 queries).

    python bench/encoders.py [--index var/demo-index] [--repeat 3]"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, DATA  # noqa: E402

from shopsearch.schema import Weights  # noqa: E402
from shopsearch.settings import Settings  # noqa: E402


def rate(fn, items, repeat: int) -> float:
    fn(items[:32])
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(items)
        runs.append(len(items) / (time.perf_counter() - t))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = list(csv.DictReader((DATA / "catalogue_hr.csv").open()))[: a.n]
    caps = [f"{r['gender']} {r['baseColour']} {r['articleType']}. {r['productDisplayName']}" for r in rows]
    from shopsearch.encoders.text import MiniLMText

    fp32 = MiniLMText(Settings(quantize_text=False))
    int8 = MiniLMText(Settings(quantize_text=True))
    out = {}
    import torch
    from transformers import AutoModel, AutoTokenizer

    from shopsearch.encoders.runtime import minilm_dir

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(minilm_dir()))
    model = AutoModel.from_pretrained(str(minilm_dir())).eval()

    def torch_encode(texts):
        with torch.inference_mode():
            for s in range(0, len(texts), 64):
                b = tok(texts[s : s + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
                o = model(**b)[0]
                m = b["attention_mask"].unsqueeze(-1)
                (o * m).sum(1) / m.sum(1)

    out["text_torch_per_s"] = rate(torch_encode, caps, a.repeat)
    out["text_onnx_fp32_per_s"] = rate(fp32.encode, caps, a.repeat)
    out["text_onnx_int8_per_s"] = rate(int8.encode, caps, a.repeat)
    v32, v8 = fp32.encode(caps), int8.encode(caps)
    out["int8_cosine_to_fp32_mean"] = float((v32 * v8).sum(1).mean())
    from shopsearch.encoders.image import ImageTower
    from shopsearch.encoders.trunk import Trunk

    # The photo side: the frozen fp32 trunk at 144x192 (the baseline) and the served
    # model's own trunk (fine-tuned at 72x96, or int8 calibrated on the catalogue), each
    # end to end (decode, network, pooling) and network only; then the whole tower
    # (trunk + heads, plus the visual trunk where the model has one) as ingest runs it.
    s = Settings()
    tower = ImageTower.load(s.image_model, s)
    own = "finetuned" if tower.trunk.key.startswith("ft-") else "int8"
    trunks = {"fp32": Trunk(s)} | ({own: tower.trunk} if tower.trunk.key else {})
    if tower.visual_space:  # a fine-tuned model's visual vectors: the frozen ImageNet trunk at 96x128 (visual.py)
        trunks["visual"] = tower.visual_space.trunk
    if own == "int8" and tower.trunk.key:  # the earlier run settings (batch 64, spinning workers), same int8 network
        trunks["int8_b64_spin"] = Trunk(s.model_copy(update={"encode_batch": 64}), tower.trunk.path, tower.trunk.key, spin=True)
    for col in ("image_hr", "image_60x80"):  # decoding a large JPEG costs more than a 60x80 one
        photos = [str(DATA / r[col]) for r in rows if r[col]][:300]
        for name, trunk in trunks.items():
            out[f"photo_{col[6:]}_{name}_ms"] = 1000 / rate(lambda p: trunk.features(p, "bands"), photos, a.repeat)
        out[f"photo_{col[6:]}_tower_ms"] = 1000 / rate(tower.encode_image_full, photos, a.repeat)
    for name, trunk in trunks.items():
        rgb = np.stack([trunk._prep(p)[0] for p in photos[:64]])  # decoded already, the batch size aside
        batches = lambda x, t=trunk: [t.run(x[i : i + t.batch]) for i in range(0, len(x), t.batch)]  # noqa: E731
        out[f"photo_network_only_{name}_ms"] = 1000 / rate(batches, rgb, a.repeat)
    if "finetuned" in trunks:
        out["finetuned_vs_fp32_photo_hr"] = out["photo_hr_fp32_ms"] / out["photo_hr_finetuned_ms"]
        out["finetuned_vs_fp32_photo_60x80"] = out["photo_60x80_fp32_ms"] / out["photo_60x80_finetuned_ms"]
    if "int8" in trunks:
        f32, f8 = (trunks[n].features(photos, "avg")[0] for n in ("fp32", "int8"))
        f32, f8 = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (f32, f8))
        out["int8_trunk_cosine_to_fp32_mean"] = float((f32 * f8).sum(1).mean())
        out["int8_vs_fp32_photo_hr"] = out["photo_hr_fp32_ms"] / out["photo_hr_int8_ms"]
        out["b8_nospin_vs_b64_spin_photo_hr"] = out["photo_hr_int8_b64_spin_ms"] / out["photo_hr_int8_ms"]
    if a.index:
        from shopsearch.engine import Engine
        from shopsearch.eval.metrics import evaluate_run, load_qrels
        from shopsearch.eval.runner import load_queries, to_query

        qs = [q for q in load_queries(BENCH / "fashion" / "dev-queries.jsonl") if q["qid"].startswith("dev-t")]
        qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
        for name, quant in (("fp32", False), ("int8", True)):
            eng = Engine(a.index, settings=Settings(quantize_text=quant))
            run = {q["qid"]: [h.id for h in eng.search(to_query(q, 100)).hits] for q in qs}
            dense = {q["qid"]: [h.id for h in eng.search(to_query(q, 100).model_copy(
                update={"understand": False, "weights": Weights(bm25=0, image=0, text=1)})).hits] for q in qs}
            out[f"dev_t_ndcg_{name}"] = evaluate_run(run, qrels)["all"]["ndcg@10"]
            out[f"dev_t_dense_text_ndcg_{name}"] = evaluate_run(dense, qrels)["all"]["ndcg@10"]
    out["onnx_vs_torch_text"] = out["text_onnx_fp32_per_s"] / out["text_torch_per_s"]
    for k, v in out.items():
        print(f"{k:<32} {v:.4f}" if isinstance(v, float) else f"{k:<32} {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
