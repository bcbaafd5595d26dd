"""`trainlib batch`: a report notebook once per grid combination, in parallel, with a summary; failures recorded, reruns skip."""
import csv, os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def square_report(folder):
    "A tiny report (no training): squares `x` plus `offset`, fails for negative `x`, ends with a dict."
    params = new_code_cell("x: float = 2.0  # the number to square\noffset: int = 0  # added to the square")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell("# Square"), params,
                             new_code_cell('if x < 0: raise ValueError(f"x must be >= 0, got {x}")'),
                             new_code_cell('{"square": x * x + offset}')],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = folder/"square.ipynb"
    nbformat.write(nb, path)
    return path


def read_summary(folder):
    with open(folder/"summary.csv", newline="") as f: return list(csv.DictReader(f))


def test_batch_2x2_grid_gives_four_notebooks_and_summary_and_rerun_skips(cli, tmp_path):
    report = square_report(tmp_path)
    (tmp_path/"grid.yaml").write_text("x: [2, 3]\noffset: [0, 100]\n")
    r = cli("batch", report, "--grid", "grid.yaml", "--jobs", "2", "--output-dir", "out", "--experiment", "sq")
    assert r.returncode == 0, r.stderr[-3000:]
    root = tmp_path/"out"/"sq"
    names = ["x-2_offset-0", "x-2_offset-100", "x-3_offset-0", "x-3_offset-100"]
    for name in names:
        nb = nbformat.read(root/name/"report.ipynb", as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
        assert (root/name/"report.html").is_file()
    rows = read_summary(root)
    assert [r["name"] for r in rows] == names and {r["status"] for r in rows} == {"ok"}
    assert [(r["x"], r["offset"], r["square"]) for r in rows] == [("2", "0", "4"), ("2", "100", "104"),
                                                                  ("3", "0", "9"), ("3", "100", "109")]
    assert all(float(r["seconds"]) > 0 and r["error"] == "" for r in rows)
    html = (root/"summary.html").read_text()
    assert html.count("<tr class=") == 4 and 'href="x-3_offset-100/report.html"' in html
    before = {n: os.stat(root/n/"report.ipynb").st_mtime_ns for n in names}
    r = cli("batch", report, "--grid", "grid.yaml", "--jobs", "2", "--output-dir", "out", "--experiment", "sq")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("skipped") == 4
    assert {n: os.stat(root/n/"report.ipynb").st_mtime_ns for n in names} == before
    assert [r["status"] for r in read_summary(root)] == ["skipped"] * 4
    assert [r["square"] for r in read_summary(root)] == ["4", "104", "9", "109"]


def test_batch_records_a_failing_combination_and_finishes_the_others(cli, tmp_path):
    report = square_report(tmp_path)
    r = cli("batch", report, "-p", "x", "4,-1,5", "-p", "offset", "1", "--jobs", "2", "--output-dir", "out")
    assert r.returncode == 1
    assert "1 of 3 runs failed" in r.stderr
    root = tmp_path/"out"/"batch"
    rows = read_summary(root)
    assert [(r["name"], r["status"]) for r in rows] == [("x-4_offset-1", "ok"), ("x--1_offset-1", "failed"), ("x-5_offset-1", "ok")]
    assert rows[1]["error"] == "ValueError: x must be >= 0, got -1.0 (cell 3)"
    assert rows[1]["report"] == "x--1_offset-1/report.failed.ipynb"
    assert "x must be >= 0" in (root/"x--1_offset-1"/"error.txt").read_text()
    assert (root/"x--1_offset-1"/"report.failed.html").is_file() and not (root/"x--1_offset-1"/"report.ipynb").exists()
    assert [r["square"] for r in rows] == ["17.0", "", "26.0"]


def test_batch_checks_every_combination_before_running_any(cli, tmp_path):
    report = square_report(tmp_path)
    r = cli("batch", report, "-p", "x", "1,two", "-p", "offset", "0,1", "--output-dir", "out")
    assert r.returncode == 1 and "trainlib: error: square parameter x must be float, got 'two'" in r.stderr
    assert not (tmp_path/"out").exists()


@pytest.mark.slow
def test_batch_over_the_training_report(cli, tmp_path):
    (tmp_path/"grid.yaml").write_text("seed: [1, 2]\nbatch_size: [16, 32]\nepochs: [1]\n")
    r = cli("batch", "train", "--grid", "grid.yaml", "--jobs", "2", "--output-dir", "runs")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_summary(tmp_path/"runs"/"batch")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(0 <= float(r["accuracy"]) <= 1 and r["epochs"] == "1" for r in rows)
    for r in rows:                                      # the report's run folder is the combination's folder
        run = tmp_path/"runs"/"batch"/r["name"]
        assert (run/"report.html").is_file() and (run/"model.keras").is_file() and (run/"metrics.json").is_file()


def test_ctrl_c_stops_the_running_reports_and_keeps_the_finished_ones(cli, tmp_path):
    """Ctrl+C in `trainlib batch` stops the reports' kernels (they run in sessions of their own, so they never see it),
    writes the summary with the stopped runs as `interrupted`, and exits 130; the finished run is kept, the stopped ones run next time.
    Started with SIGINT ignored, as a shell starts a background job (and CI its commands): the batch sets Python's handler itself."""
    import signal, subprocess, time
    from conftest import TRAINLIB
    params = new_code_cell("x: int = 0  # which run\nseconds: float = 0.0  # how long it sleeps")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(
        'import os, time, pathlib\npathlib.Path(f"pid-{x}").write_text(str(os.getpid()))\ntime.sleep(seconds if x else 0)'),
        new_code_cell('{"x": x}')], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, tmp_path/"sleep.ipynb")
    p = subprocess.Popen([str(TRAINLIB), "batch", "sleep.ipynb", "-p", "x", "0,1,2,3", "-p", "seconds", "300", "--jobs", "2",
                          "--output-dir", "out"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))   # as a shell's background job

    deadline = time.time() + 240
    while not ((tmp_path/"pid-1").is_file() and (tmp_path/"pid-2").is_file()) and time.time() < deadline and p.poll() is None:
        time.sleep(0.5)
    assert (tmp_path/"pid-2").is_file(), p.communicate(timeout=60)
    time.sleep(2)                                     # both kernels are in their sleep
    kernels = [int((tmp_path/f"pid-{x}").read_text()) for x in (1, 2)]
    os.killpg(p.pid, signal.SIGINT)                   # a terminal's Ctrl+C: to the batch's process group
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    assert "Interrupted: stopping 2 running report(s)" in err
    time.sleep(1)
    for pid in kernels:                               # the kernels are gone, not left running their 300 s
        with pytest.raises(ProcessLookupError): os.kill(pid, 0)
    assert not (tmp_path/"pid-3").exists()            # the run not started is not started after Ctrl+C
    root = tmp_path/"out"/"batch"
    rows = read_summary(root)
    assert [(r["name"], r["status"]) for r in rows] == [("x-0_seconds-300", "ok"), ("x-1_seconds-300", "interrupted"),
                                                        ("x-2_seconds-300", "interrupted")]
    assert rows[1]["error"] == "stopped by Ctrl+C" and rows[1]["report"] == "x-1_seconds-300/report.failed.ipynb"
    assert (root/"x-1_seconds-300"/"report.failed.ipynb").is_file() and not (root/"x-1_seconds-300"/"batch.json").exists()
    assert (root/"x-0_seconds-300"/"batch.json").is_file()
