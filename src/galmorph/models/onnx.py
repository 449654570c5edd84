"""ONNX export of galmorph models, and an ONNX Runtime backend for predict and embed.

:func:`export_onnx` writes a model's encoder (``what="encoder"``: pooled features, the
representation of :func:`galmorph.inference.embed.embed_catalog`) or the whole model
(``what="full"``: vote concentrations, class logits or a regression value) to an ONNX file
with a dynamic batch dimension. The file is self-describing: its metadata
(``metadata_props``) holds the preprocessing contract and the model's full galmorph
metadata, so it is all another framework needs:

* ``galmorph``: the galmorph metadata JSON of the source model (see
  :mod:`galmorph.models.checkpoint`: task, encoder, schema, classes, image settings...);
* ``galmorph_export``: JSON with ``what``, ``input`` and ``output`` (tensor names),
  ``labels`` (output column names: answers, classes, ``prediction`` or ``feat_i``), the
  source model's provenance, opset and torch version;
* ``outputs`` (also ``meaning`` in ``galmorph_export``): what the output numbers are,
  e.g. class logits to apply a softmax to;
* ``preprocessing``: the preprocessing in words; ``image_size``, ``channels``, ``mean``,
  ``std`` (JSON lists) and ``centre_crop_fraction`` for programs;
* ``galmorph_model``, ``galmorph_model_version``, ``galmorph_model_sha256`` (of the
  source ``.pt`` file) and ``galmorph_version``.

The input is ``images``: ``float32 (batch, channels, size, size)`` made by
:func:`galmorph.data.transforms.eval_transform`; the output is ``outputs`` (full) or
``features`` (encoder), ``float32 (batch, n)``.

Export uses PyTorch's TorchScript-based exporter (``dynamo=False``): in torch 2.15 it needs
only ``onnx`` and exports convnext_atto several times faster than the ``torch.export``
(dynamo) exporter, which also needs ``onnxscript``; both give the same numbers.

:class:`OnnxModel` runs an exported file with ONNX Runtime's CPU execution provider as a
batch function (tensor in, tensor out), which is what :func:`galmorph.inference.loop.infer`
takes; :mod:`galmorph.models.onnx_backend` chooses it for predict and embed and keeps the
exports in a cache. ONNX Runtime and PyTorch agree to within :data:`ATOL` plus
:data:`RTOL` times the value on features and outputs (``tests/models/test_onnx.py``).

Examples
--------
>>> from galmorph.models.onnx import OnnxModel, export_onnx
>>> export_onnx("gz2-starter", "starter.onnx", what="encoder")  # doctest: +SKIP
PosixPath('starter.onnx')
>>> OnnxModel("starter.onnx").metadata["image"]["size"]  # doctest: +SKIP
128
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galmorph import __version__
from galmorph.data.image_config import ImageConfig
from galmorph.exceptions import GalmorphError, ModelError
from galmorph.files import atomic_target, user_path
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.defaults import WHATS
from galmorph.models.external import ENCODER_TASK

#: ONNX opset of exported files.
OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAMES = {"full": "outputs", "encoder": "features"}
#: ONNX metadata key of the source model's galmorph metadata (JSON).
METADATA_KEY = "galmorph"
#: ONNX metadata key of the export description (JSON).
EXPORT_KEY = "galmorph_export"
#: Largest absolute difference between ONNX Runtime and PyTorch accepted by the parity
#: tests, on encoder features and on model outputs (concentrations in up to ~100, logits).
#: Measured with the starter model on 256 bundled galaxies: 3e-6 on features, 4e-5 on
#: concentrations (a few float32 steps at ~100).
ATOL = 1e-4
#: Relative part of that tolerance: the EfficientNet-Lite0 starter's concentrations (up to
#: ~100) differ by up to 1.4e-5 of their value (3e-4 absolute) on 8 bundled galaxies,
#: float32 rounding of the two runtimes' convolutions.
RTOL = 2e-5
#: Most images one ONNX Runtime call is given: larger batches are run in parts of this
#: size, since its memory grows with the batch it is given (the starter's activations,
#: about 8 MB an image at 128 px) and its speed does not. Measured on the 630 bundled
#: galaxies (2 cores, default batch of 128): ``galmorph predict`` peaked at 1.4 GB
#: instead of 2.2 (22-23 s, as before), ``embed`` at 1.3 GB instead of 2.1 (25 s), the
#: same outputs to the bit.
MAX_RUN_IMAGES = 32


# ------------------------------------------------------------------ export
def output_labels(metadata: dict[str, Any], what: str, n_outputs: int) -> list[str]:
    """Names of the output columns: answers (votes), classes, ``prediction`` or ``feat_i``."""
    if what == "encoder":
        return [f"feat_{i}" for i in range(n_outputs)]
    task = metadata["task"]
    if task == "votes":
        from galmorph.data.tree import Schema

        return [a.full_name for a in Schema.from_dict(metadata["schema"]).answers]
    if task == "classification":
        return [str(c) for c in metadata["classes"]]
    return ["prediction"]


def output_meaning(metadata: dict[str, Any], what: str) -> str:
    """What the output numbers are, in words, how to turn them into answers, and how to
    average them over orientations as galmorph predict and embed do by default."""
    job = "embed" if what == "encoder" else "predict"
    views = (f"; one pass over an image matches galmorph {job} --views 1: its default "
             "(--views 8) averages the outputs over the image's 4 right-angle rotations, "
             "each also mirrored left-right (numpy: np.rot90(images, k, axes=(2, 3)) for k "
             "in 0..3, and each of those [..., ::-1])")
    if what == "encoder":
        return ("pooled encoder features, the representation (galmorph embed's feat_i "
                "columns)" + views)
    task = metadata["task"]
    if task == "votes":
        return ("Dirichlet concentrations, one per answer (labels): a question's expected vote "
                "fractions are its answers' concentrations divided by their sum" + views
                + ", before dividing")
    if task == "classification":
        return ("class logits, one per class (labels): apply a softmax over them for the "
                "class probabilities (galmorph predict's prob_<class> columns)" + views
                + ", before the softmax")
    return "the predicted value (galmorph predict's prediction column)" + views


def preprocessing_text(config: ImageConfig) -> str:
    """The preprocessing an exported model expects, in words."""
    source = ", ".join(p for p in (f"{config.survey} {config.bands}".strip(), config.stretch) if p)
    channels = ("colour images made grey by ITU-R BT.601 luminance, as floats"
                if config.channels == 1 else "grey images repeated in 3 channels")
    crop = config.eval_crop_fraction
    return (
        f"8-bit images{f' ({source})' if source else ''} scaled to [0, 1] (FITS files: "
        f"galmorph.data.images.asinh_stretch first); {channels}; square centre crop of "
        f"{crop:g} of the shorter side S: the centred S x S square (offsets (width - S) // 2, "
        f"(height - S) // 2), then its centre C x C, C = round({crop:g} S), at offset "
        "round((S - C) / 2) in it (halves to even); antialiased bilinear resize to "
        f"{config.size}x{config.size} of the pixel values as floats (rounding them to 8 bits "
        "after resizing changes the outputs well beyond float precision); subtract mean "
        f"{list(config.mean)} and divide by std {list(config.std)} per channel; float32 NCHW "
        f"(batch, {config.channels}, {config.size}, {config.size}), any batch size"
    )


def _properties(
    loaded: LoadedModel, what: str, n_outputs: int, stages: Sequence[int] = ()
) -> dict[str, str]:
    """The ONNX ``metadata_props`` of an export (all values strings)."""
    config = loaded.image_config
    export = {
        "what": what,
        "stages": sorted(stages),
        "input": INPUT_NAME,
        "output": OUTPUT_NAMES[what],
        "labels": output_labels(loaded.metadata, what, n_outputs),
        "meaning": output_meaning(loaded.metadata, what),
        "source": loaded.provenance(),
        "opset": OPSET,
        "torch_version": torch.__version__,
    }
    return {
        METADATA_KEY: json.dumps(loaded.metadata, sort_keys=True),
        EXPORT_KEY: json.dumps(export, sort_keys=True),
        "preprocessing": preprocessing_text(config),
        "outputs": output_meaning(loaded.metadata, what),
        "image_size": str(config.size),
        "channels": str(config.channels),
        "mean": json.dumps(list(config.mean)),
        "std": json.dumps(list(config.std)),
        "centre_crop_fraction": str(config.eval_crop_fraction),
        **loaded.provenance(),
        "galmorph_version": __version__,
    }


def export_onnx(
    model: LoadedModel | str | Path | None, output: str | Path, *, what: str = "full",
    stages: Sequence[int] = (),
) -> Path:
    """Export a galmorph model to a self-describing ONNX file, written atomically.

    Args:
        model: a :class:`LoadedModel`, or a name, path or ``hf_hub:ORG/NAME``
            (None: the shipped default).
        output: the ``.onnx`` file to write.
        what: ``"full"`` (the model's outputs) or ``"encoder"`` (pooled features).
        stages: with ``"encoder"``, earlier stages whose pooled features come first
            (:class:`galmorph.models.model.StageFeatures`).

    Returns:
        ``output`` as a Path, ``~`` expanded.

    Raises:
        GalmorphError: for an unknown ``what``, ``stages`` with ``"full"``, or ``"full"``
            with an encoder that has no head (an external timm encoder).
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model, "cpu")
    data = onnx_bytes(loaded, what, stages)
    with atomic_target(output) as tmp:
        tmp.write_bytes(data)
    return user_path(output)


def onnx_bytes(loaded: LoadedModel, what: str = "full", stages: Sequence[int] = ()) -> bytes:
    """The ONNX file :func:`export_onnx` writes, in memory."""
    import onnx

    if what not in WHATS:
        raise GalmorphError(f"--what must be one of {', '.join(WHATS)}, got {what!r}")
    if stages and what != "encoder":
        raise GalmorphError("stages are features of the encoder: export with what='encoder' "
                            "(--what encoder)")
    if what == "full" and loaded.task == ENCODER_TASK:
        raise GalmorphError(f"{loaded.name} is an encoder without a head: its outputs are its "
                            "features, export them with what='encoder' (--what encoder)")
    network = loaded.model if what == "full" else loaded.model.embedder(stages)
    config = loaded.image_config
    parameter = next(loaded.model.parameters())
    example = torch.zeros(2, config.channels, config.size, config.size, device=parameter.device)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(  # traced in eval mode (dropout off), the exporter's default
            network, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAMES[what]],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[what]: {0: "batch"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    n_outputs = proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    onnx.helper.set_model_props(proto, _properties(loaded, what, n_outputs, stages))
    proto.doc_string = f"galmorph {loaded.name} ({what}). Input: {preprocessing_text(config)}."
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


# ----------------------------------------------------------------- runtime
class OnnxModel:
    """An exported galmorph model run by ONNX Runtime (CPU execution provider).

    Calling it maps a batch of images (tensor ``(batch, channels, size, size)``) to
    a ``float32`` CPU tensor ``(batch, n)``, like the PyTorch model it came from.

    Attributes:
        path: the ``.onnx`` file (with ``data``, the file's bytes, only its name).
        metadata: the source model's galmorph metadata.
        export: the export description (``what``, ``labels``, ``source``...).

    Raises:
        ModelError: when the file is not an ONNX model exported by galmorph.
    """

    def __init__(self, path: str | Path, data: bytes | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        # Idle threads sleep instead of spinning, leaving the cores to the loader workers
        # decoding the next batches: on 2 cores, predict at 96 px went from 0.6x to 0.76x
        # the model's own rate, which is unchanged (benchmarks/bench_model.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # As many threads as torch: one in a Dask worker (OMP_NUM_THREADS=1), which ONNX
        # Runtime ignores, otherwise starting a thread per core in every worker.
        options.intra_op_num_threads = torch.get_num_threads()
        try:
            source = str(self.path) if data is None else data
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types for bad files
            raise ModelError(f"{self.path} is not a readable ONNX model: {err}") from None
        properties = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in properties or EXPORT_KEY not in properties:
            raise ModelError(f"{self.path} is not a galmorph ONNX export (no galmorph metadata)")
        try:
            self.metadata: dict[str, Any] = json.loads(properties[METADATA_KEY])
            self.export: dict[str, Any] = json.loads(properties[EXPORT_KEY])
            if not (isinstance(self.metadata, dict) and isinstance(self.export, dict)):
                raise ValueError("not JSON objects")
        except ValueError as err:
            raise ModelError(f"{self.path} has unreadable galmorph metadata: {err}") from None

    @property
    def what(self) -> str:
        """``"full"`` or ``"encoder"``."""
        return self.export["what"]

    @property
    def image_config(self) -> ImageConfig:
        return ImageConfig.from_dict(self.metadata["image"])

    def run(self, images: np.ndarray) -> np.ndarray:
        """Outputs ``(batch, n)`` of ``float32`` images ``(batch, channels, size, size)``
        (run :data:`MAX_RUN_IMAGES` at a time)."""
        images = np.ascontiguousarray(images, np.float32)
        parts = [self.session.run(None, {INPUT_NAME: images[start:start + MAX_RUN_IMAGES]})[0]
                 for start in range(0, max(len(images), 1), MAX_RUN_IMAGES)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(images.detach().cpu().numpy()))


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The galmorph metadata of the model an ONNX file was exported from."""
    return OnnxModel(path).metadata
