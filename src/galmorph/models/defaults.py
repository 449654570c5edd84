"""Defaults of the model layer that the command line shows.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads torch.
"""

#: The model used when none is named: a shipped model in ``galmorph/weights``.
DEFAULT_MODEL = "gz2-starter"
#: Built-in schemas whose catalogs have every vote column the default model learnt, so
#: that ``galmorph evaluate`` can score it on them.
DEFAULT_MODEL_SCHEMAS = ("gz2", "gz2-no-odd")

#: What an ONNX export holds: the whole model, or the encoder only (its features).
WHATS = ("full", "encoder")

#: Inference backends: ``auto`` picks ONNX Runtime on CPU when it is faster.
BACKENDS = ("auto", "torch", "onnx")

#: Lower bound of the Dirichlet concentrations of new vote heads. Below 1 a head
#: unsure of a question can still predict a vote fraction above one half: with a
#: bound of 1, an answer whose concentration sits at the bound while the other's
#: is above it is predicted below one half, however the image looks.
MIN_CONCENTRATION = 0.1
