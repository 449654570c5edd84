"""Data: decision trees, catalogs, images and the loaders that feed them to models.

The path of the data through this subpackage: a :class:`Schema` (built-in by
:func:`get_schema`, or from YAML) names the vote columns; :func:`load_catalog`
reads and checks a catalog against it (:func:`summarize_catalog` reports the
problems instead of raising); :func:`load_image` reads each galaxy's image, which
:func:`eval_transform` or :func:`train_transform` turn into model inputs of the
shape an :class:`ImageConfig` describes; :class:`GalaxyDataset` and
:class:`GalaxyDataModule` put it together, split by :func:`assign_splits`.

What users import is named here and loaded on first use, so importing
``galmorph.data`` loads neither torch nor pandas.

Examples
--------
>>> from galmorph.data import demo_catalog, get_schema, load_catalog
>>> schema = get_schema("gz2-no-odd")
>>> catalog = load_catalog(demo_catalog(), schema)
>>> len(catalog), schema.n_answers
(630, 28)
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "bundled": ["demo_catalog", "demo_dir"],
        "defaults": ["FORMATS"],
        "catalog": ["load_catalog", "read_catalog", "summarize_catalog"],
        "cutouts": ["download_cutouts"],
        "datasets": ["GalaxyDataModule"],
        "galaxy_dataset": ["GalaxyDataset"],
        "image_config": ["ImageConfig"],
        "images": ["asinh_stretch", "load_image", "to_channels"],
        "table_files": ["read_table"],
        "schemas": ["builtin_schemas", "get_schema"],
        "splits": ["assign_splits"],
        "transforms": ["eval_transform", "train_transform"],
        "tree": ["Answer", "Question", "Schema"],
        "validation": ["CatalogSummary"],
        "views": ["VIEW_CHOICES", "average_over_views"],
    },
)
