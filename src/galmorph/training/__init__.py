"""Training: vote models from scratch or a start, fine-tuning to new labels, probes.

:func:`train` trains a vote-count model (:class:`VoteModule`); :func:`finetune`
trains a new head, and optionally the top encoder blocks, on a labelled catalog
(:class:`FinetuneModule`), a classifier's head starting as a probe
(:func:`probe_head_start`); :func:`probe` is the logistic-regression baseline on
frozen embeddings; :func:`refit_vote_head` refits the head of a trained vote
model. What users import is named here and loaded on first use, so importing
``galmorph.training`` does not load torch.

Examples
--------
>>> import numpy as np
>>> from galmorph.training import classification_metrics
>>> probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
>>> metrics = classification_metrics(np.array([0, 1, 1]), probabilities, [0, 1])
>>> metrics["n_correct"], metrics["roc_auc"]
(2, 1.0)
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "adapt": ["AdaptResult", "adapt_model"],
        "conventions": ["auto_crop", "galaxy_fill", "source_conventions"],
        "defaults": ["DEFAULT_ADAPT_IMAGES", "DEFAULT_N_BLOCKS"],
        "finetune": ["FinetuneResult", "finetune"],
        "finetune_module": ["FinetuneModule"],
        "probe": ["PROBE_REGULARISATION", "classification_metrics", "fit_probe", "probe"],
        "refit": ["refit_vote_head"],
        "targets": ["stratified_split"],
        "train": ["TrainResult", "model_metadata", "train"],
        "vote_module": ["VoteModule"],
        "warm_start": ["HEAD_INITS", "linear_head_weights", "probe_head_start"],
    },
)
