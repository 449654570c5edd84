"""galmorph: practical galaxy morphology tools from deep supervised representations."""

from importlib.metadata import PackageNotFoundError, version

from galmorph.exceptions import (
    CatalogError,
    GalmorphError,
    GalmorphWarning,
    ImageError,
    ModelError,
    SchemaError,
)

try:
    __version__ = version("galmorph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CatalogError",
    "GalmorphError",
    "GalmorphWarning",
    "ImageError",
    "ModelError",
    "SchemaError",
    "__version__",
]
