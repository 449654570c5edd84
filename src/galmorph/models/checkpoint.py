"""Self-describing model files: save, find (name, path or Hugging Face hub) and load.

Every galmorph checkpoint carries a ``"galmorph"`` metadata dict beside its
weights, so a model file alone is enough to predict, embed or fine-tune:

``task`` (``"votes"``, ``"classification"``, ``"regression"``), ``encoder`` (timm
name), ``channels``, ``dropout``, ``schema`` (the decision tree, for vote models),
``classes`` (for classifiers), ``image`` (size, normalisation and the survey
conventions the model was trained on), ``training`` (data summary and split),
``vote_baseline`` (per-answer Dirichlet concentrations of the no-image baseline),
``questions_without_votes`` (schema questions the training catalog had no vote for)
and ``galmorph_version``.

Both Lightning checkpoints written during training and the compact files made by
:func:`save_model` (fp16 weights, used for shipped models) load with
:func:`load_model`.

Examples
--------
>>> from galmorph.models.checkpoint import resolve_model_path
>>> resolve_model_path("gz2-starter").name  # doctest: +SKIP
'gz2-starter.pt'
"""

from __future__ import annotations

import difflib
import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galmorph.data.image_config import ImageConfig
from galmorph.data.tree import Question, Schema
from galmorph.exceptions import ModelError
from galmorph.files import atomic_target
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.device import resolve_device
from galmorph.models.external import (
    CONFIG_FILE,
    ENCODER_TASK,
    WEIGHT_FILES,
    is_timm_folder,
    load_timm_encoder,
)
from galmorph.models.model import (
    LEGACY_MIN_CONCENTRATION,
    ConcentrationHead,
    GalaxyModel,
    LinearHead,
    create_encoder,
)

HUB_PREFIX = "hf_hub:"
HUB_FILENAME = "galmorph.pt"
FORMAT_VERSION = 1

#: Builds the head of a model from its metadata and the encoder's feature size.
HEAD_BUILDERS: dict[str, Callable[[dict[str, Any], int], nn.Module]] = {
    "votes": lambda meta, n_features: ConcentrationHead(
        n_features, Schema.from_dict(meta["schema"]).n_answers, meta.get("dropout", 0.2),
        meta.get("min_concentration", LEGACY_MIN_CONCENTRATION),
    ),
    "classification": lambda meta, n_features: LinearHead(
        n_features, len(meta["classes"]), meta.get("dropout", 0.2)
    ),
    "regression": lambda meta, n_features: LinearHead(
        n_features, 1, meta.get("dropout", 0.2), squash=meta.get("squash", False)
    ),
}


def shipped_models() -> dict[str, Path]:
    """Models shipped inside the package, by name."""
    folder = resources.files("galmorph") / "weights"
    if not folder.is_dir():
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".pt")}


def resolve_model_path(spec: str | Path | None) -> Path:
    """A local file for a model given by shipped name, path, or ``hf_hub:ORG/NAME``.

    ``hf_hub:`` models are downloaded once with huggingface_hub (file
    ``galmorph.pt`` in the repository, else a timm encoder's ``config.json`` and
    weights) and then read from its cache. An external timm encoder (see
    :mod:`galmorph.models.external`) resolves to its folder.
    """
    spec = DEFAULT_MODEL if spec is None else str(spec)
    if spec.startswith(HUB_PREFIX):
        return _download_from_hub(spec.removeprefix(HUB_PREFIX))
    shipped = shipped_models()
    if spec in shipped:
        return shipped[spec]
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if is_timm_folder(path):
        return path
    if path.is_dir():
        candidates = sorted(path.glob("*.pt")) + sorted(path.glob("best*.ckpt"))
        if candidates:
            return candidates[0]
        if (path / CONFIG_FILE).is_file():  # a timm encoder's folder, without its weights
            raise ModelError(f"{path} has timm's {CONFIG_FILE} but not the encoder's weights: "
                             f"add {' or '.join(WEIGHT_FILES)}")
        weights = [w for w in WEIGHT_FILES if (path / w).is_file()]
        if weights:  # a timm encoder's weights, without its config
            raise ModelError(f"{path} has {weights[0]} but not timm's {CONFIG_FILE}, which says "
                             "what architecture the weights are for: save the encoder with "
                             "timm's save_for_hf, or copy its config.json beside them")
        raise ModelError(f"no model file (*.pt or best*.ckpt) in folder {path}")
    names = ", ".join(sorted(shipped)) or "none installed"
    close = difflib.get_close_matches(str(spec), list(shipped), n=1, cutoff=0.7)
    if close:
        raise ModelError(f"model {spec!r} not found: did you mean the shipped {close[0]!r}?")
    raise ModelError(
        f"model {spec!r} not found: give a galmorph model file or folder, a timm-format "
        f"folder (config.json with model.safetensors or pytorch_model.bin), "
        f"{HUB_PREFIX}ORG/NAME, or a shipped model name ({names})"
    )


def _download_from_hub(repo_id: str) -> Path:
    """``galmorph.pt`` of a hub repository, else the folder of its timm encoder files."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    failures = (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError)
    cache_only = False

    def download(filename: str) -> Path:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename,
                                    local_files_only=cache_only))

    try:
        return download(HUB_FILENAME)
    except failures as err:
        galmorph_error = err
        # the hub could not be reached (after its retries): look in the cache only from now on
        cache_only = isinstance(err, LocalEntryNotFoundError)
    try:
        config = download(CONFIG_FILE)
    except failures:
        offline = ("; with no network here, download it where there is one "
                   f"(huggingface-cli download {repo_id} --local-dir FOLDER), copy FOLDER "
                   "here and give --model FOLDER") if cache_only else ""
        raise ModelError(
            f"could not get {HUB_FILENAME} (a galmorph model) or {CONFIG_FILE} (a timm "
            f"encoder) of {HUB_PREFIX}{repo_id} from the Hugging Face hub or its local cache: "
            f"{galmorph_error}{offline}"
        ) from None
    for weights in WEIGHT_FILES:
        try:
            download(weights)
            return config.parent
        except failures:
            continue
    raise ModelError(
        f"{HUB_PREFIX}{repo_id} has a timm {CONFIG_FILE} but neither {' nor '.join(WEIGHT_FILES)} "
        "could be read from the hub or its local cache"
    )


def weights_digest(model: nn.Module) -> str:
    """SHA-256 (hex) of a model's weights and buffers as they are now, wherever they are."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


@dataclass
class LoadedModel:
    """A model ready for inference, with the metadata that describes it.

    ``read_weights`` is the :func:`weights_digest` of ``model`` when
    :func:`load_model` read it, so that :meth:`changed_since_read` tells whether the
    file at ``path`` still describes it ("": not known, taken as unchanged).
    """

    model: GalaxyModel
    metadata: dict[str, Any]
    path: Path
    source: str = ""
    read_weights: str = field(default="", repr=False)

    def __repr__(self) -> str:
        """One line (the network's layers would fill a notebook cell): name, task, encoder
        and file."""
        return (f"LoadedModel(name={self.name!r}, task={self.task!r}, "
                f"encoder={self.metadata.get('encoder')!r}, path={str(self.path)!r})")

    def changed_since_read(self) -> bool:
        """Whether :attr:`model`'s weights or buffers were changed in memory since it was
        read: its file (and an ONNX export of it) no longer describes it."""
        return bool(self.read_weights) and weights_digest(self.model) != self.read_weights

    @property
    def task(self) -> str:
        return self.metadata["task"]

    @property
    def name(self) -> str:
        """The model's own name, else how it was asked for (hub id or path stem)."""
        if self.metadata.get("name"):
            return self.metadata["name"]
        return self.source if self.source.startswith(HUB_PREFIX) else self.path.stem

    @cached_property
    def schema(self) -> Schema | None:
        spec = self.metadata.get("schema")
        return Schema.from_dict(spec) if spec else None

    @property
    def questions_without_votes(self) -> list[str]:
        """Schema questions that had no training vote: the model never learnt them."""
        return list(self.metadata.get("questions_without_votes", []))

    @cached_property
    def learnt_schema(self) -> Schema | None:
        """The schema without :attr:`questions_without_votes` (same name; None without one)."""
        if self.schema is None or not self.questions_without_votes:
            return self.schema
        return self.schema.without(*self.questions_without_votes, name=self.schema.name)

    @property
    def learnt_questions(self) -> list[Question]:
        """The schema's questions that are not in :attr:`questions_without_votes`, in order."""
        if self.schema is None:
            return []
        unlearnt = set(self.questions_without_votes)
        return [q for q in self.schema.questions if q.name not in unlearnt]

    @property
    def learnt_answers(self) -> list[int]:
        """Positions in the schema's answer list of :attr:`learnt_schema`'s answers, in order."""
        return [a.index for q in self.learnt_questions for a in q.answers]

    @cached_property
    def image_config(self) -> ImageConfig:
        return ImageConfig.from_dict(self.metadata["image"])

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the model file (hex)."""
        with open(self.path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()

    def provenance(self) -> dict[str, str]:
        """Model name, galmorph version it was made with, and file checksum, as strings."""
        return {
            "galmorph_model": self.name,
            "galmorph_model_version": str(self.metadata.get("galmorph_version", "")),
            "galmorph_model_sha256": self.checksum,
        }


def build_model(metadata: dict[str, Any]) -> GalaxyModel:
    """An untrained :class:`GalaxyModel` with the architecture the metadata describes."""
    task = metadata.get("task")
    if task == ENCODER_TASK:
        raise ModelError("an external encoder is built from its own files (load_model)")
    if task not in HEAD_BUILDERS:
        raise ModelError(f"unknown model task {task!r} (known: {', '.join(HEAD_BUILDERS)})")
    encoder = create_encoder(metadata["encoder"], metadata["channels"])
    return GalaxyModel(encoder, HEAD_BUILDERS[task](metadata, encoder.num_features))


def _read_checkpoint(path: Path) -> Any:
    """A checkpoint's contents, read as tensors and plain data only (``weights_only``: a
    model file from elsewhere cannot run code).

    Raises:
        ModelError: in one line, for an ONNX export or a file that is not a checkpoint.
    """
    if path.suffix.lower() == ".onnx":
        raise ModelError(f"{path} is an ONNX export (galmorph export), which ONNX Runtime runs "
                         "(see the README); give galmorph the .pt model it was made from")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelError(f"{path} is empty (0 bytes), not a model: an interrupted download or "
                         "copy? fetch or copy it again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):  # torch suggests weights_only=False: unsafe
            raise ModelError(f"{path} is not a galmorph model: it holds Python objects besides "
                             "tensors and plain data, which galmorph does not unpickle (that "
                             "could run code)") from None
        raise ModelError(f"{path} is not a readable model checkpoint (corrupt, or another "
                         "kind of file)") from None
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        reason = (str(err).strip() or type(err).__name__).splitlines()[0].split(". ")[0]
        raise ModelError(f"{path} is not a readable model checkpoint: {reason}") from None


def load_model(
    spec: str | Path | None = None,
    device: str | torch.device = "cpu",
    image: dict[str, Any] | None = None,
) -> LoadedModel:
    """Load a model for inference (eval mode, float32) from a name, path or hub id.

    A galmorph model carries its own image settings. An external timm encoder
    (a folder, or a hub repository without ``galmorph.pt``; task ``encoder``, no
    head) takes them from its ``config.json``, and ``image`` (``size``, ``mean``,
    ``std``, ``channels``) fills or replaces them (see
    :func:`galmorph.models.external.image_settings`). ``device`` is resolved by
    :func:`galmorph.models.device.resolve_device` (``auto``, ``cpu``, ``cuda:N``...).

    Raises:
        GalmorphError: for an unknown or unavailable device, and ModelError for a
            model that cannot be found or read.
        TypeError: when ``spec`` is neither a name nor a path.
    """
    if spec is not None and not isinstance(spec, str | os.PathLike):
        model_path = getattr(spec, "model_path", None)
        hint = f" (this one's model_path, {str(model_path)!r})" if model_path else ""
        raise TypeError(f"a model is given by its name, file or folder{hint}, or loaded with "
                        f"load_model; not by a {type(spec).__name__}")
    device = resolve_device(device)
    source = str(spec or DEFAULT_MODEL)
    path = resolve_model_path(spec)
    if path.name in WEIGHT_FILES and is_timm_folder(path.parent):  # a recorded weights file
        path = path.parent
    if path.is_dir():
        model, metadata, weights = load_timm_encoder(path, source, image)
        return LoadedModel(model.to(device).eval(), metadata, weights, source,
                           weights_digest(model))
    payload = _read_checkpoint(path)
    metadata = payload.get("galmorph") if isinstance(payload, dict) else None
    if not metadata:
        raise ModelError(f"{path} is not a galmorph checkpoint (no 'galmorph' metadata)")
    model = build_model(metadata)
    state = {
        k.removeprefix("model."): v.float() if v.is_floating_point() else v
        for k, v in payload["state_dict"].items()
    }
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelError(f"weights in {path} do not match the model they describe: {err}") from None
    return LoadedModel(model.to(device).eval(), metadata, path, source, weights_digest(model))


def save_model(
    model: GalaxyModel, metadata: dict[str, Any], path: str | Path, half: bool = True
) -> Path:
    """Write a compact self-describing model file atomically (fp16 weights by default).

    A vote head's lower concentration bound is recorded as ``min_concentration``.
    """
    path = Path(path)
    if isinstance(model.head, ConcentrationHead):
        metadata = {**metadata, "min_concentration": model.head.min_concentration}
    state = {
        k: (v.half() if half and v.is_floating_point() else v).clone()
        for k, v in model.state_dict().items()
    }
    payload = {"galmorph": {**metadata, "format_version": FORMAT_VERSION}, "state_dict": state}
    with atomic_target(path) as tmp:
        torch.save(payload, tmp)
    return path
