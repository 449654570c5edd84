from galmorph.cli import main
from galmorph.data.catalog import load_catalog


def test_demo_data_copies_a_usable_catalog(tmp_path, capsys):
    target = tmp_path / "demo"
    assert main(["demo-data", str(target)]) == 0
    frame = load_catalog(target / "catalog.csv", "gz2")
    assert len(frame) == 630
    assert all(path.startswith(str(target)) for path in frame["file_loc"])
    assert (target / "PROVENANCE.md").is_file()
    catalog = target / "catalog.csv"
    printed = capsys.readouterr().out
    assert f"Next: galmorph validate {catalog} --schema gz2" in printed  # what to do with it
    assert f"galmorph demo --data {catalog}" in printed
    assert main(["demo-data", str(target)]) == 2  # never overwrites
    assert "not empty" in capsys.readouterr().err


def test_a_long_path_is_printed_whole_on_a_narrow_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    target = tmp_path.joinpath(*["a-rather-long-folder-name"] * 4, "demo")
    assert main(["demo-data", str(target)]) == 0
    assert f"{target / 'catalog.csv'}" in capsys.readouterr().out  # no line break inside it
