"""Contract suite every registered encoder must pass (real weights, parametrised over the registry)."""
from __future__ import annotations

import numpy as np
import pytest

from encoders import registry, samples
from encoders.base import Encoder, encode
from encoders.errors import MediaError, UnknownEncoder

pytestmark = pytest.mark.slow

INPUTS = {
    "text": ["A space opera about rebels fighting an empire.", "Toy Story (1995). Animation, Comedy",
             "x", "A long " + "very " * 400 + "long text"],
    "image": [samples.image_bytes(1), samples.image_bytes(2, "JPEG"), samples.altered_image_bytes(3)],
    "audio": [samples.audio_bytes("tone", 1), samples.audio_bytes("clicks", 2),
              samples.wav_bytes(np.zeros(100, np.float32) + 0.1, 8000)],  # very short clip
}
GARBAGE = {"text": ["", "   ", 42], "image": [b"not an image", b"", "text"],
           "audio": [b"RIFF....WAVEfmt garbage", b"", "text"]}
# int8 dynamic quantisation picks activation scales per batch, so batch composition
# moves results (most for a tiny text padded beside a long one); fp32 models must be batch-invariant to float precision.
BATCH_TOL = {"minilm-l6-v2-int8": 0.15}  # measured 0.89 worst case: a 1-token text padded to 256


@pytest.fixture(scope="module", params=registry.available())
def enc(request: pytest.FixtureRequest) -> Encoder:
    return registry.shared(request.param)


def test_identity_fields(enc: Encoder) -> None:
    assert isinstance(enc, Encoder)
    assert enc.modality in INPUTS
    assert enc.name in registry.available()
    assert enc.model and enc.version and enc.dim > 0
    assert enc.device in ("cpu", "cuda")


def test_shape_dtype_unit_norm(enc: Encoder) -> None:
    out = encode(enc, INPUTS[enc.modality])
    assert out.shape == (len(INPUTS[enc.modality]), enc.dim)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert np.isfinite(out).all()


def test_distinct_inputs_give_distinct_vectors(enc: Encoder) -> None:
    out = encode(enc, INPUTS[enc.modality][:2])
    assert float(out[0] @ out[1]) < 0.999


def test_deterministic_and_batch_invariant(enc: Encoder) -> None:
    raws = INPUTS[enc.modality]
    together = encode(enc, raws)
    alone = np.vstack([encode(enc, [r]) for r in raws])
    cos = np.sum(together * alone, axis=1)
    assert cos.min() > 1 - BATCH_TOL.get(enc.name, 1e-4), cos
    np.testing.assert_array_equal(encode(enc, raws), together)


def test_empty_batch(enc: Encoder) -> None:
    assert enc.encode_batch([]).shape == (0, enc.dim)


@pytest.mark.parametrize("i", range(3))
def test_garbage_raises_media_error(enc: Encoder, i: int) -> None:
    with pytest.raises(MediaError) as info:
        enc.preprocess(GARBAGE[enc.modality][i])
    assert enc.modality in info.value.reason or "expected" in info.value.reason


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownEncoder, match="minilm-l6-v2"):
        registry.create("no-such-encoder")
