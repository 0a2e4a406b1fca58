"""Fusion (pure numpy) and media loading: geometry, missing modalities, limits."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from encoders.errors import EncoderError, MediaError
from encoders.fusion import Fusion, orthogonal_projection
from encoders.media import load_media

DIMS = {"text": 384, "image": 1280, "audio": 512}


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_projection_is_orthonormal_and_seeded() -> None:
    p = orthogonal_projection(1280, 384, seed=7)
    np.testing.assert_allclose(p.T @ p, np.eye(384), atol=1e-4)
    np.testing.assert_array_equal(p, orthogonal_projection(1280, 384, seed=7))
    assert not np.allclose(p, orthogonal_projection(1280, 384, seed=8))
    up = orthogonal_projection(128, 384, seed=1)  # narrower input: exact isometry
    x = _unit(np.random.default_rng(0), 20, 128)
    np.testing.assert_allclose((x @ up) @ (x @ up).T, x @ x.T, atol=1e-4)


def test_projection_preserves_cosines_within_a_modality() -> None:
    rng = np.random.default_rng(0)
    base = _unit(rng, 1, 1280)
    # pairs spanning cosine 0..1 around one vector
    xs = np.vstack([base, *(base * a + _unit(rng, 1, 1280) * (1 - a) for a in np.linspace(0, 1, 30))])
    f = Fusion(DIMS, {"text": 1, "image": 1, "audio": 1})
    before = (xs / np.linalg.norm(xs, axis=1, keepdims=True)) @ (xs[0] / np.linalg.norm(xs[0]))
    after = f.project("image", xs) @ f.project("image", xs[:1])[0]
    assert np.abs(before - after).max() < 0.12
    assert np.corrcoef(before, after)[0, 1] > 0.98


def test_text_passes_through_unchanged() -> None:
    v = _unit(np.random.default_rng(1), 1, 384)[0]
    f = Fusion(DIMS, {"text": 1.0, "image": 0.5, "audio": 0.5})
    np.testing.assert_allclose(f.fuse({"text": v}), v, atol=1e-6)


def test_missing_modalities_renormalise_and_weights_matter() -> None:
    rng = np.random.default_rng(2)
    t, i = _unit(rng, 1, 384)[0], _unit(rng, 1, 1280)[0]
    f = Fusion(DIMS, {"text": 1.0, "image": 0.5, "audio": 0.5})
    both = f.fuse({"text": t, "image": i})
    assert abs(np.linalg.norm(both) - 1) < 1e-5
    assert both @ t > both @ f.project("image", i[None])[0]  # text weighs more
    heavy_image = Fusion(DIMS, {"text": 0.1, "image": 1.0, "audio": 0.5}).fuse({"text": t, "image": i})
    assert heavy_image @ t < both @ t
    np.testing.assert_allclose(f.fuse({"text": t, "image": None}), t, atol=1e-6)


def test_fusion_is_identical_across_instances_and_versioned() -> None:
    rng = np.random.default_rng(3)
    item = {"image": _unit(rng, 1, 1280)[0], "audio": _unit(rng, 1, 512)[0]}
    a, b = Fusion(DIMS, {"image": 1, "audio": 1}), Fusion(DIMS, {"image": 1, "audio": 1})
    np.testing.assert_array_equal(a.fuse(item), b.fuse(item))
    assert a.version == b.version != Fusion(DIMS, {"image": 1, "audio": 2}).version


def test_fusion_rejects_bad_config_and_empty_items() -> None:
    with pytest.raises(EncoderError, match="video"):
        Fusion(DIMS, {"video": 1.0})
    with pytest.raises(EncoderError, match=">= 0"):
        Fusion(DIMS, {"text": -1.0})
    with pytest.raises(EncoderError, match="nothing to fuse"):
        Fusion(DIMS, {"text": 1.0, "image": 0.0}).fuse({"image": np.ones(1280, np.float32)})


def test_media_sources(tmp_path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"hello")
    assert load_media({"path": str(f)}, "image", 100) == b"hello"
    assert load_media({"b64": base64.b64encode(b"hi").decode()}, "audio", 100) == b"hi"
    assert load_media({"path": "a.bin"}, "image", 100, media_root=tmp_path) == b"hello"


@pytest.mark.parametrize("ref, match", [
    ({"url": "http://example.com/x.jpg"}, "URLs are not fetched"),
    ({"b64": "***not base64***"}, "not valid base64"),
    ({"b64": base64.b64encode(b"x" * 500).decode()}, "oversized"),
    ({"path": "/nonexistent/file.png"}, "cannot read"),
    ({"id": "x"}, "expected one of"),
])
def test_media_errors(ref: dict, match: str) -> None:
    with pytest.raises(MediaError, match=match):
        load_media(ref, "image", 100)


def test_media_oversized_file_and_root_escape(tmp_path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1000)
    with pytest.raises(MediaError, match="oversized"):
        load_media({"path": str(big)}, "image", 100)
    with pytest.raises(MediaError, match="outside the media root"):
        load_media({"path": "../../etc/passwd"}, "image", 10_000, media_root=tmp_path)
