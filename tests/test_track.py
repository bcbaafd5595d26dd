"""Experiment tracking through the CLI: MLflow's SQLite store holds the config, the per-epoch metrics and the artifacts."""
import csv, importlib.util, json, sqlite3

import pytest


def test_train_with_mlflow_records_params_metric_history_and_artifacts(cli, write_config, tmp_path):
    cfg = write_config(train={"max_epochs": 3, "batch_size": 16, "model_hp": {"filters": [4, 8, 4]},
                              "tracking": "mlflow", "run_name": "tracked", "experiment": "exp"})
    r = cli("train", "--config", cfg, "--verbose", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    db = sqlite3.connect(tmp_path/"runs"/"mlflow.db")           # the default store: <output_dir>/mlflow.db
    (run_uuid, name, status, artifacts), = db.execute("select run_uuid, name, status, artifact_uri from runs").fetchall()
    assert (name, status) == ("tracked", "FINISHED")
    assert db.execute("select name from experiments where experiment_id = (select experiment_id from runs)").fetchone()[0] == "exp"
    params = dict(db.execute("select key, value from params where run_uuid=?", (run_uuid,)))
    assert params["train.max_epochs"] == "3" and params["shared.model_type"] == "fcn" and params["train.model_hp.filters"] == "[4, 8, 4]"
    with open(tmp_path/"runs"/"exp"/"tracked"/"history.csv") as f: history = list(csv.DictReader(f))
    for key in ("loss", "val_loss", "accuracy"):
        rows = db.execute("select step, value from metrics where run_uuid=? and key=? order by step", (run_uuid, key)).fetchall()
        assert [s for s, _ in rows] == [0, 1, 2]
        assert [v for _, v in rows] == pytest.approx([float(h[key]) for h in history], rel=1e-5)
    metrics = json.loads((tmp_path/"runs"/"exp"/"tracked"/"metrics.json").read_text())
    test_acc = db.execute("select value from metrics where run_uuid=? and key='test_accuracy'", (run_uuid,)).fetchone()[0]
    assert test_acc == pytest.approx(metrics["accuracy"])
    art = tmp_path/"runs"/"mlartifacts"/"exp"/run_uuid/"artifacts"
    assert artifacts == art.as_uri()
    for name in ("model.keras", "history.csv", "metrics.json", "config.json", "confusion_matrix.png", "checkpoints/best.keras"):
        assert (art/name).is_file(), name
    assert list((art/"tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.skipif(importlib.util.find_spec("comet_ml") is not None, reason="comet_ml is installed")
def test_comet_without_package_is_a_clear_error_before_training(cli, write_config, tmp_path):
    cfg = write_config(train={"tracking": "comet", "run_name": "c"})
    r = cli("train", "--config", cfg)
    assert r.returncode == 1
    assert "trainlib: error: train.tracking is 'comet' but comet_ml is not installed; pip install comet-ml" in r.stderr
    assert not (tmp_path/"runs"/"default"/"c").exists()


def test_unknown_tracker_is_rejected(cli, write_config):
    r = cli("train", "--config", write_config(train={"tracking": "wandb"}))
    assert r.returncode == 1 and "train.tracking must be one of none, mlflow, comet, got 'wandb'" in r.stderr


@pytest.mark.slow
def test_training_report_logs_to_mlflow(cli, tmp_path):
    r = cli("report", "train", "-p", "epochs", "2", "-p", "tracking", "mlflow", "-p", "run_name", "rep", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    db = sqlite3.connect(tmp_path/"runs"/"mlflow.db")
    (run_uuid, name, status), = db.execute("select run_uuid, name, status from runs").fetchall()
    assert (name, status) == ("rep", "FINISHED")
    assert db.execute("select count(*) from metrics where run_uuid=? and key='val_loss'", (run_uuid,)).fetchone()[0] == 2
    assert db.execute("select value from params where run_uuid=? and key='train.tracking'", (run_uuid,)).fetchone()[0] == "mlflow"


TRACK_ONE = """
import sys
from trainlib.config import TrainConfig
from trainlib.train import Run
from trainlib.track import MlflowTracker
out, name = sys.argv[1], sys.argv[2]
cfg = TrainConfig.from_dict({"shared": {"output_dir": out}, "train": {"tracking": "mlflow", "experiment": "par"}})
t = MlflowTracker(cfg, Run(f"{out}/par/{name}"))
t.run.path.mkdir(parents=True)
t.on_train_begin()
for epoch in range(5): t.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
t.finish({"accuracy": 0.5})
"""


@pytest.mark.slow
def test_parallel_runs_share_a_new_sqlite_store(tmp_path):
    "Runs of `trainlib batch --jobs N` start at once on a fresh store: MLflow's set-up must not race."
    import os, subprocess, sys
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [subprocess.Popen([sys.executable, "-c", TRACK_ONE, str(tmp_path), f"r{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    db = sqlite3.connect(tmp_path/"mlflow.db")
    assert sorted(db.execute("select name, status from runs")) == [("r0", "FINISHED"), ("r1", "FINISHED"), ("r2", "FINISHED")]
    assert db.execute("select count(*) from experiments where name='par'").fetchone()[0] == 1
    assert db.execute("select count(*) from metrics where key='loss'").fetchone()[0] == 15
