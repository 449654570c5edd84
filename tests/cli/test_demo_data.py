from galmorph.cli import main
from galmorph.data.catalog import load_catalog


def test_demo_data_copies_a_usable_catalog(tmp_path, capsys):
    target = tmp_path / "demo"
    assert main(["demo-data", str(target)]) == 0
    frame = load_catalog(target / "catalog.csv", "gz2")
    assert len(frame) == 630
    assert all(path.startswith(str(target)) for path in frame["file_loc"])
    assert (target / "PROVENANCE.md").is_file()
    assert main(["demo-data", str(target)]) == 2  # never overwrites
    assert "not empty" in capsys.readouterr().err
