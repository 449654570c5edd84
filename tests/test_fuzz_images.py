"""Fuzzed image files: random bytes give an ImageError with a message, or an image.

Image files are random bytes, a real header followed by random bytes, or a real
JPEG, PNG or FITS file with bytes flipped, cut or inserted. Whatever the input,
``load_image`` must return an image the model can take or raise an
:class:`~galmorph.exceptions.ImageError` with a message: never another exception.
The test counts the cases it tried, by outcome (``pytest -s`` prints the counts);
the settings and checks are in ``tests/_fuzz.py``.
"""

from __future__ import annotations

import gzip
import io
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from tests._fuzz import IMAGES, expect_galmorph_error, fuzz_settings, quiet, report

from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image, to_channels
from galmorph.data.transforms import eval_transform
from galmorph.exceptions import ImageError

_serial = itertools.count()


# ------------------------------------------------------------- image bytes
def _real_files() -> dict[str, bytes]:
    """Small valid JPEG, PNG (8- and 16-bit) and FITS files to mutate."""
    files: dict[str, bytes] = {".jpg": IMAGES[0].read_bytes()}
    with Image.open(IMAGES[0]) as image:
        small = image.resize((24, 24))
        buffer = io.BytesIO()
        small.save(buffer, format="PNG")
        files[".png"] = buffer.getvalue()
        buffer = io.BytesIO()
        grey16 = np.asarray(small.convert("L"), dtype=np.uint16) * 200
        Image.fromarray(grey16).save(buffer, format="PNG")
        files["-16bit.png"] = buffer.getvalue()
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(3, 16, 16)).astype(np.float32)).writeto(
        buffer)
    files[".fits"] = buffer.getvalue()
    return files


REAL = _real_files()
MAGIC = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"SIMPLE  =                    T",
         b"GIF89a", b"II*\x00", b"MM\x00*", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"\x1f\x8b"]
IMAGE_SUFFIXES = [".jpg", ".jpeg", ".png", ".fits", ".fit", ".fits.gz", ".fz", ".gif", ".tif",
                  ".bmp", ".webp", ""]


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["random", "magic", "mutated", "mutated", "mutated"]))
    if how == "random":
        return draw(st.binary(max_size=2000))
    if how == "magic":
        return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=2000))
    data = bytearray(draw(st.sampled_from(sorted(REAL.values(), key=len))))
    for _ in range(draw(st.integers(1, 6))):
        edit = draw(st.sampled_from(["flip", "flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[at: at + draw(st.integers(1, 400))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=50))
        elif data:
            data[at: at + 16] = bytes(min(16, len(data) - at))
    return bytes(data)


def test_random_bytes_as_image_files(tmp_path: Path) -> None:
    outcomes: Counter = Counter()
    transform = eval_transform(ImageConfig.for_sdss_gz2(size=32))

    @fuzz_settings(500)
    @given(content=image_bytes(), suffix=st.sampled_from(IMAGE_SUFFIXES))
    def check(content: bytes, suffix: str) -> None:
        path = tmp_path / f"image-{next(_serial)}{suffix}"
        path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
        try:
            with quiet():
                image = load_image(path)
        except ImageError as err:
            outcomes[expect_galmorph_error(err, ImageError)] += 1
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] in (1, 3)
            assert min(image.shape[:2]) >= 1
            tensor = torch.from_numpy(to_channels(image, 3)).permute(2, 0, 1)
            assert transform(tensor).shape == (3, 32, 32)  # the model can take it
            outcomes["decoded"] += 1
        finally:
            path.unlink()

    check()
    report("image files", outcomes, 400)
