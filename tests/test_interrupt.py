"""Ctrl+C (SIGINT) during training stops after the current batch and still writes every artifact; during a search, it stops the search."""
import csv, json, os, signal, subprocess, sys, time
from pathlib import Path

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
    assert info["status"] == "interrupted" and info["test_accuracy"] is not None     # scored, and still marked as stopped early
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


SIGINT_WHILE_A_CHILD_STARTS = '''
import json, os, signal, sys
from multiprocessing.context import SpawnProcess
from trainlib.config import TrainConfig
from trainlib.store import make_dataset
from trainlib.tune import grid_search, tune

def sigint_at_start(n):
    "Make the n-th child start send this process a SIGINT on its way (a Ctrl+C at that moment); return the started names."
    real, started = SpawnProcess.start, []
    def start(self):
        started.append(self.name)
        if len(started) == n: os.kill(os.getpid(), signal.SIGINT)
        return real(self)
    SpawnProcess.start = start
    return started

if __name__ == "__main__":      # not again in the children, which spawn starts by running this file as __mp_main__
    config = TrainConfig.from_dict(json.loads(open(sys.argv[2]).read()))
    started = sigint_at_start(int(sys.argv[3]))
    if sys.argv[1] == "tune": result = tune(config, make_dataset(config), verbose=0, isolate="process")
    else: result = grid_search(config, make_dataset(config), {"width": [0.25]}, n_random=1, num_replicas=2, isolate="process")
    print(json.dumps({"interrupted": result.interrupted, "started": started, "path": str(result.path)}))
'''


@pytest.mark.parametrize("search", ["tune", "grid"])
def test_sigint_while_a_child_starts_stops_the_search(search, write_config, tmp_path):
    """A SIGINT that comes while an isolated trial's or grid run's child process starts is not lost.
    tune used to ignore SIGINT while a trial's child started (so the child would inherit the ignoring) and dropped it;
    the grid passed a SIGINT on to the child's pid, which it did not have yet, and dropped it. Either search ran on to its end."""
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 3, "max_epochs": 2})
    (tmp_path/"search.py").write_text(SIGINT_WHILE_A_CHILD_STARTS)
    at = 2 if search == "tune" else 1            # tune: the second trial's start; grid: the first training's
    r = subprocess.run([sys.executable, "search.py", search, str(cfg), str(at)], capture_output=True, text=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["interrupted"] and len(out["started"]) == at, (out, r.stderr[-3000:])      # no child started after it
    if search == "tune":
        rows = list(csv.DictReader(open(next((tmp_path/"runs"/"default").glob("tune-*/trials.csv")))))
        assert [x["status"] for x in rows if x["status"] == "COMPLETED"] == ["COMPLETED"], rows   # the first trial only
    else:     # the child was stopped as it began, quietly: it wrote that it was interrupted, and printed no traceback
        result = json.loads(next((Path(out["path"])/"jobs").glob("*.result.json")).read_text())
        assert result.get("interrupted") is True, result
        assert "Traceback" not in r.stderr, r.stderr[-3000:]
