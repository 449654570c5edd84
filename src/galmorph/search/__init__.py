"""Similarity search over galaxy embeddings, and its evaluation with morphology tags.

What users import is named here and loaded on first use, so importing
``galmorph.search`` does not load torch, pandas or faiss. The modules:
:mod:`~galmorph.search.search` (queries by id, sky position, image or vector),
:mod:`~galmorph.search.examples` (one ranking of the galaxies like several examples,
read from a file by :mod:`~galmorph.search.example_files`),
:mod:`~galmorph.search.id_lookup` (ids as people type them, also in another case),
:mod:`~galmorph.search.matching` (which entries a query image or position is),
:mod:`~galmorph.search.index` (metrics, exact and approximate indexes),
:mod:`~galmorph.search.index_store` (indexes saved beside the embeddings file),
:mod:`~galmorph.search.partitioned` (a partitioned catalog's folder of embeddings,
indexed a partition at a time),
:mod:`~galmorph.search.tags` (morphology tags from Galaxy Zoo 2 votes),
:mod:`~galmorph.search.baselines` and :mod:`~galmorph.search.evaluation`
(tag-retrieval precision@k beside baselines).

Examples
--------
>>> import numpy as np
>>> from galmorph.search import METRICS, TAGS, neighbour_table, precision_at_k
>>> METRICS
('cosine', 'euclidean', 'manhattan')
>>> [tag.name for tag in TAGS if tag.kind == "transfer"]
['odd', 'ring', 'merger']
>>> neighbours = neighbour_table(np.array([[0.0], [0.1], [5.0], [5.2]]), 1, "euclidean")
>>> neighbours.ravel().tolist()
[1, 0, 3, 2]
>>> precision_at_k(neighbours, np.array([True, True, False, False])).tolist()
[1.0, 1.0, 0.0, 0.0]
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "baselines": ["BASELINES", "baseline_features"],
        "examples": ["like_examples"],
        "example_files": ["read_example_ids"],
        "id_lookup": ["IdLookup"],
        "evaluation": [
            "evaluate_similarity", "neighbour_table", "precision_at_k", "print_tag_evaluation",
        ],
        "index": [
            "INDEX_KINDS", "METRICS", "ExactIndex", "FaissIndex", "Index", "build_index",
            "search_vectors",
        ],
        "index_store": ["cached_index", "index_files", "load_or_build_index"],
        "matching": ["identical_rows"],
        "neighbours": ["angular_separation", "select_neighbours"],
        "partitioned": [
            "StoredVectors", "build_partitioned_index", "open_partitioned_index",
            "partitioned_kind",
        ],
        "search": [
            "DUPLICATE_RADIUS_ARCSEC", "SimilarityResult", "SimilaritySearch",
        ],
        "tags": ["TAGS", "TagDefinition", "derive_tags"],
    },
)
