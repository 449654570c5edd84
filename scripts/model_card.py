"""Write a model card (Markdown) from a galmorph model file and its evaluation JSON.

Usage::

    galmorph evaluate CATALOG --model MODEL --json EVAL.json
    python benchmarks/bench_starter.py GZ2.csv CANDIDATE... --out CANDIDATES.json
    python scripts/model_card.py MODEL EVAL.json -o docs/model-card.md [--command "..."]
        [--candidates CANDIDATES.json]

Every figure in the card is read from the model's metadata or the evaluation
JSON, so the card cannot drift from the model it describes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from galmorph.models.checkpoint import load_model
from galmorph.models.model import CONCENTRATION_RANGE


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def describe_start(training: dict) -> str:
    """How the encoder's weights started, in words."""
    start = training.get("start") or {"init": "scratch"}
    decay = training.get("lr_decay")
    if decay is None:
        decayed = ""
    elif decay == 1:
        decayed = "; every block at the same learning rate (no layer-wise decay)"
    else:
        decayed = f"; layer-wise learning-rate decay {decay:g} per block"
    if start["init"] == "imagenet":
        return f"ImageNet weights from `{start['weights']}`{decayed}"
    if start["init"] == "pretrained":
        return f"the encoder of `{start['model']}` (sha256 {start['model_sha256'][:12]}){decayed}"
    return "random initialisation"


def candidate_table(candidates: list[dict]) -> str:
    """The candidates' validation figures (``benchmarks/bench_starter.py`` JSON) as Markdown."""
    questions = list(candidates[0]["confident"])
    head = ("| candidate | start | px | epochs | training time | summed NLL | "
            + " | ".join(q.split("_", 1)[1] for q in questions)
            + " | tag P@10 (× pixels) | ring probe |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in candidates:
        training = c.get("training") or {}
        start = (training.get("start") or {"init": "scratch"})["init"]
        seconds = training.get("seconds_this_run")
        tags = c["tag_precision10"]
        ring = (c.get("ring_probe") or {}).get("accuracy")
        rows.append(
            f"| {c['name']} ({c['encoder']}) | {start} | {c['size']} | "
            f"{training.get('epochs_completed', '–')} | "
            f"{'–' if seconds is None else f'{seconds / 60:.0f} min'} | "
            f"{_fmt(c['summed_nll'], 2)} | "
            + " | ".join(_fmt(c["confident"].get(q, {}).get("accuracy")) for q in questions)
            + f" | {_fmt(tags['model'])} ({tags['model'] / tags['pixels']:.2f}×) | "
            f"{_fmt(ring)} |"
        )
    return "\n".join(rows)


def render(model_path: Path, evaluation: dict, command: str, notes: str,
           candidates: list[dict] | None = None) -> str:
    loaded = load_model(model_path)
    meta = loaded.metadata
    training = meta["training"]
    split = training["split"]
    image = meta["image"]
    rows = []
    for name, q in evaluation["questions"].items():
        ci = q.get("accuracy_ci95") or [None, None]
        rows.append(
            f"| {name} | {_fmt(q['nll'], 2)} | {_fmt(q.get('baseline_nll'), 2)} | "
            f"{_fmt(q['mae'])} | {q['n_confident']} | {_fmt(q['accuracy_confident'])} "
            f"[{_fmt(ci[0])}, {_fmt(ci[1])}] | {_fmt(q.get('balanced_accuracy_confident'))} | "
            f"{_fmt(q.get('majority_accuracy'))} |"
        )
    minutes = training.get("seconds_this_run", float("nan")) / 60
    low = loaded.model.head.min_concentration
    refit = training.get("head_refit")
    refit_line = "" if not refit else (
        f"\n- Head refitted on the frozen encoder (`scripts/refit_vote_head.py`: training "
        f"split, {refit['steps']} full-batch Adam steps, learning rate {refit['learning_rate']},"
        f"\n  lowest validation loss kept) with the concentration bound lowered from "
        f"{refit['min_concentration_before']:g} to {low:g}:\n  validation loss "
        f"{refit['val_loss_before']:.3f} → {refit['val_loss_after']:.3f}."
    )
    unlearnt = loaded.questions_without_votes
    unlearnt_line = "" if not unlearnt else (
        f"\n  {', '.join(unlearnt)} had no votes in the training catalog: the model never"
        "\n  learnt them, so predictions and evaluations leave them out."
    )
    recorded_line = "" if "id_hashes" not in split else (
        "\n  The file records its training and validation galaxies (32-bit hashes of their"
        "\n  ids): `galmorph evaluate` counts a catalog's galaxies it saw, and `--only-unseen`"
        "\n  leaves them out."
    )
    candidates_section = "" if not candidates else f"""
## Candidates, compared on the validation split

Every candidate trained for this release, with the figures that chose it on the
validation split (`benchmarks/bench_starter.py`; confident accuracy per question,
similarity-search tag precision@10 beside raw-pixel PCA, and a logistic-regression probe
cross-validated on the 330 DECaLS rings):

{candidate_table(candidates)}
"""
    return f"""# Model card: {loaded.name}

The starter model shipped with galmorph (`src/galmorph/weights/{model_path.name}`), used by
every command when `--model` is not given.

## Data
- Training catalog: `{split['catalog']}`: SDSS DR16 gri 128×128 px cutouts, 0.2″/px,
  with Galaxy Zoo 2 vote counts (see `../shared/data/README.md`).
- Schema: `{loaded.schema.name}` ({loaded.schema.n_questions} questions,
  {loaded.schema.n_answers} answers). t06 (odd) and t08 (odd feature) are left out so
  that ring, merger and anomaly results downstream are honest transfer.{unlearnt_line}
- Split: `galmorph.data.splits.assign_splits(id_str, fractions={split['fractions']},
  seed={split['seed']})` — a keyed hash of each id, so it does not depend on catalog order.
  Sizes: {split['sizes']}. The bundled demo galaxies are all in the test split.{recorded_line}
- Median votes per galaxy (t01, training split): {training['votes_per_galaxy_median']:.0f}.

## Model
- Encoder: `{meta['encoder']}` (timm; start: {describe_start(training)}),
  {meta['channels']} channels, {image['size']}×{image['size']} px input; head: dropout
  {meta['dropout']} → linear → Dirichlet concentrations in ({low:g}, {low + CONCENTRATION_RANGE:g}).
- Input: the central {image['crop_fraction'][1]:.0%} of each cutout resized to
  {image['size']} px; normalised with mean
  {image['mean']} and std {image['std']}.
- Training augmentation: rotation `{image['rotation']}`, horizontal/vertical flips, crop
  fraction {image['crop_fraction']}, centre jitter {image['centre_jitter']}.
- Optimiser: AdamW, learning rate {training['learning_rate']}, weight decay
  {training['weight_decay']}, {training['scheduler']} schedule, batch
  {training['batch_size']}, {training['epochs_completed']} epochs, seed {training['seed']}.
- Training time on the 2-core development machine: {minutes:.1f} min. Best validation
  loss {training['best_val_loss']:.3f} (summed NLL per galaxy; untrained:
  {training.get('initial_val_loss', float('nan')):.1f}).{refit_line}
- Stored in fp16: {model_path.stat().st_size / 1e6:.1f} MB. galmorph version
  {meta['galmorph_version']}.

Reproduce:

```bash
{command}
```

{notes}
{candidates_section}
## Evaluation on the bundled galaxies ({evaluation['n_galaxies']}, all in its test split)

`galmorph evaluate src/galmorph/demo_data/gz2_demo/catalog.csv` (no `--model`: this model;
outputs averaged over {evaluation.get('model', {}).get('galmorph_views', '1')} views of each image).
NLL is the Dirichlet-multinomial negative log-likelihood (nats per galaxy, full log-PMF);
the baseline is a Dirichlet-multinomial per question fitted to the training split's votes
with no image information. Accuracy is against *confident* volunteers (the question was
answered by at least half of the galaxy's volunteers and ≥ 80% of them agree), with a 95%
binomial interval; "majority" always answers the most common volunteer answer on the same
galaxies.

| question | NLL | baseline NLL | MAE | n confident | accuracy [95% CI] | balanced acc. | majority |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Summed NLL per galaxy: **{_fmt(evaluation['mean_nll'], 2)}** (baseline
{_fmt(evaluation.get('baseline_mean_nll'), 2)}).

CI checks that the shipped weights reproduce these figures within ±0.02
(`tests/models/test_starter_model.py`).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("evaluation", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--command", default="", help="the command that trained the model")
    parser.add_argument("--notes", default="", help="Markdown inserted after the command")
    parser.add_argument("--candidates", type=Path, default=None,
                        help="benchmarks/bench_starter.py JSON of every candidate")
    args = parser.parse_args()
    evaluation = json.loads(args.evaluation.read_text())
    notes = Path(args.notes).read_text() if args.notes and Path(args.notes).is_file() else ""
    candidates = json.loads(args.candidates.read_text()) if args.candidates else None
    args.output.write_text(render(args.model, evaluation, args.command, notes, candidates))
    print(args.output)


if __name__ == "__main__":
    main()
