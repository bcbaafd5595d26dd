"""Ctrl+C (SIGINT) during training stops after the current batch and still writes every artifact."""
import json, os, signal, subprocess, sys, time

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
