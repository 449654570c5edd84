"""Step 4 of ``galmorph demo``: fine-tune a ring classifier from a few labelled galaxies.

:func:`finetune_step` trains on a few dozen class-balanced galaxies of the
catalog's ``ring`` column, tests on all the others, compares with a linear probe
on the embeddings, and writes ``ring-classifier/model.pt`` and
``ring_test_predictions.csv``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.report.demo_settings import MIN_RING_LABELS
from galmorph.report.html import (
    Section,
    facts_html,
    figure_html,
    note_html,
    number_text,
    paragraph_html,
)
from galmorph.report.learning_curves import draw_learning_curves, read_history

if TYPE_CHECKING:
    from galmorph.report.demo import DemoRunner

#: Column of the fine-tuning labels.
RING_COLUMN = "ring"
#: Folder of the fine-tuned classifier, in the demo's folder.
CLASSIFIER_FOLDER = "ring-classifier"


def finetune_step(
    run: DemoRunner, catalog: pd.DataFrame, embeddings: Any, loaded: Any
) -> None:
    """Fine-tune a ring classifier, test it on the unseen galaxies and compare with a probe."""
    from galmorph.inference.predict import predict_catalog
    from galmorph.report.plots import galaxy_grid
    from galmorph.training.finetune import finetune
    from galmorph.training.probe import classification_metrics, probe

    s = run.settings
    section = Section(
        "finetune", "4. Teach the model a new class: rings",
        "The model was never trained to recognise rings. Here it learns from a few dozen "
        "galaxies labelled ring / not ring (half of each, so it cannot win by always answering "
        "'not ring'), and is then tested on all the other galaxies, whose labels it never saw.",
    )
    if RING_COLUMN not in catalog:
        reason = f"the catalog has no {RING_COLUMN!r} column of labels"
        run.skip("finetune", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    labels = pd.to_numeric(catalog[RING_COLUMN], errors="coerce")
    known = catalog[labels.isin([0, 1])].assign(**{RING_COLUMN: labels.astype("Int64")})
    rings = known[known[RING_COLUMN] == 1].sort_values("id_str")
    others = known[known[RING_COLUMN] == 0].sort_values("id_str")
    per_class = min(s.ring_labels, len(rings) // 2, len(others) // 2)
    if per_class < MIN_RING_LABELS:
        reason = (f"too few labelled rings ({len(rings)}) and non-rings ({len(others)}) for "
                  f"a class-balanced training set of at least {MIN_RING_LABELS} of each with "
                  "galaxies left to test")
        run.skip("finetune", reason)
        section.blocks.append(note_html(f"Skipped: {reason}."))
        run.sections.append(section)
        return
    rng = np.random.default_rng(s.seed)
    train_ids = set(rings["id_str"].to_numpy()[rng.permutation(len(rings))[:per_class]])
    train_ids |= set(others["id_str"].to_numpy()[rng.permutation(len(others))[:per_class]])
    is_train = known["id_str"].isin(train_ids).to_numpy()
    train = known[is_train].reset_index(drop=True)
    test = known[~is_train].reset_index(drop=True)
    train[RING_COLUMN] = train[RING_COLUMN].astype(int)
    folder = run.out / CLASSIFIER_FOLDER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice about small datasets and workers
        result = finetune(
            train, folder, label=RING_COLUMN, model=loaded, n_blocks=s.n_blocks,
            epochs=s.epochs, batch_size=s.batch_size, learning_rate=s.learning_rate,
            val_fraction=0.25, seed=s.seed, split_seed=s.seed, num_workers=s.num_workers,
            accelerator="cpu" if s.device == "cpu" else "auto", progress=s.progress,
            name="demo-ring-classifier",
        )
    history = read_history(folder)
    test_pred = predict_catalog(test, result.model_path, device=s.device, progress=s.progress,
                                num_workers=s.num_workers, backend=s.backend)
    classes = result.metadata["classes"]
    probabilities = test_pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
    truth = test[RING_COLUMN].astype(int).to_numpy()
    metrics = classification_metrics(truth, probabilities, classes)
    balanced = metrics["balanced_accuracy"]
    # baseline: logistic regression on the embeddings of the same galaxies
    rows_train = [embeddings.row_of(i) for i in train["id_str"]]
    rows_test = [embeddings.row_of(i) for i in test["id_str"]]
    baseline = probe(embeddings.features[rows_train], train[RING_COLUMN].to_numpy(),
                     embeddings.features[rows_test], truth)
    base_balanced = baseline["balanced_accuracy"]
    run.result.metrics["finetune"] = {
        "n_train": len(train), "n_test": len(test), "accuracy": metrics["accuracy"],
        "balanced_accuracy": balanced, "roc_auc": metrics["roc_auc"],
        "probe_balanced_accuracy": base_balanced, "probe_roc_auc": baseline["roc_auc"],
        "epochs": result.epochs_completed,
    }
    test_pred.assign(ring=truth).to_csv(run.out / "ring_test_predictions.csv", index=False)

    n_val = result.metadata["training"]["split"]["sizes"]["val"]
    chance = (1 / len(classes), "balanced accuracy of one answer for all")
    curve = run.save(draw_learning_curves(history, "cross-entropy", score_reference=chance),
                     "finetune_curve.png")
    section.blocks.append(figure_html(
        curve, "training and validation curves of the ring classifier",
        "Left: the loss (how wrong the model is; lower is better) on the training galaxies and "
        f"on the {n_val} held-out validation galaxies, after each pass over the data (epoch); "
        "the dotted line marks the epoch of lowest validation loss, the model kept. "
        f"Right: the fraction of those {n_val} galaxies classified correctly (balanced: the "
        "mean of the fractions of rings and of non-rings; the dashed line is the balanced "
        "accuracy of one answer for every galaxy): so few that one galaxy more or less moves it a "
        "lot; the test figures below, on every other galaxy, are the ones to trust."))
    n_blocks = result.metadata["training"]["n_blocks"]
    blocks = result.metadata["training"]["encoder_blocks"]
    section.blocks.append(facts_html([
        ("Training galaxies", f"{len(train)} ({per_class} rings + {per_class} non-rings; "
                              f"{n_val} of them held out for validation)"),
        ("Model", f"{loaded.name} with a new ring/not-ring output; "
                  + (f"its encoder (the part that turns an image into its representation, "
                     f"{blocks} blocks of layers) kept as it is: only the new output learns"
                     if n_blocks == 0 else
                     f"the last {n_blocks} of its encoder's {blocks} blocks of layers (the "
                     "part that turns an image into its representation) retrained with it, "
                     "the rest kept as they are")),
        ("Epochs", f"{result.epochs_completed} in {result.seconds:.0f} s"),
        ("Test galaxies", f"{len(test)} ({int(truth.sum())} rings) never seen in training"),
        ("Test accuracy", _accuracy_text(metrics["accuracy"], balanced, truth)),
        ("Test ROC AUC", number_text(metrics["roc_auc"], ".3f")
         + " (1 = every ring ranked above every non-ring; 0.5 = guessing)"),
        ("Simple baseline", f"a linear classifier on the embeddings: balanced accuracy "
                            f"{base_balanced:.1%}, ROC AUC "
                            f"{number_text(baseline['roc_auc'], '.3f')}"),
    ]))
    ring_column = f"prob_{classes[-1]}"
    top = test_pred[ring_column].to_numpy().argsort(kind="stable")[::-1][:12]
    grid = run.save(galaxy_grid(
        list(test["file_loc"].iloc[top]),
        [f"{test['id_str'].iloc[i]}\nP(ring) {test_pred[ring_column].iloc[i]:.2f}\n"
         + ("labelled ring" if truth[i] == 1 else "not labelled ring") for i in top],
        highlight=[j for j, i in enumerate(top) if truth[i] == 1], panel_size=1.8,
        title="Test galaxies the classifier finds most ring-like"), "ring_candidates.png")
    section.blocks.append(figure_html(
        grid, "test galaxies with the highest predicted ring probability",
        "Red frames: galaxies the catalog labels as rings. Unframed ones are worth a look: "
        "the labels come from volunteer votes and miss some rings. P(ring) ranks the "
        "galaxies; it is not the chance that one is a ring: the classifier learnt from as "
        f"many rings as non-rings, while {truth.mean():.0%} of these test galaxies are "
        "labelled rings."))
    section.blocks.append(paragraph_html(
        f"Files: {CLASSIFIER_FOLDER}/model.pt (use it with galmorph predict CATALOG --model "
        f"{CLASSIFIER_FOLDER}/model.pt -o rings.parquet) and ring_test_predictions.csv."))
    run.say(f"{len(train)} labels, {result.epochs_completed} epochs; test on {len(test)}: "
            f"accuracy {metrics['accuracy']:.1%}, balanced {balanced:.1%}, ROC AUC "
            f"{number_text(metrics['roc_auc'], '.3f')}")
    run.sections.append(section)


def _accuracy_text(accuracy: float, balanced: float, truth: np.ndarray) -> str:
    """The test accuracy beside always answering 'not ring', and which of the two to compare."""
    majority = float(np.mean(truth == 0))
    text = (f"{accuracy:.1%} (balanced over the two classes: {balanced:.1%}); always answering "
            f"'not ring' would score {majority:.1%} here, balanced 50%")
    if accuracy <= majority:
        text += (f". With only {1 - majority:.0%} rings, plain accuracy rewards never answering "
                 "'ring': compare the balanced accuracy (the mean of the fractions of rings and "
                 "of non-rings classified correctly) with its 50%")
    return text
