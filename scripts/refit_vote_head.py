"""Refit a vote model's head with the current concentration bound (frozen encoder).

Usage:
    python scripts/refit_vote_head.py MODEL CATALOG -o OUT.pt

MODEL is a vote model (name, path or hf_hub: id) trained with a recorded seeded
split; CATALOG holds its training and validation galaxies (test galaxies are not
used). Prints the validation loss before and after; writes OUT.pt atomically.
"""

from __future__ import annotations

import argparse
import sys

from galmorph.cli._common import positive_float, positive_int
from galmorph.exceptions import GalmorphError
from galmorph.models.checkpoint import save_model
from galmorph.models.model import MIN_CONCENTRATION
from galmorph.training.refit import refit_vote_head


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("catalog")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--min-concentration", type=positive_float, default=MIN_CONCENTRATION)
    parser.add_argument("--max-steps", type=positive_int, default=2000)
    args = parser.parse_args()
    try:
        model, metadata = refit_vote_head(
            args.model, args.catalog, min_concentration=args.min_concentration,
            max_steps=args.max_steps,
        )
    except GalmorphError as err:  # bad model or catalog: one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    refit = metadata["training"]["head_refit"]
    print(f"validation loss (summed NLL per galaxy, {refit['n_val']} galaxies): "
          f"{refit['val_loss_before']:.3f} -> {refit['val_loss_after']:.3f} "
          f"after {refit['steps']} steps")
    print(f"wrote {save_model(model, metadata, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
