"""galmorph.files: atomic writes name the file asked for when they cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest

from galmorph.files import atomic_target


def test_an_unwritable_place_is_named_by_the_path_asked_for() -> None:
    asked = Path("/proc/galmorph-ranking.csv")  # /proc takes no new files
    with pytest.raises(OSError) as caught, atomic_target(asked):
        pass
    assert caught.value.filename == str(asked) and ".tmp" not in str(caught.value)


def test_a_failed_block_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    with pytest.raises(RuntimeError), atomic_target(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert list((tmp_path / "sub").iterdir()) == []
