"""Defaults of training and fine-tuning that the command line shows.

Plain constants only (no imports), so that building ``galmorph``'s argument parser
never loads torch or Lightning.
"""

#: Encoder blocks trained by default when starting from pretrained weights.
DEFAULT_N_BLOCKS = 1
#: Images ``adapt`` draws from a catalog to re-estimate normalisation statistics.
DEFAULT_ADAPT_IMAGES = 2000
#: Layer-wise learning-rate decay per encoder block for pretrained starts of ``train``.
PRETRAINED_LR_DECAY = 0.8
#: ``--accelerator`` of ``train`` and ``finetune``: Lightning's names.
ACCELERATOR_HELP = "cpu, gpu, mps (Apple) or auto: a GPU when there is one (default: auto)"
#: ``--devices`` of ``train`` and ``finetune``.
DEVICES_HELP = "how many GPUs (or CPU processes) to use, or auto (default: auto)"
#: ``--precision`` of ``train`` and ``finetune``: Lightning's names.
PRECISION_HELP = "arithmetic precision, e.g. bf16-mixed: faster on recent GPUs (default: 32-bit)"
