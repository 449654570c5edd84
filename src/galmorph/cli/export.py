"""``galmorph export``: a model as a self-describing ONNX file, for other frameworks.

``--what full`` exports the whole model (vote concentrations, class logits or a
regression value), ``--what encoder`` the representation (pooled features). The
batch dimension is dynamic; the file's metadata holds the preprocessing (image
size, channels, normalisation, crop) and the model's galmorph metadata (schema,
classes...), see :mod:`galmorph.models.onnx`. An external timm encoder, which has no head,
exports its features (``--what encoder``, its default), at the image size of its
``config.json`` or ``--input-size``.

Example::

    galmorph export --model gz2-starter -o starter.onnx --what encoder
"""

from __future__ import annotations

import argparse

from galmorph.cli._common import add_encoder_image_options, make_console


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command."""
    from galmorph.models.defaults import DEFAULT_MODEL, WHATS

    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX (for onnxruntime, TensorFlow and others)",
        description=(
            "Export a model's encoder or the whole model to an ONNX file with a dynamic "
            "batch dimension. The file's metadata holds the preprocessing it expects "
            "(image size, channels, mean/std, centre crop) and the model's galmorph "
            "metadata (task, schema or classes), so the file alone is enough."
        ),
        epilog=(
            "Read the metadata with onnxruntime: InferenceSession(path).get_modelmeta()."
            "custom_metadata_map (keys 'preprocessing', 'image_size', 'mean', 'std', "
            "'galmorph', 'galmorph_export')."
        ),
    )
    parser.add_argument(
        "-m", "--model", default=DEFAULT_MODEL,
        help=("model: a shipped name, a model file (.pt/.ckpt) or training folder, a timm "
              f"encoder's folder, or hf_hub:ORG/NAME (default: {DEFAULT_MODEL})"),
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                        help="ONNX file to write (atomically)")
    parser.add_argument(
        "--what", choices=WHATS, default=None,
        help="full: the model's outputs (concentrations, logits...); encoder: the pooled "
             "features (default: full; encoder for an external encoder, which has no head)",
    )
    parser.add_argument(
        "--stages", type=int, nargs="+", default=[], metavar="S",
        help="with --what encoder: also output the pooled features of these earlier encoder "
             "stages, first, as `galmorph embed --stages` does",
    )
    add_encoder_image_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export the model; 0 on success."""
    from pathlib import Path

    from galmorph.cli._common import model_with_image, writable_file
    from galmorph.exceptions import GalmorphError
    from galmorph.files import user_path
    from galmorph.models.checkpoint import LoadedModel, load_model
    from galmorph.models.external import ENCODER_TASK
    from galmorph.models.onnx import OnnxModel, export_onnx

    target = user_path(args.output)  # "~/m.onnx" quoted in a script: the home folder's
    example = f"{Path(args.model.split(':')[-1]).stem or 'model'}.onnx"
    if target.is_dir():
        raise GalmorphError(f"{target} is a folder: give the file's name, e.g. "
                            f"{target / example}")
    if target.name.lower() == ".onnx":
        raise GalmorphError(f"give the output file a name before .onnx, e.g. {example}")
    if target.suffix.lower() != ".onnx":
        raise GalmorphError(f"name the output .onnx, not {target.name} "
                            f"(e.g. {target.with_suffix('.onnx').name})")
    writable_file(str(target), "-o")  # before the model is read and exported
    replaced = target.exists()
    spec = model_with_image(args)  # loaded already with --input-size, --mean or --std
    loaded = spec if isinstance(spec, LoadedModel) else load_model(spec, "cpu")
    what = args.what or ("encoder" if loaded.task == ENCODER_TASK else "full")
    exported = OnnxModel(export_onnx(loaded, target, what=what, stages=args.stages))
    output = exported.session.get_outputs()[0]
    config = exported.image_config
    make_console().print(
        f"Wrote {exported.path} ({what} of {loaded.name}, sha256 "
        f"{loaded.checksum[:12]}): input images (batch, {config.channels}, {config.size}, "
        f"{config.size}) float32, output {output.name} (batch, {output.shape[1]}): "
        f"{exported.export['meaning']}" + (" (it replaced the file there)" if replaced else "")
    )
    return 0
