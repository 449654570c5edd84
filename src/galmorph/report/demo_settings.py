"""What ``galmorph demo`` runs on (:class:`DemoSettings`) and what it made (:class:`DemoResult`).

Plain dataclasses (standard library only), so that the command line can show the
demo's defaults without loading the steps' libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Fewest labelled galaxies per class the ring classifier trains on.
MIN_RING_LABELS = 4


@dataclass
class DemoSettings:
    """What the demo runs on and how long it trains.

    Attributes:
        out: output folder (created).
        data: catalog file (None: the bundled demo catalog).
        model: model for prediction, embedding and as the fine-tuning start.
        device: ``auto``, ``cpu``, ``cuda``...
        backend: inference backend of the prediction and embedding steps: ``auto``
            (ONNX Runtime on the CPU, PyTorch on a GPU), ``torch`` or ``onnx``.
        pca: principal components kept in the embeddings.
        k: neighbours shown by the similarity search.
        anomaly_labels: galaxies the simulated researcher labels.
        anomaly_batch: galaxies proposed per round.
        ring_labels: labelled galaxies *per class* for fine-tuning (at least
            :data:`MIN_RING_LABELS`).
        epochs: fine-tuning epochs.
        n_blocks: encoder blocks fine-tuned (0: only a new head on the frozen encoder).
        learning_rate: fine-tuning learning rate of the head.
        batch_size: fine-tuning batch size.
        num_workers: image-loading processes (0: in this process).
        seed: seed of every random choice.
        progress: show progress bars.
    """

    out: str | Path = "demo-output"
    data: str | Path | None = None
    model: str | Path | None = None
    device: str = "auto"
    backend: str = "auto"
    pca: int = 40
    k: int = 11
    anomaly_labels: int = 50
    anomaly_batch: int = 10
    ring_labels: int = 20
    epochs: int = 8
    n_blocks: int = 0
    learning_rate: float = 3e-3
    batch_size: int = 8
    num_workers: int | None = 0
    seed: int = 0
    progress: bool = False


@dataclass
class DemoResult:
    """What the demo wrote and how long each step took (seconds)."""

    out: Path
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
