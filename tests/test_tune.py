"""Tuning from the CLI: each strategy on shipped data, best_config.json through train-model, bad tuning configs."""
import csv, json

import pytest


@pytest.mark.parametrize("strategy", ["hyperband", "bayesian_optimization"])
def test_tune_strategy_writes_trials_and_best_config(strategy, cli, write_config, tmp_path):
    cfg = write_config(tune={"strategy": strategy, "max_trials": 2, "max_epochs": 2, "factor": 2})
    r = cli("tune", "--config", cfg, "--verbose", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    folder = next((tmp_path/"runs"/"default").glob(f"tune-fcn-{strategy}-*"))
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert {"score", "epochs", "seconds", "learning_rate", "width", "dropout"} <= set(rows[0])
    best = json.loads((folder/"best_config.json").read_text())
    assert best["tune"]["strategy"] == strategy and "filters" in best["train"]["model_hp"]


def test_best_config_round_trips_through_train_model(cli, write_config, tmp_path):
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 1, "max_epochs": 1})
    r = cli("tune", "--config", cfg, "--verbose", "0", "--then-train")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "test accuracy:" in r.stdout
    best = next((tmp_path/"runs"/"default").glob("tune-*/best_config.json"))
    run = next(p for p in (tmp_path/"runs"/"default").iterdir() if not p.name.startswith("tune-"))
    used = json.loads((run/"config.json").read_text())
    assert used["train"]["model_hp"] == json.loads(best.read_text())["train"]["model_hp"]
    assert used["train"]["learning_rate"] == json.loads(best.read_text())["train"]["learning_rate"]


@pytest.mark.parametrize("override, message", [
    ("tune.strategy=grid", "tune.strategy must be one of hyperband, random_search, bayesian_optimization, got 'grid'"),
    ("tune.max_trials=0", "tune.max_trials must be > 0, got 0"),
    ("tune.objective=val_f1", "tune.objective must be one of"),
])
def test_bad_tuning_config(override, message, cli, write_config):
    r = cli("tune", "--config", write_config(), "--set", override)
    assert r.returncode == 1 and message in r.stderr, r.stderr[-2000:]
