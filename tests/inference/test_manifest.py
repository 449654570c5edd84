"""The manifest of a partitioned output: what it records, when a partition counts as done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.manifest import MANIFEST_NAME, Manifest, PartitionRecord

JOB = {"kind": "predict", "model_sha256": "ab" * 32, "views": 1, "stages": (2,)}
NAME = "Norder=0/Dir=0/Npix=4.parquet"
RECORD = PartitionRecord(rows=12, ids_sha256="cd" * 32, model_sha256="ab" * 32, rows_written=11)


def _done(out: Path) -> Manifest:
    """A manifest of ``out`` with NAME recorded and saved, and NAME's output file there."""
    (out / NAME).parent.mkdir(parents=True)
    (out / NAME).write_bytes(b"PAR1")
    manifest = Manifest(out, JOB)
    manifest.record(NAME, RECORD)
    manifest.save()
    return manifest


def test_a_new_manifest_has_nothing_and_writes_nothing(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "out", JOB)

    assert manifest.records == {}
    assert not manifest.is_complete(NAME, 12, RECORD.ids_sha256, RECORD.model_sha256)
    assert not (tmp_path / "out").exists()


def test_the_file_lists_the_job_and_every_partition(tmp_path: Path) -> None:
    _done(tmp_path)

    data = json.loads((tmp_path / MANIFEST_NAME).read_text())

    assert data == {
        "version": 1,
        "job": {"kind": "predict", "model_sha256": "ab" * 32, "stages": [2], "views": 1},
        "partitions": {NAME: {"rows": 12, "ids_sha256": "cd" * 32, "model_sha256": "ab" * 32,
                              "rows_written": 11, "source_root": "", "rows_unreadable": 0}},
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_a_manifest_written_before_catalog_roots_were_recorded_still_reads(
    tmp_path: Path
) -> None:
    _done(tmp_path)
    path = tmp_path / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["partitions"][NAME]["source_root"]
    del data["partitions"][NAME]["rows_unreadable"]  # nor rows left out as unreadable
    path.write_text(json.dumps(data))

    assert Manifest(tmp_path, dict(JOB)).records == {NAME: RECORD}


def test_a_partition_is_complete_for_the_same_rows_ids_and_model(tmp_path: Path) -> None:
    _done(tmp_path)
    again = Manifest(tmp_path, dict(JOB))

    assert again.records == {NAME: RECORD}
    assert again.is_complete(NAME, 12, "cd" * 32, "ab" * 32)
    assert not again.is_complete(NAME, 13, "cd" * 32, "ab" * 32)
    assert not again.is_complete(NAME, 12, "ce" * 32, "ab" * 32)
    assert not again.is_complete(NAME, 12, "cd" * 32, "ac" * 32)
    assert not again.is_complete("Norder=0/Dir=0/Npix=5.parquet", 12, "cd" * 32, "ab" * 32)


def test_a_recorded_partition_without_its_output_file_is_not_complete(tmp_path: Path) -> None:
    _done(tmp_path)
    (tmp_path / NAME).unlink()

    assert not Manifest(tmp_path, JOB).is_complete(NAME, 12, "cd" * 32, "ab" * 32)


def test_another_job_finds_nothing_complete_and_replaces_it(tmp_path: Path) -> None:
    _done(tmp_path)
    other = Manifest(tmp_path, {**JOB, "views": 8})

    assert other.records == {}
    other.save()
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["job"]["views"] == 8
    assert Manifest(tmp_path, JOB).records == {}


def test_another_kind_of_output_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    _done(tmp_path)
    before = (tmp_path / MANIFEST_NAME).read_text()

    with pytest.raises(GalmorphError) as caught:
        Manifest(tmp_path, {**JOB, "kind": "embed"})

    assert str(caught.value) == (
        f"{tmp_path} holds the output of galmorph predict ({tmp_path / MANIFEST_NAME}); "
        "galmorph embed would overwrite its files: give another output folder")
    assert (tmp_path / MANIFEST_NAME).read_text() == before


def test_forget_drops_an_entry(tmp_path: Path) -> None:
    manifest = _done(tmp_path)

    manifest.forget(NAME)
    manifest.forget("never/recorded.parquet")
    manifest.save()

    assert Manifest(tmp_path, JOB).records == {}


@pytest.mark.parametrize("text", [
    "{not json",
    '{"version": 2, "job": {}, "partitions": {}}',
    '{"version": 1, "job": {}}',
    '{"version": 1, "job": 5, "partitions": {}}',
    '{"version": 1, "job": {"views": 1}, "partitions": {}}',
    '{"version": 1, "job": {}, "partitions": {"a.parquet": {"rows": 1}}}',
    "[1, 2]",
])
def test_a_damaged_manifest_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)

    with pytest.raises(GalmorphError) as caught:
        Manifest(tmp_path, JOB)

    assert str(tmp_path / MANIFEST_NAME) in str(caught.value)
    assert "delete it" in str(caught.value)
