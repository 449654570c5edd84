"""The inference loop: a model's outputs for every image of a catalog, in catalog order.

:func:`infer` applies a batch function to the images of a predict loader
(:func:`~galmorph.data.galaxy_dataset.predict_loader`, whose worker processes decode
images while the model computes) and puts the rows back in catalog order;
:func:`run_over_images` does so for the rows of a catalog table.
:func:`model_outputs` gives a loaded model's raw outputs ``(N, n_outputs, S)``,
with ``S`` MC-dropout samples (:func:`sample_outputs`), averaged over orientations,
in PyTorch or ONNX Runtime, in one process or shared between several
(:class:`~galmorph.inference.distributed.DistributedInference`).
:func:`check_image_conventions` compares the first images of a catalog with the
images a model was trained on.

Examples
--------
>>> from torch.utils.data import DataLoader
>>> data = [{"image": torch.full((3, 2, 2), float(i)), "index": i} for i in range(3)]
>>> loader = DataLoader(data, batch_size=2)
>>> infer(loader, lambda images: images.mean((1, 2, 3)), torch.device("cpu"), progress=False)
array([0., 1., 2.], dtype=float32)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from galmorph.data.galaxy_dataset import batch_finisher, galaxy_named, predict_loader
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import ASINH_STRETCH, is_fits, load_image, reduced_depth
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphError, GalmorphWarning, ImageError
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE
from galmorph.inference.progress import progress_bar
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.model import GalaxyModel, enable_mc_dropout
from galmorph.models.onnx_backend import cached_onnx_model, resolve_model_backend

if TYPE_CHECKING:
    from galmorph.inference.distributed import DistributedInference

#: Images at the top of a catalog checked against the model's conventions.
CONVENTION_CHECKS = 3

#: Unreadable images whose reason a warning gives (:func:`unreadable_message`).
SHOWN_UNREADABLE = 5

Forward = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------ image conventions
def _source_channels(config: ImageConfig) -> int:
    """Channels of the images a model was trained on (a grey model may read colour files)."""
    if config.channels == 3 or len(config.bands) == 3:
        return 3
    return 1


def check_image_conventions(
    catalog: pd.DataFrame, config: ImageConfig, model_name: str = "the model",
    skip_unreadable: bool = False,
) -> list[str]:
    """Differences between a catalog's first images and those a model was trained on.

    Compares the size of the first :data:`CONVENTION_CHECKS` images of a loaded
    catalog (absolute ``file_loc``) with ``field_of_view / pixel_scale`` (when the
    model records both) and their channel count with the model's source images, tells
    16-bit colour files that are read at 8 bits (:func:`reduced_depth`), and FITS files
    for a model that learnt images stretched otherwise than galmorph stretches FITS.

    Returns:
        One message per kind of difference (empty when all agree).

    Raises:
        ImageError: naming the galaxy (``id_str``) whose image cannot be read (unless
            ``skip_unreadable``: such images are passed over).
    """
    expected_side = (
        round(config.field_of_view / config.pixel_scale)
        if config.field_of_view and config.pixel_scale
        else None
    )
    survey = f"{config.survey} {config.bands}".strip()
    trained_on = f"{survey} images" if survey else "images"
    channels = _source_channels(config)
    messages: dict[str, str] = {}
    head = catalog.head(CONVENTION_CHECKS)
    galaxies = head["id_str"] if "id_str" in head else [None] * len(head)
    for path, galaxy in zip(head["file_loc"], galaxies, strict=True):
        try:
            with galaxy_named(galaxy):
                height, width, have = load_image(path, config.bands).shape
        except ImageError:
            if skip_unreadable:
                continue  # left out, with a warning, when the images are read
            raise
        if expected_side is not None and (height, width) != (expected_side, expected_side):
            messages.setdefault(
                "size",
                f"{path} is {width}x{height} px, but {model_name} was trained on "
                f"{expected_side}x{expected_side} px {trained_on} "
                f"({config.field_of_view:g} arcsec across at {config.pixel_scale:g} "
                "arcsec/px): cut images to the same field of view and pixel scale, or "
                "adapt the model to them (galmorph adapt CATALOG -o adapted.pt, then "
                "--model adapted.pt), or predictions may be unreliable",
            )
        if reduced_depth(path):
            messages.setdefault(
                "depth",
                f"{path} stores colour at 16 bits per channel, which is read at 8 (Pillow "
                "keeps the top 8 bits of colour PNG and TIFF): faint, linear data looks "
                "black; save such images as FITS, which is read whole and stretched",
            )
        if is_fits(path) and config.stretch and config.stretch != ASINH_STRETCH:
            messages.setdefault(
                "stretch",
                f"{path} is FITS, which galmorph stretches itself ({ASINH_STRETCH}), but "
                f"{model_name} learnt images stretched otherwise ({config.stretch}): its "
                "answers for the same galaxy differ (gz2-starter: vote fractions by 0.14 on "
                "average between SDSS JPEGs and FITS made from them); adapt the model to "
                "your FITS images first (galmorph adapt CATALOG -o adapted.pt, then --model "
                "adapted.pt: 0.04)",
            )
        if have != channels:
            messages.setdefault(
                "channels",
                f"{path} has {have} channel{'s' if have > 1 else ''}, but {model_name} was "
                f"trained on {channels}-channel {trained_on}: it is converted "
                f"({'luminance' if channels == 1 else 'grey repeated in 3 channels'}), "
                "but predictions may be unreliable",
            )
    return list(messages.values())


# ------------------------------------------------------------------ inference
def _start_copy(values: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
    """Start copying ``values`` to the CPU as ``float32``; on a GPU, asynchronously
    (into pinned memory) with an event that marks the copy's end."""
    values = values.float()
    if values.device.type != "cuda":
        return values.cpu(), None
    host = values.to("cpu", non_blocking=True)
    done = torch.cuda.Event()
    done.record(torch.cuda.current_stream(values.device))
    return host, done


def infer(
    loader: DataLoader,
    forward: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    *,
    channels_last: bool = False,
    progress: bool = True,
    description: str = "Predicting",
    unreadable: list[str] | None = None,
) -> np.ndarray:
    """Apply ``forward`` to the images of every batch; rows come back in catalog order.

    Runs under :func:`torch.inference_mode`, and on CUDA GPUs that support it in
    bfloat16 mixed precision (vote heads compute in float32; outputs are
    float32). The model's mode (eval, MC dropout) is the caller's business.
    Batches of ``uint8`` crops are finished on ``device`` first
    (:func:`~galmorph.data.galaxy_dataset.batch_finisher`). On a GPU the outputs
    of one batch are copied back while the next batch computes, so the GPU does
    not wait for the loader.

    Batches with ``unreadable`` messages (a loader with ``skip_unreadable``) leave
    those rows NaN, and one warning names their galaxies; or the messages are added
    to ``unreadable``, when given, for a caller to warn of once for many calls.

    Args:
        loader: batches of ``image`` and ``index`` (row in the catalog), e.g.
            :func:`~galmorph.data.galaxy_dataset.predict_loader`.
        forward: maps a batch of images on ``device`` to a tensor ``(batch, ...)``.
        device: where the images go.
        channels_last: give images in channels-last memory format (fast convolutions
            on GPUs, with a model converted to it).
        progress: show a progress bar on stderr.
        description: label of the progress bar.
        unreadable: where the messages of unreadable images go instead of a warning.

    Returns:
        ``float32`` array ``(len(loader.dataset), ...)``; row ``i`` is catalog row ``i``.

    Warns:
        GalmorphWarning: naming the galaxies left out as unreadable.
    """
    n_rows = len(loader.dataset)  # type: ignore[arg-type]
    finish = batch_finisher(loader)
    out: np.ndarray | None = None
    pending: tuple[np.ndarray, torch.Tensor, torch.cuda.Event | None] | None = None
    problems: dict[int, str] = {}

    def store(rows: np.ndarray, host: torch.Tensor, done: torch.cuda.Event | None) -> None:
        nonlocal out
        if done is not None:
            done.synchronize()
        values = host.numpy()
        if out is None:
            out = np.empty((n_rows, *values.shape[1:]), dtype=np.float32)
        out[rows] = values
        bar.advance(task, len(values))

    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    with (
        progress_bar("galaxies", progress) as bar,
        torch.inference_mode(),
        torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16),
    ):
        task = bar.add_task(description, total=n_rows)
        for batch in loader:
            images = finish(batch["image"].to(device, non_blocking=True))
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            copy = (batch["index"].numpy(), *_start_copy(forward(images)))
            problems.update((int(row), problem) for row, problem in
                            zip(copy[0], batch.get("unreadable", ()), strict=False) if problem)
            if pending is not None:
                store(*pending)
            pending = copy
        if pending is not None:
            store(*pending)
    if out is None:
        raise GalmorphError("there are no galaxies to run the model on")
    if problems:
        out[list(problems)] = np.nan
        if unreadable is None:
            warnings.warn(unreadable_message(list(problems.values()), n_rows), GalmorphWarning,
                          stacklevel=2)
        else:
            unreadable += problems.values()
    return out


def read_rows(outputs: np.ndarray) -> np.ndarray:
    """Which rows of :func:`infer`'s ``outputs`` ``(N, ...)`` hold results: ``(N,)`` bool,
    False for galaxies left out as unreadable (all NaN)."""
    return ~np.isnan(outputs.reshape(len(outputs), -1)).all(axis=1)


def check_some_read(n_kept: int, n_rows: int) -> None:
    """Raise when rows were given but every image was unreadable (nothing to write).

    Raises:
        ImageError: when ``n_kept`` is 0 and ``n_rows`` is not.
    """
    if n_rows and not n_kept:
        raise ImageError(f"none of the {n_rows} galaxies' images can be read (see the "
                         "warning above): is the file_loc column right?")


def unreadable_message(problems: list[str], n_rows: int) -> str:
    """The warning for galaxies left out because their image cannot be read: how many,
    and the first :data:`SHOWN_UNREADABLE` reasons (each naming its galaxy and file)."""
    shown = "; ".join(problems[:SHOWN_UNREADABLE])
    more = len(problems) - SHOWN_UNREADABLE
    return (f"left out {len(problems)} of {n_rows} galaxies whose image cannot be read: "
            f"{shown}" + (f"; and {more} more" if more > 0 else ""))


def _has_dropout(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules())


def sample_outputs(model: GalaxyModel, mc_samples: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A batch function giving ``mc_samples`` model outputs: ``(batch, n_outputs, S)``.

    When only the head has dropout, the encoder runs once per batch and the
    head ``mc_samples`` times (the same result, much faster).
    """
    stochastic_encoder = mc_samples > 1 and _has_dropout(model.encoder)

    def forward(images: torch.Tensor) -> torch.Tensor:
        if stochastic_encoder:
            return torch.stack([model(images) for _ in range(mc_samples)], dim=-1)
        features = model.encoder(images)
        return torch.stack([model.head(features) for _ in range(mc_samples)], dim=-1)

    return forward


def model_outputs(
    loaded: LoadedModel,
    loader: DataLoader,
    *,
    mc_samples: int = 1,
    device: torch.device,
    progress: bool = True,
    seed: int | None = 0,
    distributed: DistributedInference | None = None,
    backend: str = "torch",
    views: int = 1,
    unreadable: list[str] | None = None,
) -> np.ndarray | None:
    """Raw outputs ``(N, n_outputs, mc_samples)`` of a model for a predict loader.

    With ``mc_samples > 1`` dropout samples (MC dropout); ``seed`` makes the
    samples reproducible without touching the global random state. The model is
    left in eval mode. With ``distributed`` the rows are shared between its
    processes (:class:`~galmorph.inference.distributed.DistributedInference`) and
    only the first process gets the outputs back; the others get None. ``backend`` is resolved by
    :func:`galmorph.models.onnx_backend.resolve_model_backend`: ``"onnx"`` runs the model exported
    to ONNX (:func:`galmorph.models.onnx_backend.cached_onnx_model`) with ONNX Runtime. With
    ``views`` above 1 every output (every MC sample) is the mean over that many
    orientations of the images (:func:`galmorph.data.views.average_over_views`).
    Rows of unreadable images (a loader with ``skip_unreadable``) are NaN; see
    :func:`infer` for ``unreadable`` (a shared run's processes each warn instead).
    """
    if mc_samples < 1:
        raise ValueError(f"mc_samples must be at least 1, got {mc_samples}")
    if resolve_model_backend(backend, loaded, device, mc_samples,
                             distributed=distributed is not None) == "onnx":
        session = cached_onnx_model(loaded, "full")

        def one_sample(images: torch.Tensor) -> torch.Tensor:
            return session(images)[..., None]  # (batch, n_outputs, 1 sample)

        onnx_forward = average_over_views(one_sample, views)
        if distributed is not None:
            return distributed.outputs(loader, loaded.model, onnx_forward)
        return infer(loader, onnx_forward, device, progress=progress, unreadable=unreadable)
    model = loaded.model
    if mc_samples > 1 and not _has_dropout(model):
        warnings.warn(
            f"{loaded.name} has no dropout, so its {mc_samples} MC samples are identical",
            GalmorphWarning,
            stacklevel=3,
        )
    channels_last = device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    forks = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=forks):
            if seed is not None:
                torch.manual_seed(seed)
            if mc_samples > 1:
                enable_mc_dropout(model)
            else:
                model.eval()
            forward = average_over_views(sample_outputs(model, mc_samples), views)
            if distributed is not None:
                return distributed.outputs(loader, model, forward, mc_dropout=mc_samples > 1)
            return infer(
                loader,
                forward,
                device,
                channels_last=channels_last,
                progress=progress,
                unreadable=unreadable,
            )
    finally:
        model.eval()


def run_over_images(
    frame: pd.DataFrame,
    forward: Forward,
    image_config: ImageConfig,
    *,
    device: torch.device,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    progress: bool = True,
    description: str = "Embedding",
    skip_unreadable: bool = False,
    unreadable: list[str] | None = None,
) -> np.ndarray:
    """``forward`` over the evaluation-transformed images of a catalog, rows in order.

    Builds the catalog's :func:`~galmorph.data.galaxy_dataset.predict_loader` and runs
    :func:`infer` (no gradients); with ``skip_unreadable`` rows whose image cannot be
    read are NaN (:func:`read_rows`) and a warning names them (or ``unreadable`` gets
    their messages, as in :func:`infer`). ``forward`` maps image batches
    ``(b, channels, size, size)`` on ``device`` to ``(b, ...)``.

    Returns:
        ``float32`` array ``(len(frame), ...)``.
    """
    loader = predict_loader(frame, image_config, batch_size=batch_size, num_workers=num_workers,
                            finish_on_device=device.type != "cpu",
                            skip_unreadable=skip_unreadable)
    return infer(loader, forward, device, progress=progress, description=description,
                 unreadable=unreadable)

