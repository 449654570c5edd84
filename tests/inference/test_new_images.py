"""New images in an embeddings file's space (galmorph.inference.new_images).

The tiny untrained model and embeddings files come from ``tests/inference/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.exceptions import ImageError, ModelError
from galmorph.inference.embeddings import read_embeddings
from galmorph.inference.new_images import embed_images, load_embedding_model


def test_new_image_projects_onto_its_stored_row(pca_file: Path, raw_file: Path) -> None:
    for path in (pca_file, raw_file):
        emb = read_embeddings(path)
        assert emb.file_loc is not None
        vectors = embed_images([emb.file_loc[3], emb.file_loc[7]], emb)
        np.testing.assert_allclose(vectors, emb.features[[3, 7]], atol=1e-4)


def test_embedding_model_must_match_the_checksum(
    pca_file: Path, tmp_path: Path, make_model_file: Callable[..., Path]
) -> None:
    info = read_embeddings(pca_file).info
    other = make_model_file(tmp_path / "other.pt", seed=1)
    with pytest.raises(ModelError, match="not the model these embeddings were made with"):
        load_embedding_model(info, other)
    moved = tmp_path / "moved.pt"
    moved.write_bytes(Path(info.model["path"]).read_bytes())
    assert load_embedding_model(info, moved).checksum == info.model["sha256"]


def test_an_unreadable_new_image_is_named_by_its_file_alone(pca_file: Path, tmp_path: Path
                                                             ) -> None:
    bad = tmp_path / "upload.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError) as caught:
        embed_images([bad], read_embeddings(pca_file))
    assert str(caught.value).startswith(str(bad)) and "galaxy" not in str(caught.value)


def test_embed_images_takes_a_list_of_paths(pca_file: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    emb = read_embeddings(pca_file)
    assert emb.file_loc is not None
    with pytest.raises(TypeError, match="got one path .*pass \\[path\\] for one image"):
        embed_images(emb.file_loc[3], emb)
    with pytest.raises(TypeError, match=r"item 1 is an array of shape \(8, 8\)"):
        embed_images([emb.file_loc[3], np.zeros((8, 8))], emb)
    with pytest.raises(TypeError, match=r"got an array of shape \(8, 8, 3\)"):
        embed_images(np.zeros((8, 8, 3)), emb)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "new.jpg").write_bytes(Path(emb.file_loc[3]).read_bytes())
    np.testing.assert_allclose(embed_images(["~/new.jpg"], emb), emb.features[[3]], atol=1e-4)
