"""Model files (galmorph.models.checkpoint): save/load, fp16 storage, Lightning checkpoints,
finding a model by name, path, folder or Hugging Face hub id, and clear errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import LocalEntryNotFoundError

from galmorph.data.schemas import get_schema
from galmorph.exceptions import ModelError
from galmorph.models import checkpoint
from galmorph.models.checkpoint import (
    FORMAT_VERSION,
    HUB_FILENAME,
    LoadedModel,
    build_model,
    load_model,
    resolve_model_path,
    save_model,
)
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.training.train import TrainResult

IMAGES = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def trained(tiny_model: TrainResult) -> TrainResult:
    """The session's throwaway model (conftest): one epoch, 32 px, gz2-no-odd."""
    return tiny_model


@pytest.fixture(scope="module")
def compact(trained: TrainResult) -> LoadedModel:
    return load_model(trained.model_path)


def _outputs(loaded: LoadedModel) -> torch.Tensor:
    with torch.no_grad():
        return loaded.model(IMAGES)


# ------------------------------------------------------------- save and load
def test_compact_file_stores_fp16_and_loads_as_float32(
    trained: TrainResult, compact: LoadedModel
) -> None:
    payload = torch.load(trained.model_path, map_location="cpu", weights_only=False)
    floats = [v for v in payload["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert payload["galmorph"]["format_version"] == FORMAT_VERSION
    assert all(p.dtype == torch.float32 for p in compact.model.parameters())
    assert not compact.model.training
    assert compact.task == "votes" and compact.name == "tiny"
    assert compact.schema == get_schema("gz2-no-odd")
    assert compact.image_config.size == 32
    assert len(compact.metadata["vote_baseline"]) == get_schema("gz2-no-odd").n_answers


def test_lightning_checkpoint_loads_like_the_compact_file(
    trained: TrainResult, compact: LoadedModel
) -> None:
    lightning = load_model(trained.best_checkpoint)
    assert lightning.metadata["name"] == "tiny"
    assert lightning.schema == compact.schema
    # the compact file holds the best checkpoint's weights, rounded to fp16
    torch.testing.assert_close(_outputs(lightning), _outputs(compact), rtol=2e-3, atol=2e-2)
    assert load_model(trained.last_checkpoint).task == "votes"


def test_full_precision_round_trip_is_exact(tmp_path: Path, compact: LoadedModel) -> None:
    path = save_model(compact.model, compact.metadata, tmp_path / "deep" / "exact.pt", half=False)
    again = load_model(path)
    for (name, a), (_, b) in zip(
        compact.model.state_dict().items(), again.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    torch.testing.assert_close(_outputs(again), _outputs(compact), rtol=0, atol=0)
    assert again.metadata["training"] == compact.metadata["training"]
    assert [p.name for p in path.parent.iterdir()] == ["exact.pt"]  # no temporary left


def test_provenance(compact: LoadedModel, trained: TrainResult) -> None:
    digest = hashlib.sha256(trained.model_path.read_bytes()).hexdigest()
    assert compact.checksum == digest
    assert compact.provenance() == {
        "galmorph_model": "tiny",
        "galmorph_model_version": compact.metadata["galmorph_version"],
        "galmorph_model_sha256": digest,
    }


def test_name_falls_back_to_the_file_stem(tmp_path: Path, compact: LoadedModel) -> None:
    path = save_model(compact.model, {**compact.metadata, "name": None}, tmp_path / "mine.pt")
    assert load_model(path).name == "mine"


# ---------------------------------------------------------------- finding
def test_paths_and_folders(tmp_path: Path, trained: TrainResult) -> None:
    assert resolve_model_path(trained.model_path) == trained.model_path
    assert resolve_model_path(str(trained.model_path)) == trained.model_path
    # a training folder: its compact model.pt comes before the checkpoints
    assert resolve_model_path(trained.output_dir) == trained.model_path
    only_ckpt = tmp_path / "ckpts"
    only_ckpt.mkdir()
    shutil.copy(trained.best_checkpoint, only_ckpt / "best.ckpt")
    shutil.copy(trained.last_checkpoint, only_ckpt / "last.ckpt")
    assert resolve_model_path(only_ckpt) == only_ckpt / "best.ckpt"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no model file"):
        resolve_model_path(empty)
    (empty / "config.json").write_text('{"architecture": "convnext_nano"}')
    with pytest.raises(ModelError, match="has timm's config.json but not the encoder's "
                       "weights: add model.safetensors or pytorch_model.bin"):
        resolve_model_path(empty)


def test_shipped_names(monkeypatch: pytest.MonkeyPatch, trained: TrainResult) -> None:
    monkeypatch.setattr(checkpoint, "shipped_models", lambda: {"tiny": trained.model_path})
    assert resolve_model_path("tiny") == trained.model_path
    assert load_model("tiny").name == "tiny"
    with pytest.raises(ModelError, match="'tiyn' not found: did you mean the shipped 'tiny'"):
        resolve_model_path("tiyn")


def test_unknown_names_and_missing_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "shipped_models", dict)
    expected = r"'gz3-huge' not found.*timm-format.*hf_hub:ORG/NAME.*none installed"
    with pytest.raises(ModelError, match=expected):
        resolve_model_path("gz3-huge")
    with pytest.raises(ModelError, match=repr(DEFAULT_MODEL)):
        load_model(None)


def test_hub_download(monkeypatch: pytest.MonkeyPatch, trained: TrainResult) -> None:
    calls = []

    def fake_download(repo_id: str, filename: str, **kwargs: object) -> str:
        calls.append((repo_id, filename))
        return str(trained.model_path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    assert load_model("hf_hub:galmorph/gz2-tiny").name == "tiny"
    assert calls == [("galmorph/gz2-tiny", HUB_FILENAME)]

    tries = []

    def offline(repo_id: str, filename: str, **kwargs: object) -> str:
        tries.append((filename, kwargs.get("local_files_only", False)))
        raise LocalEntryNotFoundError("not in the cache and no connection")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(ModelError, match=r"hf_hub:galmorph/gz2-tiny.*no connection"):
        resolve_model_path("hf_hub:galmorph/gz2-tiny")
    # once the hub is out of reach (after huggingface_hub's own retries, ~20 s), the
    # timm files are looked for in the cache only, not retried over the network
    assert tries == [(HUB_FILENAME, False), ("config.json", True)]


def test_hub_cache_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: TrainResult
) -> None:
    # the layout huggingface_hub leaves after a download, read with HF_HUB_OFFLINE=1
    repo = tmp_path / "hub" / "models--galmorph--gz2-tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    shutil.copy(trained.model_path, snapshot / HUB_FILENAME)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variables once, at import: mirror them
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    assert resolve_model_path("hf_hub:galmorph/gz2-tiny") == snapshot / HUB_FILENAME
    assert load_model("hf_hub:galmorph/gz2-tiny").task == "votes"
    with pytest.raises(ModelError, match="hf_hub:galmorph/other"):
        resolve_model_path("hf_hub:galmorph/other")


# ------------------------------------------------------------------ bad files
class _Payload:
    """A pickled object: what a model file could hide code in."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this ran while the file was read",))


def test_a_model_file_is_read_without_running_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, load_model unpickled anything (weights_only=False)."""
    hostile = tmp_path / "shared.pt"
    torch.save({"galmorph": {"task": "votes"}, "state_dict": {}, "x": _Payload()}, hostile)
    with pytest.raises(ModelError, match=r"shared\.pt is not a galmorph model: it holds Python "
                                         r"objects besides tensors and plain data"):
        load_model(hostile)
    assert "this ran" not in capsys.readouterr().out


def test_an_onnx_export_given_as_model_says_what_it_is(tmp_path: Path) -> None:
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"\x08\x08\x12\x07pytorch")
    with pytest.raises(ModelError, match=r"model\.onnx is an ONNX export \(galmorph export\), "
                                         r"which ONNX Runtime runs"):
        load_model(exported)


def test_timm_weights_without_their_config_name_the_config(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ModelError, match=r"has model\.safetensors but not timm's config\.json"):
        load_model(tmp_path)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_text("this is not a model\n")
    with pytest.raises(ModelError, match=r"junk\.pt is not a readable model checkpoint"):
        load_model(junk)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ModelError, match=r"empty\.pt is empty \(0 bytes\), not a model"):
        load_model(tmp_path / "empty.pt")
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(ModelError, match="not a galmorph checkpoint"):
        load_model(plain)


def test_weights_that_do_not_match(tmp_path: Path, compact: LoadedModel) -> None:
    other = get_schema("gz2")
    wrong = {**compact.metadata, "schema": other.to_dict()}  # 37 answers, weights for 28
    path = tmp_path / "wrong.pt"
    torch.save({"galmorph": wrong, "state_dict": compact.model.state_dict()}, path)
    with pytest.raises(ModelError, match="do not match"):
        load_model(path)


def test_unknown_task(tmp_path: Path, compact: LoadedModel) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"galmorph": {**compact.metadata, "task": "segmentation"}, "state_dict": {}}, path)
    with pytest.raises(ModelError, match="unknown model task 'segmentation'"):
        load_model(path)
    with pytest.raises(ModelError, match="unknown model task"):
        build_model({"task": None})


def test_loaded_model_without_schema(compact: LoadedModel) -> None:
    other = LoadedModel(compact.model, {**compact.metadata, "schema": None}, compact.path)
    assert other.schema is None


def test_a_model_given_as_something_else_is_a_type_error_with_a_hint() -> None:
    from types import SimpleNamespace

    with pytest.raises(TypeError, match=r"name, file or folder, or loaded .*not by a int"):
        load_model(42)  # type: ignore[arg-type]
    result = SimpleNamespace(model_path=Path("runs/rings/model.pt"))  # as train, finetune give
    with pytest.raises(TypeError, match=r"this one's model_path, 'runs/rings/model.pt'.*"
                                        r"not by a SimpleNamespace"):
        load_model(result)  # type: ignore[arg-type]
