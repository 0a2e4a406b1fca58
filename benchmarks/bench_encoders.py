"""Encoder benchmark: items/s through the product path vs the bare model on the same batches.

Text: the 1,682 MovieLens items (title + genres, as the worker embeds them) through
``ItemPipeline.encode_items`` (text assembly, length-sorted batching, tokenising,
pooling, fusion) vs ``TextEncoder.forward`` alone on the identical pre-tokenised
batches (the baseline, measured in the same run). Same for fp32 and int8, plus
int8-vs-fp32 cosine agreement. Images: synthetic PNGs, decode+resize+forward vs forward.

    python benchmarks/bench_encoders.py [--images 64] [--repeat 2]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from encoders import registry, samples  # noqa: E402
from encoders.fusion import Fusion  # noqa: E402
from encoders.pipeline import ItemPipeline  # noqa: E402
from encoders.text import item_text  # noqa: E402
from streams.data.movielens import load_movielens  # noqa: E402
from streams.schemas import ItemEvent  # noqa: E402


def movielens_items() -> list[ItemEvent]:
    data = load_movielens(with_media=False)
    return [ItemEvent(str(i), title=it.title, tags=tuple(it.genres)) for i, it in sorted(data.items.items())
            if it.title or it.genres]


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_text(name: str, items: list[ItemEvent], repeat: int) -> np.ndarray:
    enc = registry.shared(name)
    pipe = ItemPipeline({"text": enc}, Fusion({"text": enc.dim}, {"text": 1.0}))
    texts = [item_text(i.title, i.text, i.tags) for i in items]
    order = sorted(range(len(texts)), key=lambda j: len(texts[j]))
    batches = [enc.tokenize([texts[j] for j in order[s:s + enc.batch_size]])
               for s in range(0, len(order), enc.batch_size)]
    pipe.encode_items(items[:64])  # warm-up
    t_pipe = best_of(lambda: pipe.encode_items(items), repeat)
    t_bare = best_of(lambda: [enc.forward(b) for b in batches], repeat)
    n = len(items)
    print(f"text {name:18s} product {n / t_pipe:7.0f} items/s | bare forward {n / t_bare:7.0f} items/s "
          f"| ratio {t_bare / t_pipe:.2f} | device {enc.device}")
    return np.vstack([r.vector for r in pipe.encode_items(items)])


def bench_images(n: int, repeat: int) -> None:
    enc = registry.shared("efficientnet-lite0")
    raws = [samples.image_bytes(s, "JPEG") for s in range(n)]
    pixels = torch.from_numpy(np.stack([enc.preprocess(r) for r in raws]))
    enc.encode_batch([enc.preprocess(r) for r in raws[:4]])
    t_full = best_of(lambda: enc.encode_batch([enc.preprocess(r) for r in raws]), repeat)
    t_bare = best_of(lambda: [enc.forward(pixels[s:s + enc.batch_size]) for s in range(0, n, enc.batch_size)], repeat)
    print(f"image efficientnet-lite0  product {n / t_full:7.0f} items/s | bare forward {n / t_bare:7.0f} items/s "
          f"| ratio {t_bare / t_full:.2f} (product includes JPEG decode+resize) | device {enc.device}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--images", type=int, default=64)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    items = movielens_items()
    fp32 = bench_text("minilm-l6-v2", items, a.repeat)
    int8 = bench_text("minilm-l6-v2-int8", items, a.repeat)
    cos = np.sum(fp32 * int8, axis=1)
    print(f"int8 vs fp32 cosine over {len(items)} items: mean {cos.mean():.4f}  min {cos.min():.4f}")
    if a.images:
        bench_images(a.images, a.repeat)


if __name__ == "__main__":
    main()
