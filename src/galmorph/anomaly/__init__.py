"""Personalised anomaly detection: find the galaxies *a researcher* finds interesting.

The researcher scores galaxies from 0 (boring) to 5 (fascinating); a model learns
their taste from the representation and proposes what to look at next.

- :mod:`~galmorph.anomaly.session`: :class:`AnomalySession`, an embeddings file and
  its session file together (start, next batch, label, rank);
- :mod:`~galmorph.anomaly.labels`: :class:`LabelStore`, the durable SQLite session
  file (:mod:`~galmorph.anomaly.database` its schema,
  :mod:`~galmorph.anomaly.session_file` its transactions, settings and events,
  :mod:`~galmorph.anomaly.records` the values it returns;
  :mod:`~galmorph.anomaly.label_files` scores read from a file);
- :mod:`~galmorph.anomaly.features`: the standardised interest features and the
  cold start;
- :mod:`~galmorph.anomaly.interest`: active learning, a Gaussian process and its
  expected improvement;
- :mod:`~galmorph.anomaly.baselines`: isolation forest, LOF, the re-weighted
  forest, and artefact flags;
- :mod:`~galmorph.anomaly.methods` and :mod:`~galmorph.anomaly.ranking`: what each
  method predicts and proposes, and rankings with their metrics;
- :mod:`~galmorph.anomaly.scoring`: a session's interest model applied to other
  embeddings of the same features (a whole survey), a partition at a time;
- :mod:`~galmorph.anomaly.benchmark`: the simulated-researcher benchmark;
- :mod:`~galmorph.anomaly.checks`: the checks of what sessions and the interest model
  are given (:class:`SettingError` for a bad session setting);
  :mod:`~galmorph.anomaly.fingerprint`: what identifies the features a session was
  started on, so that it refuses others;
- :mod:`~galmorph.anomaly.defaults`: the defaults the command line shows.

What users import is named here and loaded on first use, so importing
``galmorph.anomaly`` loads neither pandas nor scikit-learn.

Examples
--------
>>> from galmorph.anomaly import METHODS, rank_order
>>> METHODS[0]
'active'
>>> rank_order([3.0, 5.0, 3.0], [False, False, True]).tolist()
[1, 2, 0]
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "baselines": ["ARTEFACT_COLUMNS", "artefact_flags", "isolation_forest_scores",
                      "lof_scores", "reweighted_scores", "scale_scores"],
        "benchmark": ["BENCHMARK_METHODS", "BenchmarkSetup", "benchmark", "benchmark_setup",
                      "simulate", "supervised_scores", "user_scores"],
        "checks": ["SettingError"],
        "defaults": ["DEFAULT_ARTEFACT_THRESHOLD", "DEFAULT_BATCH_SIZE", "DEFAULT_PCA",
                     "DEFAULT_XI", "METHODS", "PRECISION_AT"],
        "features": ["InterestTransform", "fit_interest_features", "interest_features",
                     "spread_sample"],
        "interest": ["InterestModel", "Proposal", "expected_improvement"],
        "label_files": ["read_label_file"],
        "labels": ["LabelStore"],
        "methods": ["Step", "predict_interest", "propose"],
        "ranking": ["rank_order", "ranking_metrics"],
        "records": ["MAX_SCORE", "MIN_SCORE", "Batch", "LabelRecord", "check_score"],
        "scoring": ["ScoreSummary", "score_embeddings"],
        "session": ["AnomalySession", "SessionSettings"],
    },
)
