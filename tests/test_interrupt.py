"""Ctrl+C (SIGINT) during training stops after the current batch and still writes every artifact."""
import csv, json, os, signal, subprocess, sys, time

import pytest

from conftest import TRAINLIB


def test_sigint_mid_training_keeps_best_model_and_metrics(write_config, tmp_path):
    cfg = write_config(train={"max_epochs": 2000, "patience": 2000})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path/"log.txt", "w")
    p = subprocess.Popen([str(TRAINLIB), "train-model", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    runs = tmp_path/"runs"/"default"
    deadline = time.time() + 300
    while time.time() < deadline:
        hist = list(runs.glob("*/history.csv"))
        if hist and len(hist[0].read_text().splitlines()) >= 4: break   # header + 3 epochs
        assert p.poll() is None, (tmp_path/"log.txt").read_text()
        time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=120)
    out = (tmp_path/"log.txt").read_text()
    assert rc == 130, out[-3000:]
    run = next(runs.iterdir())
    for name in ("checkpoints/best.keras", "model.keras", "model.h5", "metrics.json", "confusion_matrix.png", "history.csv"):
        assert (run/name).is_file(), name
    epochs = len((run/"history.csv").read_text().splitlines()) - 1
    assert 3 <= epochs < 2000
    info = json.loads((run/"run.json").read_text())
    assert info["status"] == "complete"
    assert json.loads((run/"metrics.json").read_text())["status_before_evaluation"] == "interrupted"
    assert "Interrupted: stopping after this batch" in out


@pytest.mark.parametrize("isolate", ["none", "process"])
def test_sigint_stops_a_grid_and_keeps_its_finished_runs(write_config, tmp_path, isolate):
    """Ctrl+C during a grid's second training stops the grid (exit 130), not only that training; the tables keep the first.
    With --isolate process the training runs in a child in its own process group: the grid's process passes the SIGINT on, once (two would abort the training instead of stopping it)."""
    cfg = write_config(train={"patience": 3000})
    log = open(tmp_path/"log.txt", "w")
    p = subprocess.Popen([str(TRAINLIB), "grid", "--config", str(cfg), "--meta", "{train.max_epochs: [2, 2000]}", "--n-random", "1",
                          "--replicas", "1", "--isolate", isolate], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=tmp_path,
                         start_new_session=True)
    runs = tmp_path/"runs"/"default"
    deadline = time.time() + 300
    while time.time() < deadline:                 # the 2000-epoch run (setting 1) has logged an epoch
        hist = list(runs.glob("grid-*-1-0-0-*/history.csv"))
        if hist and len(hist[0].read_text().splitlines()) >= 2: break
        assert p.poll() is None, (tmp_path/"log.txt").read_text()
        time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)               # to the whole process group, as a terminal's Ctrl+C
    rc = p.wait(timeout=120)
    out = (tmp_path/"log.txt").read_text()
    assert rc == 130, out[-3000:]
    assert "Interrupted: keeping the finished runs" in out
    folder = next(f for f in runs.glob("grid-*") if (f/"grid_runs.csv").is_file())
    rows = list(csv.DictReader(open(folder/"grid_runs.csv")))
    assert [(r["setting"], r["replica"]) for r in rows] == [("0", "0")], rows     # the finished 2-epoch run only
    cut = next(runs.glob("grid-*-1-0-0-*"))
    info = json.loads((cut/"run.json").read_text())
    assert info["status"] == "interrupted" and info["epochs"] < 2000
