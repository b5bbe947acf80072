"""Chinese twins of the English dev queries: each dev query rewritten in natural
Chinese word order (gender, colour, type) from a hand-made glossary written for
this bench (independent of the engine's own tables), searched on the same index,
and compared with its English twin. Target: Chinese nDCG@10 at least 90% of English.

    python bench/chinese.py --index var/demo-index --unseen-index var/demo-unseen"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH  # noqa: E402

from shopsearch.engine import Engine  # noqa: E402
from shopsearch.eval.metrics import evaluate_run, load_qrels  # noqa: E402
from shopsearch.eval.runner import load_queries, prepare  # noqa: E402

GENDER = {"men": "男士", "women": "女士", "kids": "儿童"}
COLOUR = {"black": "黑色", "white": "白色", "blue": "蓝色", "navy": "藏青色", "red": "红色", "green": "绿色", "grey": "灰色",
          "brown": "棕色", "beige": "米色", "pink": "粉色", "purple": "紫色", "yellow": "黄色", "orange": "橙色",
          "maroon": "酒红色", "gold": "金色", "silver": "银色"}
TYPE = {"backpack": "双肩包", "bag": "包", "hand bag": "手提包", "handbag": "手提包", "belt": "皮带", "briefs": "三角内裤",
        "casual shoes": "休闲鞋", "clutch": "手拿包", "dress": "连衣裙", "earrings": "耳环", "flats": "平底鞋",
        "flip flops": "人字拖", "formal shoes": "正装皮鞋", "heels": "高跟鞋", "jacket": "夹克", "jeans": "牛仔裤",
        "kurta": "库尔塔长衫", "perfume": "香水", "body mist": "身体喷雾", "sandals": "凉鞋", "shirt": "衬衫",
        "shoes": "鞋", "shorts": "短裤", "socks": "袜子", "sports shoes": "运动鞋", "sunglasses": "太阳镜",
        "sweater": "毛衣", "sweatshirt": "卫衣", "t-shirt": "T恤", "tshirt": "T恤", "top": "上衣", "track pants": "运动裤",
        "trousers": "长裤", "wallet": "钱包", "watch": "手表", "watches": "手表", "perfume and body mist": "香水"}


def to_chinese(text: str) -> str | None:
    words = text.lower().split()
    g = c = ""
    rest = []
    for w in words:
        if w in GENDER and not g:
            g = GENDER[w]
        elif w in COLOUR and not c:
            c = COLOUR[w]
        else:
            rest.append(w)
    t = " ".join(rest)
    if t and t not in TYPE:
        return None
    return g + c + (TYPE[t] if t else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="var/demo-index")
    ap.add_argument("--unseen-index", default="var/demo-unseen")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    qrels = load_qrels(BENCH / "fashion" / "dev-qrels.tsv")
    en = load_queries(BENCH / "fashion" / "dev-queries.jsonl")
    pairs = [(q, dict(q, text=zh)) for q in en if (zh := to_chinese(q["text"]))]
    eng, un = Engine(a.index), Engine(a.unseen_index)
    out = {}
    for prefix in ("dev-t", "dev-x"):
        sel = [(e, z) for e, z in pairs if e["qid"].startswith(prefix)]
        runs = {}
        for lang, idx in (("en", 0), ("zh", 1)):
            run = {}
            for p in sel:
                e2, q = prepare(eng, p[idx], 100, un)
                run[p[idx]["qid"]] = [h.id for h in e2.search(q).hits]
            runs[lang] = evaluate_run(run, qrels)["all"]
        ratio = runs["zh"]["ndcg@10"] / runs["en"]["ndcg@10"]
        out[prefix] = {"queries": len(sel), "en": runs["en"]["ndcg@10"], "zh": runs["zh"]["ndcg@10"], "ratio": ratio}
        print(f"{prefix}: {len(sel)} twins  English nDCG@10 {runs['en']['ndcg@10']:.4f}  Chinese {runs['zh']['ndcg@10']:.4f}  "
              f"ratio {ratio:.3f}")
    print("examples:", "; ".join(f"{e['text']} -> {z['text']}" for e, z in pairs[:6]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
