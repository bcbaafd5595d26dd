"""The training report runs through papermill into a run folder, as .ipynb and .html."""
import json, os, subprocess, sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from trainlib.quiet import is_startup_noise


def test_report_train_writes_notebook_and_html(cli, tmp_path):
    "The train report, on a config naming its experiment: the run and the report go to runs/<that experiment>/<run_name>."
    smoke = (ROOT/"nbs"/"reports"/"gunpoint_smoke.yaml").read_text().replace("../../data/", f"{ROOT}/data/")
    (tmp_path/"mine.yaml").write_text(smoke.replace("train:\n", "train:\n  experiment: mine\n"))
    r = cli("report", "train", "-p", "config_path", tmp_path/"mine.yaml", "-p", "epochs", "2", "-p", "run_name", "smoke", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"runs"/"mine"/"smoke"
    assert json.loads((run/"config.json").read_text())["train"]["experiment"] == "mine"
    nb = nbformat.read(run/"report.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "test accuracy" in outputs
    assert "image/png" in outputs                      # the curves and confusion matrix are in the report
    noise = [l for l in r.stderr.splitlines() if is_startup_noise(l) or "without encryption" in l]
    assert not noise, noise                            # the kernel's start: TensorFlow's lines, ipykernel's TCP warning
    assert "IProgress not found" not in outputs        # tqdm's widget advice, in the saved report
    html = (run/"report.html").read_text()
    assert "<img" in html and "test accuracy" in html
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["n"] == 150 and metrics["epochs"] == 2
    assert not list(run.glob(".tmp-*"))


@pytest.mark.slow
def test_make_demo_trains_a_real_report(tmp_path):
    "The README's first command, `make demo`, into a temporary folder: ResNet on the shipped GunPoint files, 150 epochs, a report with the test scores."
    r = subprocess.run(["make", "demo", f"DEMO_DIR={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    (run,) = list((tmp_path/"demo").iterdir())
    for name in ("report.ipynb", "report.html", "model.keras", "bundle.json", "metrics.json"): assert (run/name).is_file(), name
    metrics = json.loads((run/"metrics.json").read_text())
    assert (metrics["n"], metrics["epochs"]) == (150, 150), metrics          # the whole UCR test file, every epoch of the config
    assert metrics["accuracy"] >= 0.9, metrics                               # it learned: chance is 0.5, published ResNet 0.991
    assert "test accuracy" in (run/"report.html").read_text()


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT/"nbs"/"reports").glob("*.ipynb")))
def test_report_help_lists_every_typed_parameter(capsys, name):
    "`trainlib report NAME --help` lists each parameter of the notebook with its type, default and comment."
    import papermill as pm
    declared = pm.inspect_notebook(str(ROOT/"nbs"/"reports"/f"{name}.ipynb"))
    assert declared, f"{name}.ipynb has no parameters cell"
    for p in declared.values():   # every parameter is an annotated literal with a comment
        assert p["inferred_type_name"] in ("int", "float", "bool", "str"), p
        assert p["help"].strip(), f"{name}: parameter {p['name']} has no comment"
    from trainlib.cli import main
    with pytest.raises(SystemExit) as exit: main(["report", name, "--help"])
    r = capsys.readouterr()
    assert exit.value.code in (0, None), r.err
    assert "usage: trainlib report" in r.out and f"parameters of report {name}" in r.out
    listed = dict(line.split(":", 1) for line in r.out.split(f"parameters of report {name}")[1].splitlines()[1:] if line.strip())
    assert [k.strip() for k in listed] == list(declared)
    for k, p in declared.items():
        kind, rest = listed[f"  {k}"].split("=", 1)
        assert kind.strip() == p["inferred_type_name"] and rest.strip().startswith(p["default"]) and p["help"] in rest
    assert main(["report", name, "--list-params"]) == 0
    assert capsys.readouterr().out.strip() == r.out.split("(set with -p NAME VALUE):")[1].strip()


def test_report_help_for_an_unknown_report_is_one_error_line(cli):
    r = cli("report", "nope", "--help")
    assert r.returncode == 1 and r.stderr.strip().splitlines() == ["trainlib: error: unknown report 'nope'; available: images, make_dataset, train, transfer, tune"]


def test_report_rejects_unknown_or_mistyped_parameter_before_running(cli, tmp_path):
    r = cli("report", "train", "-p", "epoch", "2", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and "train has no parameter 'epoch'" in r.stderr
    r = cli("report", "train", "-p", "epochs", "two", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and "train parameter epochs must be int, got 'two'" in r.stderr
    r = cli("report", "train", "-p", "epochs", "2", "-p", "epochs", "3", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and "-p epochs given twice ('2', then '3')" in r.stderr, r.stderr
    r = cli("report", "train", "-p", "config_path", tmp_path/"nope.yaml", "--output-dir", tmp_path/"runs")
    assert r.returncode == 1 and f"-p config_path: config file not found: {tmp_path/'nope.yaml'}" in r.stderr, r.stderr
    assert not (tmp_path/"runs").exists()
    r = cli("report", "trian")
    assert r.returncode == 1 and "unknown report 'trian'; available: " in r.stderr
    assert {"make_dataset", "train", "transfer", "tune"} <= set(r.stderr.split("available: ")[1].strip().split(", "))


def test_a_report_that_fails_in_a_cell_is_one_error_line(cli, tmp_path):
    "A cell that raises ends `trainlib report` with one line (cell, error, the executed notebook), not papermill's traceback."
    r = cli("report", "train", "-p", "model_type", "nope", "-p", "epochs", "1", "--output-dir", tmp_path/"runs")
    errors = [l for l in r.stderr.splitlines() if l.startswith("trainlib: error: ")]
    assert r.returncode == 1 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "report train stopped at cell " in errors[0] and ", ValueError: unknown model 'nope'; available: " in errors[0], errors[0]
    failed = Path(errors[0].split("(the executed notebook: ")[1].rstrip(")"))
    assert failed.name == "report.failed.ipynb" and failed.is_file() and failed.parent.parent == tmp_path/"runs"/"report"
    assert not (failed.parent/"report.ipynb").exists()


def test_report_tune_shows_trials_plot_and_best_config(cli, tmp_path):
    r = cli("report", "tune", "-p", "max_trials", "2", "-p", "run_name", "search", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    nb = nbformat.read(tmp_path/"runs"/"report"/"search"/"report.ipynb", as_version=4)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "best_config.json" in outputs and "image/png" in outputs and "| trial | status | score |" in outputs
    assert (tmp_path/"runs"/"report"/"search"/"report.html").is_file()
    assert len(list((tmp_path/"runs"/"report").glob("tune-fcn-random_search-*/trials.csv"))) == 1


def test_the_installed_kernel_starts_quietly(tmp_path):
    "The kernel `make install` registers (install_kernel), started as JupyterLab starts it: TensorFlow's start-up lines are not in the first cell's output."
    from trainlib.report import install_kernel
    install_kernel("trainlib-quiet-test", prefix=str(tmp_path))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import trainlib.train")]), tmp_path/"in.ipynb")
    run = "import sys, papermill as pm; pm.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='trainlib-quiet-test', progress_bar=False)"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}   # set, ipykernel leaves fd 2 alone (its tests' setting)
    r = subprocess.run([sys.executable, "-c", run, tmp_path/"in.ipynb", tmp_path/"out.ipynb"], capture_output=True, text=True, timeout=300,
                       env={**env, "JUPYTER_PATH": str(tmp_path/"share"/"jupyter")})     # papermill alone: no kernel_options
    assert r.returncode == 0, r.stderr[-3000:]
    outputs = nbformat.read(tmp_path/"out.ipynb", as_version=4).cells[0].outputs
    assert not [l for o in outputs for l in o.get("text", "").splitlines() if is_startup_noise(l)], outputs
