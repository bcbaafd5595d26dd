"""The training report runs through papermill into a run folder, as .ipynb and .html."""
import json

import nbformat


def test_report_train_writes_notebook_and_html(cli, tmp_path):
    r = cli("report", "train", "-p", "epochs", "2", "-p", "run_name", "smoke", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"runs"/"report"/"smoke"
    nb = nbformat.read(run/"report.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "test accuracy" in outputs
    assert "image/png" in outputs                      # the curves and confusion matrix are in the report
    html = (run/"report.html").read_text()
    assert "<img" in html and "test accuracy" in html
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["n"] == 150 and metrics["epochs"] == 2
    assert not list(run.glob(".tmp-*"))


def test_report_lists_typed_parameters(cli):
    r = cli("report", "train", "--list-params")
    assert r.returncode == 0
    assert "epochs: int (default 0)" in r.stdout


def test_report_rejects_unknown_or_mistyped_parameter_before_running(cli, tmp_path):
    r = cli("report", "train", "-p", "epoch", "2", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and "train has no parameter 'epoch'" in r.stderr
    r = cli("report", "train", "-p", "epochs", "two", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and "train parameter epochs must be int, got 'two'" in r.stderr
    assert not (tmp_path/"runs").exists()
    r = cli("report", "trian")
    assert r.returncode == 1 and "unknown report 'trian'; available: " in r.stderr
    assert {"make_dataset", "train", "transfer", "tune"} <= set(r.stderr.split("available: ")[1].strip().split(", "))


def test_report_tune_shows_trials_plot_and_best_config(cli, tmp_path):
    r = cli("report", "tune", "-p", "max_trials", "2", "-p", "run_name", "search", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    nb = nbformat.read(tmp_path/"runs"/"report"/"search"/"report.ipynb", as_version=4)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "best_config.json" in outputs and "image/png" in outputs and "| trial | status | score |" in outputs
    assert (tmp_path/"runs"/"report"/"search"/"report.html").is_file()
    assert len(list((tmp_path/"runs"/"report").glob("tune-fcn-random_search-*/trials.csv"))) == 1
