"""Error types raised by galmorph for bad user input.

Every error a user can cause (a bad catalog, a corrupt image, an unknown schema)
is a :class:`GalmorphError`; the command line prints its message and exits with
status 2 instead of showing a traceback.
"""


class GalmorphError(Exception):
    """Base class for errors caused by user input (files, options, data)."""


class SchemaError(GalmorphError):
    """A decision-tree schema is invalid or unknown."""


class CatalogError(GalmorphError):
    """A catalog cannot be read or does not match what the job needs."""


class ImageError(GalmorphError):
    """An image file is missing, corrupt or has an unsupported format."""


class ModelError(GalmorphError):
    """A model checkpoint cannot be found, downloaded or loaded."""


class GalmorphWarning(UserWarning):
    """Something in the input was fixed up or skipped; the job goes on (e.g. dropped rows)."""


def user_message(err: GalmorphError) -> str:
    """The error's own message, without the wrapping a data-loader worker adds
    (the worker's number and the traceback) when it raised the error.

    Example:
        >>> user_message(ImageError("image file a.jpg is empty"))
        'image file a.jpg is empty'
    """
    text = str(err)
    if text.startswith("Caught ") and "\nOriginal Traceback" in text:
        text = text.rsplit(f"{type(err).__module__}.{type(err).__qualname__}: ", 1)[-1]
    return text.strip()
