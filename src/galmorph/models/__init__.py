"""Models: encoders and heads, the vote loss, metrics, checkpoints and ONNX.

What users import is named here and loaded on first use, so importing
``galmorph.models`` (or its torch-free :mod:`galmorph.models.defaults`) does not
load torch.

Examples
--------
>>> from galmorph.models import DEFAULT_MODEL, load_model
>>> DEFAULT_MODEL
'gz2-starter'
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "checkpoint": ["LoadedModel", "build_model", "load_model", "save_model", "shipped_models"],
        "defaults": ["BACKENDS", "DEFAULT_MODEL", "WHATS"],
        "device": ["resolve_device"],
        "external": ["load_timm_encoder"],
        "imagenet": ["load_lite_imagenet"],
        "losses": ["dirichlet_multinomial_nll", "vote_loss"],
        "evaluation_tables": ["print_evaluation", "print_label_evaluation"],
        "metrics": ["evaluate_votes", "fit_vote_baseline"],
        "model": ["GalaxyModel", "create_encoder"],
        "onnx": ["OnnxModel", "export_onnx"],
        "starts": ["Start", "starting_point"],
        "tasks": ["TASK_OUTPUTS", "vote_columns"],
    },
)
