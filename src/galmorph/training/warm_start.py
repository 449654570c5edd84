"""Start a new classifier head from a logistic-regression probe on the frozen encoder.

Fine-tuning a randomly initialised head distorts the pretrained features while the head
is still wrong; fitting the head first as a linear probe, then fine-tuning ("LP-FT",
Kumar et al. 2022, ICLR) keeps them, which that paper found better on images unlike the
pretraining ones (on the DECaLS rings it measured the same as a random head: see
docs/known-limits.md). :func:`probe_head_start` embeds the training galaxies with
the starting encoder (averaged over their orientations), fits
:func:`galmorph.training.probe.fit_probe` and writes its coefficients into the head's
linear layer, so that the untrained model already predicts what the probe does.

Example:
    >>> from sklearn.datasets import make_classification
    >>> from galmorph.training.probe import fit_probe
    >>> from galmorph.training.warm_start import linear_head_weights
    >>> x, y = make_classification(60, 8, random_state=0)
    >>> weight, bias = linear_head_weights(fit_probe(x, y), n_classes=2)
    >>> weight.shape, bias.shape
    ((2, 8), (2,))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from galmorph.data.image_config import ImageConfig
from galmorph.data.views import average_over_views
from galmorph.inference.defaults import DEFAULT_VIEWS
from galmorph.inference.loop import run_over_images
from galmorph.models.model import GalaxyModel, LinearHead
from galmorph.training.probe import fit_probe

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

#: How the head of a classifier starts: fitted as a probe, or at random.
HEAD_INITS = ("probe", "random")


def linear_head_weights(pipeline: Pipeline, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Logit weights ``(n_classes, feature_dim)`` and biases ``(n_classes,)`` on raw features
    that reproduce a fitted :func:`fit_probe` pipeline's class probabilities.

    The probe's labels must be the class indices ``0 .. n_classes - 1``, all present.
    Its standardisation is folded into the weights; a binary probe's single logit
    ``z`` becomes the pair ``(-z/2, z/2)``, which has the same softmax.
    """
    scaler, logistic = pipeline[0], pipeline[-1]
    if list(logistic.classes_) != list(range(n_classes)):
        raise ValueError(
            f"the probe was fitted on classes {list(logistic.classes_)}, "
            f"not the indices 0..{n_classes - 1}"
        )
    scale = 1.0 if scaler.scale_ is None else np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    weight = logistic.coef_ / scale
    bias = logistic.intercept_ - weight @ scaler.mean_
    if n_classes == 2:
        weight = np.stack([-weight[0] / 2, weight[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    return weight, bias


def probe_head_start(
    model: GalaxyModel,
    train_frame: pd.DataFrame,
    targets: np.ndarray,
    config: ImageConfig,
    *,
    class_weights: np.ndarray | None = None,
    views: int = DEFAULT_VIEWS,
    num_workers: int | None = None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Fit ``model``'s :class:`LinearHead` as a probe on its frozen encoder's features.

    Args:
        model: the starting encoder and a new ``LinearHead`` with one output per class.
        train_frame: the training galaxies (``id_str``, ``file_loc``).
        targets: their class indices, ``(n,)``.
        config: image settings (evaluation crop and size) to embed them with.
        class_weights: per-class weights of the fit, in class order (None: equal).
        views: orientations averaged per galaxy (see ``galmorph embed --views``).
        num_workers: image-loading worker processes.
        device: where to embed them (default: where the model is); the model is
            moved back afterwards.

    Returns:
        What to record: ``head_init`` and the probe's ``probe_regularisation`` (C).
    """
    head = model.head
    if not isinstance(head, LinearHead):
        raise TypeError(f"a probe start needs a LinearHead, not {type(head).__name__}")
    home = next(model.parameters()).device
    device = home if device is None else device
    model.to(device).eval()
    features = run_over_images(
        train_frame, average_over_views(model.encoder, views), config, device=device,
        num_workers=num_workers, progress=False,
    ).astype(np.float64)
    model.to(home)
    # one scale for all features: per-feature standardisation would give the weights of
    # near-constant features huge values, which the first fine-tuning steps then upset
    spread = float(features.std()) or 1.0
    weights = (dict(enumerate(np.asarray(class_weights, dtype=float)))
               if class_weights is not None else None)
    pipeline = fit_probe(features / spread, targets, class_weight=weights, standardise=False)
    weight, bias = linear_head_weights(pipeline, head.linear.out_features)
    weight = weight / spread
    with torch.no_grad():
        head.linear.weight.copy_(torch.as_tensor(weight, dtype=head.linear.weight.dtype))
        head.linear.bias.copy_(torch.as_tensor(bias, dtype=head.linear.bias.dtype))
    return {"head_init": "probe", "probe_regularisation": float(pipeline[-1].C)}
