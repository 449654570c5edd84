"""Inference: run a trained model over catalogs, for predictions, evaluation and embeddings.

* :mod:`~galmorph.inference.predict`: per-galaxy predictions (:func:`predict_catalog`,
  :func:`predict_to_file`); :mod:`~galmorph.inference.evaluate`: a vote-count model
  against volunteer votes (:func:`evaluate_catalog`);
* :mod:`~galmorph.inference.embed`: pooled encoder features (:func:`embed_catalog`,
  :func:`embed_to_file`); :mod:`~galmorph.inference.embeddings`: the embeddings file
  (:func:`read_embeddings`; :mod:`~galmorph.inference.pca`: the PCA it may hold,
  :mod:`~galmorph.inference.galaxy_rows`: its galaxies' ids, positions and image paths);
  :mod:`~galmorph.inference.embedding_folder`: a partitioned
  catalog's folder of them (:func:`open_embeddings`); :mod:`~galmorph.inference.new_images`:
  new images in a file's space (:func:`embed_images`);
* :mod:`~galmorph.inference.loop`, :mod:`~galmorph.inference.loading` and
  :mod:`~galmorph.inference.distributed`: the loop they share, the model it runs
  and several processes (DDP); where it runs is :mod:`galmorph.models.device`'s;
* :mod:`~galmorph.inference.outputs` and :mod:`~galmorph.inference.resumable`: result
  tables written atomically, chunk by chunk, resumable after an interruption;
* :mod:`~galmorph.inference.partitions` (:func:`find_partitions`),
  :mod:`~galmorph.inference.partition_task` (:func:`run_partition`),
  :mod:`~galmorph.inference.manifest` and :mod:`~galmorph.inference.dask_run`
  (:func:`run_partitions`): partitioned catalogs (a folder of parquet files, a HATS
  catalog), one output file per partition, on a Dask cluster or in this process;
  :mod:`~galmorph.inference.hpc` (:func:`slurm_cluster`): such a cluster of SLURM jobs.

What users import is named here and loaded on first use, so importing
``galmorph.inference`` does not load torch.

Examples
--------
>>> from galmorph.inference import chunk_bounds, output_format, predict_catalog
>>> chunk_bounds(5, 2)
[(0, 2), (2, 4), (4, 5)]
>>> output_format("predictions.fits")
'fits'
>>> table = predict_catalog("catalog.csv", "gz2-starter")  # doctest: +SKIP
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "defaults": ["DEFAULT_BATCH_SIZE", "DEFAULT_CHUNK_SIZE", "DEFAULT_VIEWS"],
        "distributed": ["DistributedInference"],
        "embed": ["embed_catalog", "embed_to_file"],
        "embedding_folder": [
            "PartitionedEmbeddings", "open_embeddings", "read_embedding_folder",
        ],
        "embeddings": [
            "EmbeddingInfo",
            "Embeddings",
            "feature_columns",
            "read_embedding_info",
            "read_embeddings",
        ],
        "galaxy_rows": ["GalaxyRows"],
        "evaluate": ["evaluate_catalog"],
        "hpc": ["slurm_cluster"],
        "loading": ["ModelSpec"],
        "loop": ["check_image_conventions", "infer", "run_over_images"],
        "dask_run": ["RunSummary", "dask_client", "run_partitions"],
        "manifest": ["MANIFEST_NAME", "Manifest", "PartitionRecord"],
        "maps": ["GalaxyMap", "compute_map", "ensure_map", "map_path", "read_map"],
        "new_images": ["embed_images", "load_embedding_model"],
        "outputs": ["metadata_sidecar", "output_format", "read_metadata", "write_table",
                    "write_table_chunks"],
        "partition_task": ["PartitionJob", "PartitionResult", "job_model", "run_partition"],
        "partitions": ["Partition", "find_partitions", "is_partitioned", "read_partition"],
        "pca": ["PCAProjection", "fit_pca"],
        "predict": ["WrittenTable", "predict_catalog", "predict_to_file"],
        "resumable": ["PartStore", "chunk_bounds", "ids_digest", "parts_dir_for"],
        "worst": ["WORST_KEPT", "worst_galaxies", "worst_vote_galaxies"],
    },
)
