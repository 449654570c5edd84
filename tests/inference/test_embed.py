"""Embedding a catalog (galmorph.inference.embed): file contents, orientations, stages,
bad options and resumable runs.

The tiny untrained model, demo galaxies and embeddings files come from
``tests/inference/conftest.py``: the checks are about bookkeeping (columns, metadata,
projection, resuming), not skill.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from galmorph.exceptions import GalmorphError, ModelError
from galmorph.inference import embed
from galmorph.inference.embed import embed_catalog, embed_to_file
from galmorph.inference.embeddings import METADATA_KEY, read_embeddings
from galmorph.inference.new_images import embed_images
from galmorph.inference.outputs import read_metadata
from galmorph.inference.resumable import parts_dir_for
from galmorph.models.checkpoint import load_model
from galmorph.models.model import StageFeatures

N_GALAXIES = 12  # galaxies of the catalog fixture
FAST = {"num_workers": 0, "progress": False, "batch_size": 5}


def test_embed_file_has_columns_dtypes_and_metadata(raw_file: Path, catalog: pd.DataFrame,
                                                    model_path: Path) -> None:
    table = pd.read_parquet(raw_file)
    features = [f"feat_{i}" for i in range(64)]  # test_convnext pools 64 features
    assert list(table.columns) == ["id_str", "ra", "dec", "file_loc", *features]
    assert (table[features].dtypes == np.float32).all()
    assert table["id_str"].tolist() == catalog["id_str"].tolist()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table["file_loc"])
    np.testing.assert_allclose(table["ra"], catalog["ra"])

    meta = read_metadata(raw_file)
    loaded_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert meta["galmorph_model_sha256"] == loaded_sha
    info = json.loads(meta[METADATA_KEY])
    assert info["model"]["sha256"] == loaded_sha
    assert info["model"]["path"] == str(model_path.resolve())
    assert info["encoder"] == "test_convnext"
    assert (info["feature_dim"], info["n_features"], info["pca"]) == (64, 64, None)
    assert info["views"] == 8  # the default: features independent of orientation
    assert info["image"]["size"] == 32
    assert not any(p.name.startswith(".") for p in raw_file.parent.iterdir())  # no temp files

    emb = read_embeddings(raw_file)
    assert emb.features.shape == (N_GALAXIES, 64) and emb.features.dtype == np.float32
    np.testing.assert_array_equal(emb.features, table[features].to_numpy())
    assert emb.has_coordinates and emb.row_of(catalog["id_str"][3]) == 3


def test_views_make_features_independent_of_orientation(catalog: pd.DataFrame,
                                                         model_path: Path, tmp_path: Path) -> None:
    image = np.asarray(Image.open(catalog["file_loc"][0]).convert("RGB"))
    turned = {"as-is": image, "rot90": np.rot90(image), "rot180": np.rot90(image, 2),
              "mirror": image[:, ::-1], "rot270-mirror": np.rot90(image, 3)[:, ::-1]}
    for name, pixels in turned.items():
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp_path / f"{name}.png")
    frame = pd.DataFrame({"id_str": list(turned), "file_loc": [str(tmp_path / f"{n}.png")
                                                               for n in turned]})
    features = {views: embed_catalog(frame, model_path, views=views, **FAST)
                .filter(like="feat_").to_numpy() for views in (1, 4, 8)}
    np.testing.assert_allclose(features[8], np.repeat(features[8][:1], 5, axis=0), atol=1e-5)
    np.testing.assert_allclose(features[4][:3], np.repeat(features[4][:1], 3, axis=0), atol=1e-5)
    assert np.abs(features[4][3] - features[4][0]).max() > 1e-3  # rotations only: mirror differs
    assert np.abs(features[1][1] - features[1][0]).max() > 1e-3  # one view: turning changes it
    with pytest.raises(GalmorphError, match="views must be one of 1, 4, 8"):
        embed_catalog(frame, model_path, views=2, **FAST)


def test_embed_without_coordinates(catalog: pd.DataFrame, model_path: Path) -> None:
    table = embed_catalog(catalog.drop(columns=["ra", "dec"]).head(3), model_path, **FAST)
    assert list(table.columns[:2]) == ["id_str", "file_loc"]


def test_stage_features_pool_earlier_stages_before_the_encoder_output(model_path: Path) -> None:
    encoder = load_model(model_path).model.encoder.eval()
    images = torch.rand(3, 3, 32, 32)
    seen: dict[int, torch.Tensor] = {}
    hooks = [encoder.stages[i].register_forward_hook(
        lambda _m, _i, out, i=i: seen.__setitem__(i, out)) for i in (0, 2)]
    with torch.no_grad():
        combined = StageFeatures(encoder, [2, 0])(images)
        for hook in hooks:
            hook.remove()
        # test_convnext stages have 24, 32, 48 and 64 channels
        assert combined.shape == (3, 24 + 48 + 64)
        np.testing.assert_allclose(combined[:, :24], seen[0].mean(dim=(2, 3)), atol=1e-6)
        np.testing.assert_allclose(combined[:, 24:72], seen[2].mean(dim=(2, 3)), atol=1e-6)
        np.testing.assert_allclose(combined[:, 72:], encoder(images), atol=1e-6)
    for bad in ([3], [-1], [1, 1]):
        with pytest.raises(ModelError, match="stages must be different numbers from 0 to 2"):
            StageFeatures(encoder, bad)


def test_stages_are_recorded_and_used_for_new_images(catalog: pd.DataFrame, model_path: Path,
                                                     raw_file: Path, tmp_path: Path) -> None:
    out = embed_to_file(catalog, tmp_path / "stages.parquet", model_path, stages=[1], pca=6,
                        **FAST)
    emb = read_embeddings(out)
    assert (emb.info.stages, emb.info.feature_dim, emb.info.n_features) == ((1,), 32 + 64, 6)
    raw = embed_catalog(catalog, model_path, stages=[1], **FAST).filter(like="feat_").to_numpy()
    np.testing.assert_allclose(raw[:, 32:], read_embeddings(raw_file).features, atol=1e-5)
    np.testing.assert_allclose(emb.features, emb.info.pca.transform(raw), atol=1e-4)
    assert emb.file_loc is not None
    vectors = embed_images([emb.file_loc[2], emb.file_loc[9]], emb)
    np.testing.assert_allclose(vectors, emb.features[[2, 9]], atol=1e-4)


def test_bad_pca_and_output_names(catalog: pd.DataFrame, model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(GalmorphError, match="pca \\(--pca\\) must be between 1 and 12"):
        embed_catalog(catalog, model_path, pca=13, **FAST)
    with pytest.raises(GalmorphError, match="parquet"):
        embed_to_file(catalog, tmp_path / "emb.csv", model_path, **FAST)
    pq.write_table(pa.table({"id_str": ["a"]}), tmp_path / "plain.parquet")
    with pytest.raises(GalmorphError, match="not a galmorph embeddings file"):
        read_embeddings(tmp_path / "plain.parquet")
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    with pytest.raises(GalmorphError, match=r"catalog.csv is not an embeddings file .*: "
                                            r"galmorph embed \S*catalog.csv -o EMB.parquet"):
        read_embeddings(tmp_path / "catalog.csv")
    (tmp_path / "model.pt").write_bytes(b"weights")  # not a catalog: embed would not take it
    with pytest.raises(GalmorphError, match=r"model.pt is not an embeddings file \(parquet, "
                                            r"from galmorph embed\)$"):
        read_embeddings(tmp_path / "model.pt")


def test_resume_skips_finished_chunks(catalog: pd.DataFrame, model_path: Path, tmp_path: Path,
                                      raw_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "emb.parquet"
    real = embed.run_over_images
    calls: list[int] = []

    def interrupted(frame: pd.DataFrame, *args: object, **kwargs: object) -> np.ndarray:
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(len(frame))
        return real(frame, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embed, "run_over_images", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed_to_file(catalog, out, model_path, resume=True, chunk_size=5, **FAST)
    parts = parts_dir_for(out)
    assert not out.exists() and len(list(parts.glob("rows-*.parquet"))) == 1

    calls.clear()
    counting = lambda frame, *a, **kw: calls.append(len(frame)) or real(frame, *a, **kw)  # noqa: E731
    monkeypatch.setattr(embed, "run_over_images", counting)
    embed_to_file(catalog, out, model_path, resume=True, chunk_size=5, **FAST)
    assert calls == [5, 2]  # rows 5-9 and 10-11; rows 0-4 were read back
    assert not parts.exists()
    emb = read_embeddings(out)
    assert emb.ids.tolist() == catalog["id_str"].tolist()  # none missing, none twice
    np.testing.assert_allclose(emb.features, read_embeddings(raw_file).features, atol=1e-5)


def test_resume_recomputes_parts_of_another_model(catalog: pd.DataFrame, model_path: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  make_model_file: Callable[..., Path]) -> None:
    parts = tmp_path / "parts"
    embed_catalog(catalog, model_path, parts_dir=parts, chunk_size=6, **FAST)
    calls: list[int] = []
    real = embed.run_over_images
    monkeypatch.setattr(embed, "run_over_images",
                        lambda frame, *a, **kw: calls.append(len(frame)) or real(frame, *a, **kw))
    embed_catalog(catalog, model_path, parts_dir=parts, chunk_size=6, **FAST)
    assert calls == []
    embed_catalog(catalog, model_path, parts_dir=parts, chunk_size=6, views=1, **FAST)
    assert calls == [6, 6]  # parts averaged over other orientations are not reused
    calls.clear()
    embed_catalog(catalog, make_model_file(tmp_path / "other.pt", seed=1), parts_dir=parts,
                  chunk_size=6, **FAST)
    assert calls == [6, 6]
