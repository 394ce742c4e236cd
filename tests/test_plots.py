"""Training-curve plots: two real tiny s1-train runs of different lengths, the figure's panels,
lines and best-epoch stars checked against metrics.csv, the PNG, the command line and its
errors, and the plotting notebook run against the same runs."""

import argparse
import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnastruct import cli, plots
from rnastruct.cli import plot as plot_cli
from rnastruct.plots import (best_epoch, metric_direction, metrics_grid, read_run_metrics, read_runs,
                             save_png)
from rnastruct.errors import InputError
from rnastruct.s1.criterion import metric_names, selection_score
from rnastruct.s1.training import columns

REPO = Path(__file__).resolve().parents[1]
EPOCHS = {"run_a": 3, "run_b": 2}  # runs of different lengths


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Two real s1-train runs (debug network) on 16 real segments: run_a 3 epochs, run_b 2."""
    from rnastruct.config import load_config
    from rnastruct.datagen import GenerateConfig, generate
    from rnastruct.s1.training import S1Config, run
    from rnastruct.seqio import write_dataset

    from .conftest import HUMAN, need_shared_data

    need_shared_data()
    root = tmp_path_factory.mktemp("plots")
    table, manifest = generate(GenerateConfig(fasta=str(HUMAN / "mrna_20_records.fa"), length="20-28",
                                              num_seq=16, seed=3, workers=1, split_by="none",
                                              ens_div=False), progress=False)
    write_dataset(table, root / "data", manifest)
    for (name, epochs), seed in zip(EPOCHS.items(), (5555, 7)):
        cfg = load_config(S1Config, REPO / "configs/s1/debug.yaml", None,
                          [f"epochs={epochs}", f"seed={seed}", "valid_frac=0.25", "threads=1"])
        run(cfg, str(root / "data"), str(root / name), progress=False)
    return root


@pytest.fixture(scope="module")
def grid(runs_dir):
    runs = read_runs([runs_dir / name for name in EPOCHS])
    return runs, metrics_grid(runs)


def csv_rows(run_dir):
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def column(rows, tv, name):
    return [float(r[name]) if r[name] != "" else math.nan for r in rows if r["tv"] == tv]


def expected_best(rows):
    """The original's rule, computed from the raw CSV: first validation row with the highest sum
    of metrics, each diff negated."""
    valid = [r for r in rows if r["tv"] == "validation"]
    scores = [selection_score({k: float(r[k]) for k in metric_names()}) for r in valid]
    return int(valid[int(np.argmax(scores))]["epoch"])


def plot_main(*argv, monkeypatch=None):
    """``rnastruct plot ...`` through the real console script's main -> exit status."""
    return cli.main(["plot", *map(str, argv)])


def assert_png(path, min_side=300, max_side=6000):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
    assert min_side <= w <= max_side and min_side <= h <= max_side, (w, h)
    assert len(data) > 10_000
    return w, h


def test_read_run_metrics_is_the_csv(runs_dir):
    df = read_run_metrics(runs_dir / "run_a")
    assert list(df.columns) == columns()
    assert df.attrs["label"] == "run_a"
    assert list(df["tv"]) == ["training", "validation"] * EPOCHS["run_a"]
    assert list(df["epoch"]) == [1, 1, 2, 2, 3, 3] and df["epoch"].dtype.kind == "i"
    rows = csv_rows(runs_dir / "run_a")
    np.testing.assert_allclose(df["loss"], [float(r["loss"]) for r in rows])


def test_grid_has_one_titled_panel_per_metric(grid):
    _, fig = grid
    want = metric_names() + ["loss"]  # the original's column order, then the total loss
    assert len(fig.axes) == len(want) == 21
    for ax, metric in zip(fig.axes, want):
        title = ax.get_title()
        assert title.startswith(metric + " ")
        assert ("\u2193" in title) == (metric.endswith(".diff") or metric == "loss")
        assert ("\u2191" in title) == metric.endswith((".auroc", ".auprc", ".accuracy"))
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "training" in labels and "validation" in labels
    assert any(t.startswith("run_a (best epoch") for t in labels)


def test_metric_direction():
    assert [metric_direction(m) for m in ("stem_on.auroc", "hloop_on.auprc", "stem_sm_size.accuracy",
                                          "iloop_sl_size_x.diff", "loss", "stem_on.loss", "lr")] == [
        1, 1, 1, -1, -1, -1, 0]


def test_each_panel_has_two_lines_per_run_with_the_csv_values(grid, runs_dir):
    runs, fig = grid
    for ax, metric in zip(fig.axes, metric_names() + ["loss"]):
        lines = ax.get_lines()
        assert [line.get_gid() for line in lines] == [f"{r}/{tv}" for r in EPOCHS for tv in plots.SPLITS]
        for line in lines:
            run, tv = line.get_gid().split("/")
            rows = csv_rows(runs_dir / run)
            assert list(line.get_xdata()) == list(range(1, EPOCHS[run] + 1))
            np.testing.assert_allclose(line.get_ydata(), column(rows, tv, metric), equal_nan=True)
            assert line.get_linestyle() == ("--" if tv == "training" else "-")
        colours = {line.get_gid().split("/")[0]: line.get_color() for line in lines}
        assert len(set(colours.values())) == len(EPOCHS)  # one colour per run


def test_best_epoch_star_sits_where_selection_score_says(grid, runs_dir):
    runs, fig = grid
    for run in EPOCHS:
        rows = csv_rows(runs_dir / run)
        want = expected_best(rows)
        assert best_epoch(runs[run]) == want
        # s1-train picked its best.pt by the same rule
        from rnastruct.checkpoints import load_checkpoint
        assert load_checkpoint(runs_dir / run / "best.pt", "rnastruct.s1")["epoch"] == want
        valid = {int(r["epoch"]): r for r in rows if r["tv"] == "validation"}
        stars = 0
        for ax, metric in zip(fig.axes, metric_names() + ["loss"]):
            marks = [c for c in ax.collections if c.get_gid() == f"{run}/best"]
            value = float(valid[want][metric])
            if math.isnan(value):
                assert not marks  # nothing to star
                continue
            (mark,) = marks
            np.testing.assert_allclose(mark.get_offsets(), [[want, value]])
            stars += 1
        assert stars >= 10


def test_one_epoch_nan_values_and_unequal_runs(runs_dir, tmp_path):
    a = read_run_metrics(runs_dir / "run_a")
    one = read_run_metrics(runs_dir / "run_b").query("epoch == 1").copy()
    one.loc[one["tv"] == "validation", "stem_on.auroc"] = np.nan
    a.loc[a["epoch"] == 2, "loss"] = np.nan
    fig = metrics_grid({"three": a, "one": one}, ["stem_on.auroc", "loss", "hloop_on.auprc"], ncols=2)
    assert len(fig.axes) == 3  # the fourth cell of the 2 x 2 grid is removed
    auroc, loss, _ = fig.axes
    lines = {line.get_gid(): line for line in auroc.get_lines()}
    assert list(lines["one/training"].get_xdata()) == [1]
    assert lines["one/training"].get_marker() == "o"  # a single epoch shows as a point
    assert np.isnan(lines["one/validation"].get_ydata()).all()
    assert not [c for c in auroc.collections if c.get_gid() == "one/best"]
    y = {line.get_gid(): line for line in loss.get_lines()}["three/validation"].get_ydata()
    assert np.isnan(y[1]) and np.isfinite(y[[0, 2]]).all()
    assert_png(save_png(fig, tmp_path / "edge.png"), min_side=200)

    # a metric with no value at all is a labelled empty panel, not an error
    empty = one.assign(**{"stem_on.auroc": np.nan})
    fig = metrics_grid({"one": empty}, ["stem_on.auroc"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["no values"]
    assert fig.axes[0].get_xticks().tolist() == [1]


def test_cli_writes_a_png(runs_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid.png"
    assert plot_main("metrics", runs_dir / "run_a", runs_dir / "run_b", "--out", out,
                     monkeypatch=monkeypatch) == 0
    w, h = assert_png(out)
    assert h > w  # 6 rows of 4 panels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]  # no temporary file left
    err = capsys.readouterr().err
    assert f"best validation epoch: run_a {expected_best(csv_rows(runs_dir / 'run_a'))}" in err

    out2 = tmp_path / "two.png"
    assert plot_main("metrics", runs_dir / "run_b", "--out", out2, "--metrics", "loss", "stem_on.auroc",
                     monkeypatch=monkeypatch) == 0
    w2, h2 = assert_png(out2, min_side=200)
    assert w2 > h2 and w2 < w


def test_cli_parser_has_plot_kinds():
    p = argparse.ArgumentParser()
    plot_cli.add_args(p)
    args = p.parse_args(["metrics", "a", "b", "--out", "x.png", "--metrics", "loss"])
    assert (args.kind, args.run_dirs, args.out, args.metrics) == ("metrics", ["a", "b"], "x.png", ["loss"])
    with pytest.raises(SystemExit):
        p.parse_args([])  # the kind is required


def test_errors_name_the_folder_or_file(runs_dir, tmp_path, monkeypatch, capsys):
    good = runs_dir / "run_a"
    no_csv = tmp_path / "no_csv"
    no_csv.mkdir()
    cases = {"missing": (tmp_path / "nope", "run folder does not exist")}
    cases["no_csv"] = (no_csv, "no such file")
    for name, text in {"empty": "", "header": ",".join(columns()) + "\n",
                       "no_tv": "loss,epoch\n1.0,1\n", "bad_tv": "loss,tv,epoch\n1.0,test,1\n"}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text(text)
        cases[name] = (tmp_path / name, {"empty": "empty file", "header": "no rows", "no_tv": "no column 'tv'",
                                         "bad_tv": "row 2: tv 'test'"}[name])
    out = tmp_path / "out.png"
    for name, (run_dir, message) in cases.items():
        with pytest.raises(InputError, match=message) as e:
            read_run_metrics(run_dir)
        assert str(run_dir) in str(e.value)
        # through the console script: exit 2, one line naming the culprit, and no PNG
        assert plot_main("metrics", good, run_dir, "--out", out, monkeypatch=monkeypatch) == 2
        err = capsys.readouterr().err
        assert err.startswith("rnastruct plot: error: ") and str(run_dir) in err and message in err
        assert not out.exists()

    assert plot_main("metrics", good, "--out", out, "--metrics", "stem_on.aurocc", monkeypatch=monkeypatch) == 2
    assert "'stem_on.aurocc' is in none of the runs" in capsys.readouterr().err
    assert plot_main("metrics", good, "--out", tmp_path / "grid.pdf", monkeypatch=monkeypatch) == 2
    assert "grid.pdf" in capsys.readouterr().err
    assert plot_main("metrics", good, "--out", tmp_path / "nodir" / "g.png", monkeypatch=monkeypatch) == 2
    assert "output folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_runs_with_the_same_folder_name_are_told_apart(runs_dir, tmp_path):
    for parent in ("x", "y"):
        (tmp_path / parent / "run").mkdir(parents=True)
        shutil.copy(runs_dir / "run_b" / "metrics.csv", tmp_path / parent / "run")
    runs = read_runs([tmp_path / "x" / "run", tmp_path / "y" / "run"])
    assert list(runs) == [str(tmp_path / "x" / "run"), str(tmp_path / "y" / "run")]


def test_notebook_is_valid_and_runs_on_real_runs(runs_dir, tmp_path, monkeypatch):
    nb = json.loads((REPO / "notebooks" / "plot_s1_metrics.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)  # no stored outputs
    source = ["".join(c["source"]) for c in code]
    assert 'RUN_DIRS = ["runs/s1_default"]' in source[0]
    assert "read_run_metrics" in "".join(source) and "metrics_grid" in "".join(source)
    # run it as Jupyter would, on the fixture runs (magics are a kernel feature: skipped here)
    monkeypatch.chdir(tmp_path)
    ns = {}
    for i, text in enumerate(source):
        text = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
        exec(compile(text, f"cell {i}", "exec"), ns)
        if i == 0:
            ns.update(RUN_DIRS=[str(runs_dir / "run_a"), str(runs_dir / "run_b")], OUT_PNG="nb.png")
    assert len(ns["fig"].axes) == 21
    assert_png(tmp_path / "nb.png")
    assert {k: int(v["epoch"]) for k, v in ns["best"].items()} == {
        r: expected_best(csv_rows(runs_dir / r)) for r in EPOCHS}
