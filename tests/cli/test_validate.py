"""Tests of ``galmorph validate``: exit codes and what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from galmorph.cli import main
from galmorph.data import bundled
from galmorph.data.table_files import read_table


def run_validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["validate", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_good_catalog(capsys: pytest.CaptureFixture[str], small_catalog: Path) -> None:
    status, out, err = run_validate(capsys, str(small_catalog), "--schema", "gz2")
    assert status == 0, out + err
    assert "Galaxies (rows)" in out and "Images found" in out
    assert "Image sizes" in out and "128x128 px, 3 channels (all)" in out
    assert "Questions with vote columns (9 of 11)" in out
    assert "t10_arms_winding, t11_arms_number" in out
    assert "Votes per galaxy" in out and "median" in out
    assert "Ready to use: 8 galaxies." in out
    assert "Rows are numbered" not in out  # no message names a row


def test_without_a_schema_votes_are_not_needed(
    capsys: pytest.CaptureFixture[str], make_catalog
) -> None:
    catalog = make_catalog(4, edit=lambda frame: frame[["id_str", "file_loc"]])
    status, out, _ = run_validate(capsys, str(catalog))
    assert status == 0
    assert "Ready to use: 4 galaxies." in out and "add --schema NAME" in out
    status, out, _ = run_validate(capsys, str(catalog), "--schema", "gz2")
    assert status == 1 and "none of the vote columns" in out


def test_unreadable_images_are_problems_naming_their_rows(
    capsys: pytest.CaptureFixture[str], small_catalog: Path
) -> None:
    frame = read_table(small_catalog)
    (small_catalog.parent / frame["file_loc"][2]).write_bytes(b"not a jpeg")
    status, out, _ = run_validate(capsys, str(small_catalog))
    assert status == 1
    assert "1 image file cannot be read" in out and f"row 2 ({frame['id_str'][2]})" in out
    status, out, _ = run_validate(capsys, str(small_catalog), "--quick")
    assert status == 0 and "Image sizes" not in out


def test_16_bit_colour_images_are_noted_with_their_rows(
    capsys: pytest.CaptureFixture[str], small_catalog: Path, write_rgb16
) -> None:
    frame = read_table(small_catalog)
    deep = small_catalog.parent / "deep.tif"
    write_rgb16(deep, (np.arange(32 * 32 * 3).reshape(32, 32, 3) % 900).astype(np.uint16))
    frame.loc[5, "file_loc"] = "deep.tif"
    frame.to_csv(small_catalog, index=False)
    status, out, _ = run_validate(capsys, str(small_catalog))
    text = " ".join(out.split())
    assert status == 0 and "1 image file stores colour at 16 bits per channel" in text
    assert f"row 5 ({frame['id_str'][5]})" in text and "save such images as FITS" in text
    frame.loc[5, "file_loc"] = "images/" + Path(frame["file_loc"][4]).name
    frame.to_csv(small_catalog, index=False)
    assert "16 bits" not in " ".join(run_validate(capsys, str(small_catalog))[1].split())


def test_wrong_schema(capsys: pytest.CaptureFixture[str], small_catalog: Path) -> None:
    status, out, err = run_validate(capsys, str(small_catalog), "--schema", "gz-decals-dr5")
    assert status == 1
    assert "Not usable: 1 problem" in out
    assert "smooth-or-featured_smooth" in out and "--schema" in out
    assert "Traceback" not in out + err


def test_yaml_schema(capsys: pytest.CaptureFixture[str], small_catalog: Path) -> None:
    schema = small_catalog.parent / "tree.yaml"
    schema.write_text(
        "name: smooth-only\n"
        "questions:\n"
        "  - name: t01_smooth_or_features\n"
        "    answers:\n"
        "      - {name: smooth, column: t01_smooth_or_features_a01_smooth_count}\n"
        "      - {name: features, column: t01_smooth_or_features_a02_features_or_disk_count}\n"
    )
    status, out, _ = run_validate(capsys, str(small_catalog), "--schema", str(schema))
    assert status == 0
    assert "smooth-only (1 question, 2 answers)" in out


def test_missing_images(capsys: pytest.CaptureFixture[str], small_catalog: Path) -> None:
    (small_catalog.parent / read_table(small_catalog)["file_loc"][3]).unlink()
    status, out, _ = run_validate(capsys, str(small_catalog))
    assert status == 1
    assert "image file missing for 1 of 8 rows" in out and "--skip-missing-images" in out

    status, out, _ = run_validate(capsys, str(small_catalog), "--skip-missing-images")
    assert status == 0
    assert "skipping 1 of 8 rows with a missing image file" in out
    assert "Ready to use: 7 galaxies (skipping 1 without an image file)." in out


def test_images_elsewhere_are_counted(capsys: pytest.CaptureFixture[str],
                                      small_catalog: Path) -> None:
    frame = read_table(small_catalog)
    frame.loc[[1, 2], "file_loc"] = ["https://x.org/a.jpg", "D:\\cutouts\\b.jpg"]
    frame.to_csv(small_catalog, index=False)
    status, out, _ = run_validate(capsys, str(small_catalog))
    assert status == 1
    counts = {line.split("  ")[0]: line.split()[2] for line in out.splitlines()
              if line.startswith("Images ")}
    assert counts == {"Images found": "6", "Images missing": "0", "Images elsewhere": "2"}


def test_every_problem_is_listed(capsys: pytest.CaptureFixture[str], make_catalog) -> None:
    def edit(frame):
        frame.loc[1, "id_str"] = frame.loc[0, "id_str"]
        frame.loc[2, "t03_bar_a06_bar_count"] = -2
        return frame

    status, out, _ = run_validate(capsys, str(make_catalog(edit=edit)), "--schema", "gz2")
    assert status == 1
    assert "Not usable: 2 problems" in out
    assert "1. id_str must be unique" in out
    assert "2. column 't03_bar_a06_bar_count' must hold vote counts" in out
    assert "Rows are numbered from 0, the first after the header" in " ".join(out.split())


def test_a_folder_of_images_has_no_spreadsheet_rows(capsys: pytest.CaptureFixture[str],
                                                    make_catalog) -> None:
    folder = make_catalog(4).parent / "images"
    (folder / "broken.jpg").write_bytes(b"")
    status, out, _ = run_validate(capsys, str(folder))
    assert status == 1 and "broken.jpg" in out
    assert "Rows are numbered" not in out  # its messages name the files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cat.fits", b"not a fits file at all" * 10, "cannot read"),
        ("cat.txt", b"id_str,file_loc\n", "unknown table format"),
        ("missing.csv", None, "does not exist"),
    ],
)
def test_unreadable_catalog(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    status, out, err = run_validate(capsys, str(path))
    assert status == 2
    assert message in err and name in err
    assert "Traceback" not in out + err


def test_unknown_schema(capsys: pytest.CaptureFixture[str], small_catalog: Path) -> None:
    status, _, err = run_validate(capsys, str(small_catalog), "--schema", "gz3")
    assert status == 2
    assert "unknown schema 'gz3'" in err


@pytest.mark.slow
def test_console_script_on_shared_data(shared_data: Path) -> None:
    script = Path(sys.executable).with_name("galmorph")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "galmorph"]
    catalog = str(shared_data / "gz2_sdss" / "catalog.csv")

    good = subprocess.run(
        [*command, "validate", catalog, "--schema", "gz2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Galaxies (rows)    6092" in good.stdout
    assert "Questions without vote columns (2): t10_arms_winding, t11_arms_number" in good.stdout
    assert "Ready to use: 6092 galaxies." in good.stdout

    wrong = subprocess.run(
        [*command, "validate", catalog, "--schema", "gz-decals-dr5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 1
    assert "smooth-or-featured_smooth" in wrong.stdout
    assert "Traceback" not in wrong.stdout + wrong.stderr


def test_next_steps_follow_a_usable_catalog(
    capsys: pytest.CaptureFixture[str], small_catalog: Path
) -> None:
    status, out, _ = run_validate(capsys, str(small_catalog))
    assert status == 0 and "Next, for example:" in out
    assert f"galmorph predict {small_catalog} -o predictions.parquet" in out
    assert f"galmorph embed {small_catalog} -o embeddings.parquet" in out
    assert "galmorph adapt" not in out  # the bundled images are the starter's kind

    status, out, _ = run_validate(capsys, str(small_catalog), "--schema", "gz2")
    assert f"galmorph train {small_catalog} --schema gz2 -o run" in out
    assert f"galmorph evaluate {small_catalog}" in out

    tree = small_catalog.parent / "smooth.yaml"
    columns = ["t01_smooth_or_features_a01_smooth_count",
               "t01_smooth_or_features_a02_features_or_disk_count"]
    tree.write_text("name: smooth\nquestions:\n  - name: smooth\n    answers:\n"
                    + "".join(f"      - {{name: {name}, column: {column}}}\n"
                              for name, column in zip(("yes", "no"), columns, strict=True)))
    status, out, _ = run_validate(capsys, str(small_catalog), "--schema", str(tree))
    assert status == 0 and f"galmorph train {small_catalog} --schema {tree} -o run" in out
    assert "galmorph evaluate" not in out  # the shipped model answers GZ2's questions only

    (small_catalog.parent / read_table(small_catalog)["file_loc"][3]).unlink()
    status, out, _ = run_validate(capsys, str(small_catalog), "--skip-missing-images")
    assert f"galmorph predict {small_catalog} --skip-missing-images -o" in out
    status, out, _ = run_validate(capsys, str(small_catalog))
    assert status == 1 and "Next" not in out


def test_columns_with_other_names(capsys: pytest.CaptureFixture[str], make_catalog) -> None:
    catalog = make_catalog(4, edit=lambda frame: frame.rename(
        columns={"id_str": "objid", "file_loc": "cutout"}))
    status, out, _ = run_validate(capsys, str(catalog))
    assert status == 1 and "--id-column and --file-column" in out
    status, out, _ = run_validate(capsys, str(catalog), "--id-column", "objid",
                                  "--file-column", "cutout")
    assert status == 0 and "Ready to use: 4 galaxies." in out
    assert f"galmorph predict {catalog} --id-column objid --file-column cutout -o" in out


def test_images_unlike_the_starters_are_noted(
    capsys: pytest.CaptureFixture[str], wide_field_catalog: Path, tmp_path: Path
) -> None:
    """256 px images: adapt the starter first. A FITS image among JPEGs: stretched unlike
    them."""
    import numpy as np
    import pandas as pd
    from astropy.io import fits

    status, out, _ = run_validate(capsys, str(wide_field_catalog))
    out = " ".join(out.split())
    assert status == 0 and "learnt 128x128 px SDSS DR16 cutouts" in out
    assert f"adapt it first: galmorph adapt {wide_field_catalog} -o adapted.pt" in out
    assert "FITS" not in out

    image = np.random.default_rng(0).normal(10, 1, (3, 256, 256)).astype("float32")
    fits.PrimaryHDU(image).writeto(tmp_path / "cube.fits")
    frame = pd.read_csv(wide_field_catalog)
    frame["file_loc"] = [str(wide_field_catalog.parent / loc) for loc in frame["file_loc"]]
    extra = pd.DataFrame({"id_str": ["cube"], "file_loc": [str(tmp_path / "cube.fits")]})
    pd.concat([frame, extra]).to_csv(tmp_path / "mixed.csv", index=False)
    status, out, _ = run_validate(capsys, str(tmp_path / "mixed.csv"))
    assert status == 0 and "1 image is FITS and 16 are not" in " ".join(out.split())


@pytest.mark.parametrize("write", [
    pytest.param(lambda f, p: p.write_text(f.to_csv(index=False), encoding="utf-8-sig"),
                 id="byte-order-mark"),
    pytest.param(lambda f, p: p.write_text("\ufeff" + f.to_csv(index=False, sep=";",
                                                              lineterminator="\r\n")),
                 id="excel-semicolons"),
    pytest.param(lambda f, p: p.write_text(f.to_csv(index=False) + ",,\n,,\n\n"),
                 id="blank-rows-at-the-end"),
])
def test_spreadsheet_csvs(capsys: pytest.CaptureFixture[str], make_catalog, write) -> None:
    """CSV files as spreadsheets save them are read as they are (id_str found)."""
    catalog = make_catalog(3, edit=lambda frame: frame[["id_str", "file_loc", "ra"]])
    write(read_table(catalog), catalog)
    status, out, _ = run_validate(capsys, str(catalog))
    assert status == 0 and "Ready to use: 3 galaxies." in out, out


def test_image_sizes_beyond_three_and_a_catalog_without_rows(
    capsys: pytest.CaptureFixture[str], make_catalog, tmp_path: Path
) -> None:
    from PIL import Image

    def four_sizes(frame):  # 3 new sizes and the bundled 128 px
        for side, row in zip((40, 48, 56), range(3), strict=True):
            Image.new("RGB", (side, side), (90, 60, 30)).save(tmp_path / f"s{side}.png")
            frame.loc[frame.index[row], "file_loc"] = f"s{side}.png"
        return frame

    status, out, _ = run_validate(capsys, str(make_catalog(5, edit=four_sizes)))
    text = " ".join(out.split())
    assert status == 0
    assert "3 channels: 1; 1 more size)" in text  # not "1 more sizes"
    assert "field of view and pixel scale" in text and "grey and colour" not in text

    def one_grey(frame):  # the same 128 px, one of them grey
        path = tmp_path / "grey.png"
        Image.open(bundled.demo_dir() / frame["file_loc"].iloc[0]).convert("L").save(path)
        frame.loc[frame.index[0], "file_loc"] = str(path)
        return frame

    status, out, _ = run_validate(capsys, str(make_catalog(5, name="grey.csv", edit=one_grey)))
    text = " ".join(out.split())
    assert "grey and colour images are mixed" in text and "pixel scale" not in text
    empty = make_catalog(1, name="empty.csv", edit=lambda frame: frame.iloc[:0])
    status, out, _ = run_validate(capsys, str(empty))
    assert status == 1 and "not checked (no rows)" in out and "no file_loc column" not in out
