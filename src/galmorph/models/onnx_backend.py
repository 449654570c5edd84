"""Which backend runs a model's inference, and the cache of its ONNX exports.

:func:`resolve_backend` turns ``backend="auto"`` (the default of predict, embed and
evaluate) into ``"onnx"`` (ONNX Runtime, faster on the CPU) or ``"torch"``;
:func:`resolve_model_backend` also keeps a model changed in memory in PyTorch, as
ONNX Runtime runs an export of its *file*. :func:`cached_onnx_model` exports a loaded
model once into :func:`cache_dir` (:func:`galmorph.models.onnx.export_onnx`) and runs
it with :class:`galmorph.models.onnx.OnnxModel`.

Example:
    >>> import torch
    >>> resolve_backend("auto", torch.device("cuda"))
    'torch'
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from galmorph import __version__
from galmorph.exceptions import GalmorphError, GalmorphWarning, ModelError
from galmorph.files import atomic_target
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.defaults import BACKENDS
from galmorph.models.onnx import OPSET, OnnxModel, onnx_bytes

#: Whether ``backend="auto"`` picks ONNX Runtime on the CPU, from ``benchmarks/bench_onnx.py``
#: (embed images/s, data loading included): on 2 shared CPU cores, gz2-starter (128 px) on
#: the 630 bundled galaxies ran at 212.8 images/s with ONNX Runtime and 52.4 with PyTorch
#: (best of 3, one view), features within 2.1e-5.
ONNX_FASTER_ON_CPU = True
#: Environment variable naming the folder of on-the-fly exports.
CACHE_ENV = "GALMORPH_ONNX_CACHE"


def resolve_model_backend(
    backend: str, loaded: LoadedModel, device: torch.device, mc_samples: int = 1, *,
    distributed: bool = False,
) -> str:
    """:func:`resolve_backend` for ``loaded``: ONNX Runtime runs an export of the model
    *file*, so a model whose weights were changed in memory since it was read
    (:meth:`~galmorph.models.checkpoint.LoadedModel.changed_since_read`) runs in PyTorch
    with ``"auto"``.

    Raises:
        GalmorphError: as :func:`resolve_backend`, and for ``"onnx"`` with such a model.
    """
    resolved = resolve_backend(backend, device, mc_samples, distributed=distributed)
    if resolved == "onnx" and loaded.changed_since_read():
        if backend == "onnx":
            raise GalmorphError(
                f"{loaded.name} was changed in memory since it was read from {loaded.path}, "
                "and ONNX Runtime would run the file's weights: save it first "
                "(galmorph.models.checkpoint.save_model), or use backend='torch'")
        return "torch"
    return resolved


def cache_dir() -> Path:
    """Folder of on-the-fly exports: ``$GALMORPH_ONNX_CACHE``, else
    ``$XDG_CACHE_HOME/galmorph/onnx`` (default ``~/.cache/galmorph/onnx``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "galmorph" / "onnx"


def cached_onnx_model(
    loaded: LoadedModel, what: str = "full", stages: Sequence[int] = ()
) -> OnnxModel:
    """An :class:`OnnxModel` of a loaded model, exported once into :func:`cache_dir`.

    The cached file is named by the model file's SHA-256, ``what`` (with any ``stages``),
    the input size (an external encoder's can be chosen), the opset and galmorph's version
    (whose model code it holds); it is exported again when unreadable or of another model.
    Where the folder cannot be written (read-only, full), the export runs from memory.
    """
    part, config = what + "".join(f"-s{s}" for s in sorted(stages)), loaded.image_config
    size = f"{config.channels}x{config.size}px-opset{OPSET}-v{__version__}"
    path = cache_dir() / f"{loaded.checksum[:32]}-{part}-{size}.onnx"
    if path.is_file():
        try:
            cached = OnnxModel(path)
        except ModelError:
            pass
        else:
            if (cached.export.get("source") or {}).get("galmorph_model_sha256") == loaded.checksum:
                return cached
    data = onnx_bytes(loaded, what, stages)
    try:
        with atomic_target(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        warnings.warn(f"cannot keep the ONNX export of {loaded.name} in {path.parent} ("
                      f"{err.strerror or err}): it is made again on every run; set {CACHE_ENV} "
                      "to a writable folder", GalmorphWarning, stacklevel=2)
    return OnnxModel(path, data)  # from memory: the file just written need not be read back


def onnxruntime_available() -> bool:
    """Whether the ``onnxruntime`` package can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(
    backend: str, device: torch.device, mc_samples: int = 1, *, distributed: bool = False
) -> str:
    """``"torch"`` or ``"onnx"`` for a backend option and a resolved device.

    ``"auto"`` is ONNX Runtime when it is installed and :data:`ONNX_FASTER_ON_CPU`,
    for inference on the CPU, in one process (not ``distributed``), without MC
    dropout; else PyTorch (always on a GPU).

    Raises:
        GalmorphError: for an unknown backend, or ``"onnx"`` with MC dropout or on
        a device other than the CPU.
    """
    if backend not in BACKENDS:
        raise GalmorphError(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
    if backend == "auto":
        use_onnx = (
            ONNX_FASTER_ON_CPU and device.type == "cpu" and mc_samples == 1 and not distributed
        )
        return "onnx" if use_onnx and onnxruntime_available() else "torch"
    if backend == "onnx":
        if mc_samples > 1:
            raise GalmorphError(
                "MC-dropout sampling (mc_samples above 1, --mc-samples) is a feature of the "
                'PyTorch backend: use backend="torch" (--backend torch)'
            )
        if device.type != "cpu":
            raise GalmorphError(
                f'the onnx backend runs on the CPU, not {device}: pass device="cpu" (--device '
                'cpu), or use backend="torch" (--backend torch)'
            )
    return backend
