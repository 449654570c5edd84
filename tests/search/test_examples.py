"""Search from several examples (galmorph.search.examples and ``similar --examples``):
each way of combining them against brute force, sky duplicates, the examples file, and
the command line."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import Table
from PIL import Image

from galmorph.cli import main
from galmorph.data.table_files import read_table
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import METADATA_KEY, Embeddings
from galmorph.inference.outputs import read_metadata
from galmorph.search.example_files import read_example_ids
from galmorph.search.examples import like_examples
from galmorph.search.index import exact_distances, search_vectors
from galmorph.search.search import SimilaritySearch

MakeEmbeddings = Callable[..., Embeddings]
EXAMPLES = [3, 40, 177, 260]


def _distances(features: np.ndarray, metric: str) -> np.ndarray:
    """``(len(EXAMPLES), n)`` exact distances from each example to every row."""
    vectors = search_vectors(features, metric)
    return np.stack([exact_distances(vectors[e], vectors, metric) for e in EXAMPLES])


def _others(n: int) -> np.ndarray:
    return np.setdiff1d(np.arange(n), EXAMPLES)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_nearest_ranks_by_the_distance_to_the_nearest_example(
        random_features: np.ndarray, make_embeddings: MakeEmbeddings, metric: str) -> None:
    emb = make_embeddings(random_features)
    result = like_examples(SimilaritySearch(emb, metric), emb.ids[EXAMPLES], 12,
                           combine="nearest")
    distances = _distances(random_features, metric)
    others = _others(len(emb.ids))
    nearest = distances[:, others].min(axis=0)
    expected = others[np.lexsort((others, nearest))][:12]
    table = result.neighbours
    assert table["row"].tolist() == expected.tolist()
    assert table["distance"].to_numpy() == pytest.approx(nearest[np.searchsorted(others,
                                                                                 expected)])
    which = distances[:, expected].argmin(axis=0)
    assert table["nearest_example"].tolist() == emb.ids[np.asarray(EXAMPLES)[which]].tolist()
    assert table["example_distance"].tolist() == table["distance"].tolist()
    assert result.query == {"kind": "examples", "combine": "nearest",
                            "ids": emb.ids[EXAMPLES].tolist(), "missing": []}


def test_rank_gives_every_example_its_turn(random_features: np.ndarray,
                                           make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(random_features)
    search = SimilaritySearch(emb, "euclidean")
    table = like_examples(search, emb.ids[EXAMPLES], 9, combine="rank").neighbours
    distances = _distances(random_features, "euclidean")
    others = _others(len(emb.ids))
    own = [others[np.argsort(d[others], kind="stable")] for d in distances]  # each one's list
    # ranks 1, then 2, then the first of the rank-3 galaxies, each rank nearer first
    firsts = sorted({int(o[0]) for o in own}, key=lambda r: distances[:, r].min())
    assert table["row"].tolist()[:len(firsts)] == firsts
    best = {int(r): min(int(np.flatnonzero(o == r)[0]) if r in o[:9] else 99 for o in own)
            for r in table["row"]}
    assert list(best.values()) == sorted(best.values())
    assert set(table["nearest_example"]) == set(emb.ids[EXAMPLES])  # each one contributed
    for row in table.itertuples():  # named: the example that ranks it best
        example = EXAMPLES[emb.ids[EXAMPLES].tolist().index(row.nearest_example)]
        assert own[EXAMPLES.index(example)].tolist().index(row.row) == best[row.row]
        assert row.example_distance == pytest.approx(distances[EXAMPLES.index(example), row.row])


def test_centroid_ranks_by_the_distance_to_the_examples_mean(
        random_features: np.ndarray, make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(random_features)
    table = like_examples(SimilaritySearch(emb, "cosine"), emb.ids[EXAMPLES], 10,
                          combine="centroid").neighbours
    vectors = search_vectors(random_features, "cosine")
    mean = search_vectors(vectors[EXAMPLES].mean(axis=0)[None], "cosine")[0]  # its direction
    to_mean = exact_distances(mean, vectors, "cosine")
    others = _others(len(emb.ids))
    expected = others[np.argsort(to_mean[others], kind="stable")][:10]
    assert table["row"].tolist() == expected.tolist()
    assert table["distance"].to_numpy() == pytest.approx(to_mean[expected])
    assert (table["example_distance"].to_numpy()
            == pytest.approx(_distances(random_features, "cosine")[:, expected].min(axis=0)))


def test_examples_and_their_sky_duplicates_are_left_out(make_embeddings: MakeEmbeddings) -> None:
    features = np.array([[1.0, 0], [0, 1], [0.99, 0.05], [0.98, 0.1], [0.97, 0.1], [0.5, 0.5],
                         [0.02, 1]])
    ra = np.array([10.0, 20, 10 + 1 / 3600, 30, 30 + 1 / 3600, 40, 50])
    dec = np.zeros(7)
    emb = make_embeddings(features, ra=ra, dec=dec)
    table = like_examples(SimilaritySearch(emb, "euclidean"), ["G0", "G1"], 10,
                          combine="nearest").neighbours
    # G2 is G0 again on the sky; G4 is G3 again (only the nearer, G3, is kept)
    assert table["id_str"].tolist() == ["G6", "G3", "G5"]
    assert table["nearest_example"].tolist() == ["G1", "G0", "G0"]


def test_missing_examples_and_bad_arguments(make_embeddings: MakeEmbeddings,
                                            random_features: np.ndarray) -> None:
    search = SimilaritySearch(make_embeddings(random_features))
    with pytest.warns(GalmorphWarning, match=r"1 of the 3 examples .* left out: 'nope'"):
        result = like_examples(search, ["G1", "nope", "G2"], 3)
    assert result.query["ids"] == ["G1", "G2"] and result.query["missing"] == ["nope"]
    with pytest.raises(GalmorphError, match=r"none of the 2 example ids \('x', 'y'\)"):
        like_examples(search, ["x", "y"])
    assert like_examples(search, ["g1", "G2", "g2"], 3).query["ids"] == ["G1", "G2"]  # any case
    assert search.by_id("g7", 2).query["id_str"] == "G7"  # one galaxy too
    with pytest.raises(TypeError, match="ids must be a list of galaxy ids, got the string 'G1'"):
        like_examples(search, "G1")
    with pytest.raises(ValueError, match="no example ids given"):
        like_examples(search, [])
    with pytest.raises(ValueError, match="combine must be one of centroid, nearest, rank"):
        like_examples(search, ["G1"], combine="mean")
    opposite = make_embeddings(np.array([[1.0, 0], [-1.0, 0], [0, 1]]))
    with pytest.raises(GalmorphError, match="mean has no direction"):
        like_examples(SimilaritySearch(opposite), ["G0", "G1"], 1, combine="centroid")


def test_a_partitioned_folder_gives_the_file_s_ranking(
        random_features: np.ndarray, make_embeddings: MakeEmbeddings,
        write_partitions: Callable[..., Path], tmp_path: Path) -> None:
    folder = write_partitions(random_features, tmp_path / "emb", [150, 150, 100])
    ids = [f"G{r}" for r in EXAMPLES]
    for way in ("nearest", "rank", "centroid"):
        whole = like_examples(SimilaritySearch(make_embeddings(random_features)), ids, 15,
                              combine=way).neighbours
        parts = like_examples(SimilaritySearch(folder, index="exact"), ids, 15,
                              combine=way).neighbours
        assert parts["id_str"].tolist() == whole["id_str"].tolist(), way
        assert parts["distance"].to_numpy() == pytest.approx(whole["distance"].to_numpy(),
                                                             abs=1e-6)


def test_an_ivf_index_probing_every_list_gives_the_exact_ranking(
        random_features: np.ndarray, make_embeddings: MakeEmbeddings,
        write_partitions: Callable[..., Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from galmorph.search import index as index_module

    monkeypatch.setattr(index_module, "TRAIN_PER_LIST", 5)
    folder = write_partitions(random_features, tmp_path / "emb", [150, 150, 100])
    approximate = SimilaritySearch(folder, "euclidean", "ivf")
    assert approximate.index.kind == "ivf"
    approximate.index.set_effort(approximate.index.params["nlist"])
    exact = SimilaritySearch(make_embeddings(random_features), "euclidean", "exact")
    ids = [f"G{r}" for r in EXAMPLES]
    for way in ("centroid", "nearest", "rank"):
        found = like_examples(approximate, ids, 15, combine=way).neighbours
        truth = like_examples(exact, ids, 15, combine=way).neighbours
        assert found["id_str"].tolist() == truth["id_str"].tolist(), way


def test_examples_files(tmp_path: Path) -> None:
    text = tmp_path / "rings.txt"
    text.write_text("\ufeff# rings I found\nJ1\n\n  J2  # the bright one\nJ1\n")
    assert read_example_ids(text) == ["J1", "J2"]
    table = tmp_path / "picked.csv"
    pd.DataFrame({"ID_STR": ["007", "J3", None], "score": [5, 4, 3]}).to_csv(table, index=False)
    assert read_example_ids(table) == ["007", "J3"]  # ids stay text; blanks left out
    pd.DataFrame({"name": ["J1"], "score": [5]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(GalmorphError, match=r"other.csv has no id_str column \(its columns: "
                                            r"name, score\)"):
        read_example_ids(tmp_path / "other.csv")
    # one column: its values as written, whatever its name; its header too where it looks
    # like an id (a list saved without one)
    (tmp_path / "objid.csv").write_text("objid\n587722981741363200\n\n587722981741363201\n")
    assert read_example_ids(tmp_path / "objid.csv") == ["587722981741363200",
                                                        "587722981741363201"]
    (tmp_path / "bare.csv").write_text("J140631.97-015807.9\nJ1\n")
    assert read_example_ids(tmp_path / "bare.csv") == ["J140631.97-015807.9", "J1"]
    (tmp_path / "zeros.csv").write_text("007\n008\n")
    assert read_example_ids(tmp_path / "zeros.csv") == ["007", "008"]
    Table({"ID_STR": ["J1", "J2"], "ra": [1.0, 2.0]}).write(tmp_path / "topcat.fits")
    assert read_example_ids(tmp_path / "topcat.fits") == ["J1", "J2"]  # a table, not an image
    (tmp_path / "rings.dat").write_text("J1 # any other ending is a text file of ids\n")
    assert read_example_ids(tmp_path / "rings.dat") == ["J1"]
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    with pytest.raises(GalmorphError, match="empty.txt holds no galaxy id"):
        read_example_ids(tmp_path / "empty.txt")
    with pytest.raises(GalmorphError, match="gone.txt does not exist"):
        read_example_ids(tmp_path / "gone.txt")
    (tmp_path / "img.txt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    (tmp_path / "table").write_bytes(b"PAR1\x15\x04\x15\x00")
    for binary in ("img.txt", "table"):
        with pytest.raises(GalmorphError, match=f"{binary} is neither a text file of ids"):
            read_example_ids(tmp_path / binary)
    Image.new("RGB", (4, 4)).save(tmp_path / "ring.jpg")
    with pytest.raises(GalmorphError, match=r"ring.jpg is an image: .* use --image"):
        read_example_ids(tmp_path / "ring.jpg")


# ------------------------------------------------------------------ the command line
def _write_embeddings(emb: Embeddings, folder: Path) -> Path:
    """``emb`` as an embeddings file with positions and a small image each."""
    (folder / "images").mkdir()
    files = []
    for i, galaxy in enumerate(emb.ids):
        files.append(str(folder / "images" / f"{galaxy}.png"))
        Image.new("RGB", (8, 8), (4 * i % 256, 100, 200)).save(files[-1])
    n = len(emb.ids)
    columns = {"id_str": emb.ids.tolist(), "ra": np.linspace(1, 60, n), "dec": np.zeros(n),
               "file_loc": files}
    columns |= {f"feat_{j}": emb.features[:, j] for j in range(emb.features.shape[1])}
    path = folder / "emb.parquet"
    pq.write_table(pa.table(columns).replace_schema_metadata(
        {METADATA_KEY: emb.info.to_json()}), path)
    return path


@pytest.fixture
def embeddings_file(tmp_path: Path, random_features: np.ndarray,
                    make_embeddings: MakeEmbeddings) -> Path:
    """60 of the random features as an embeddings file (ids G0...)."""
    return _write_embeddings(make_embeddings(random_features[:60]), tmp_path)


def test_similar_examples_print_whole_ids(random_features: np.ndarray, tmp_path: Path,
                                          make_embeddings: MakeEmbeddings,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Ids of 19 characters in four columns fit an 80-column console whole (to copy)."""
    emb = make_embeddings(random_features[:30])
    emb.ids = np.array([f"J{i:06d}.00+{i:06d}.0" for i in range(30)], dtype=object)
    path = _write_embeddings(emb, tmp_path)
    examples = tmp_path / "mine.txt"
    examples.write_text("\n".join(emb.ids[:3]) + "\n")
    capsys.readouterr()
    assert main(["similar", str(path), "--examples", str(examples), "-k", "4",
                 "--combine", "nearest"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 4 and "…" not in out
    assert all(row[2] in set(emb.ids[3:]) and row[-1] in set(emb.ids[:3]) for row in rows)


def test_similar_examples_prints_writes_and_draws(embeddings_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    examples = tmp_path / "mine.txt"
    examples.write_text("G3\nG40\nG99\n")
    out, grid = tmp_path / "like.fits", tmp_path / "like.png"
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GalmorphWarning)
        assert main(["similar", str(embeddings_file), "--examples", str(examples), "-k", "5",
                     "--combine", "rank", "-o", str(out), "--grid", str(grid)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert ("Query: 2 examples (G3, G40), each example in turn; 1 id not in the embeddings "
            "left out") in printed
    assert f"Wrote {grid}" in printed and f"Wrote {out}" in printed
    assert "--grid neighbours.png" not in printed and "-o neighbours.csv" not in printed
    table = read_table(out)
    expected = like_examples(SimilaritySearch(embeddings_file), ["G3", "G40"], 5,
                             combine="rank").neighbours
    assert table["id_str"].tolist() == expected["id_str"].tolist()
    assert set(table["nearest_example"]) == {"G3", "G40"}
    assert json.loads(read_metadata(out)["galmorph_query"])["combine"] == "rank"
    with Image.open(grid) as png:
        png.verify()

    capsys.readouterr()
    assert main(["similar", str(embeddings_file), "--examples", str(examples), "-k", "3",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["query"]["kind"] == "examples" and result["query"]["missing"] == ["G99"]
    assert result["query"]["combine"] == "centroid"  # the default
    assert [n["rank"] for n in result["neighbours"]] == [1, 2, 3]


def test_similar_examples_usage_errors(embeddings_file: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    examples = tmp_path / "mine.txt"
    examples.write_text("G3\n")
    base = ["similar", str(embeddings_file)]
    with pytest.raises(SystemExit) as stop:
        main([*base, "--id", "G3", "--combine", "centroid"])
    assert stop.value.code == 2
    assert "--combine is for --examples queries" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--id", "G3", "--examples", str(examples)])
    assert "not allowed with argument" in capsys.readouterr().err
    picked = tmp_path / "picked.csv"
    picked.write_text("id_str\nG3\n")
    assert main([*base, "--examples", str(picked), "-o", str(picked)]) == 2
    assert "would overwrite the examples" in " ".join(capsys.readouterr().err.split())
    assert picked.read_text() == "id_str\nG3\n"
    assert main([*base, "--examples", str(examples), "-o", str(embeddings_file)]) == 2
    assert "would overwrite the embeddings" in " ".join(capsys.readouterr().err.split())
    assert main([*base, "--examples", str(tmp_path / "none.txt")]) == 2
    assert "none.txt does not exist" in capsys.readouterr().err
    assert main([*base, "--examples", str(examples), "-o", str(tmp_path / "x.txt")]) == 2
    assert not (tmp_path / "x.txt").exists()


def test_one_example_and_too_few_galaxies_are_said_plainly(
        embeddings_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = tmp_path / "mine.txt"
    examples.write_text("G3\n")
    capsys.readouterr()
    assert main(["similar", str(embeddings_file), "--examples", str(examples), "-k", "2",
                 "-o", str(tmp_path / "t.csv")]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "Query: 1 example (G3), ranked by distance to it" in printed
    assert "To see them: --grid neighbours.png." in printed  # -o given: not suggested again
    examples.write_text("".join(f"G{i}\n" for i in range(55)))
    assert main(["similar", str(embeddings_file), "--examples", str(examples), "-k", "9"]) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert ("only 5 neighbours of the 9 asked for: " in said
            and "has 60 galaxies, and the 55 examples and entries of the same object" in said)


def test_grid_captions_say_what_the_distances_are(
        embeddings_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each neighbour's caption pairs its nearest example with the distance to that example;
    the title says what orders them and that 0 means alike; a query shows 'distance'."""
    import galmorph.report.plots as plots

    drawn: list[tuple[list[str], str]] = []
    monkeypatch.setattr(plots, "galaxy_grid",
                        lambda files, captions, **kw: drawn.append((captions, kw["title"])))
    examples = tmp_path / "mine.txt"
    examples.write_text("G3\nG40\n")
    base = ["similar", str(embeddings_file), "-k", "3", "--grid", str(tmp_path / "g.png")]
    assert main([*base, "--examples", str(examples)]) == 0
    assert main([*base, "--id", "G3"]) == 0
    (examples_captions, examples_title), (captions, title) = drawn
    table = like_examples(SimilaritySearch(embeddings_file), ["G3", "G40"], 3).neighbours
    first = table.iloc[0]
    assert examples_captions[2] == (f"1. {first.id_str}\nnearest example:\n"
                                    f"{first.nearest_example}, {first.example_distance:.3g}")
    assert examples_title == ("3 galaxies like 2 examples (framed) ranked by distance to the "
                              "examples' mean; cosine distance, 0 = alike")
    assert captions[0] == "query\nG3" and captions[1].split("\n")[1].startswith("distance ")
    assert title.startswith("The 3 galaxies nearest the query (framed)")
