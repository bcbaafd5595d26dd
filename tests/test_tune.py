"""Tuning from the CLI: each strategy on shipped data, best_config.json through train-model, bad tuning configs."""
import csv, json

import pytest


@pytest.mark.parametrize("strategy,isolate", [("hyperband", "process"), ("bayesian_optimization", "none")])
def test_tune_strategy_writes_trials_and_best_config(strategy, isolate, cli, write_config, tmp_path):
    "Hyperband in isolated trials (the CLI default; its warm starts cross the process boundary), Bayesian in-process."
    cfg = write_config(tune={"strategy": strategy, "max_trials": 2, "max_epochs": 2, "factor": 2})
    r = cli("tune", "--config", cfg, "--verbose", "0", "--isolate", isolate)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "absl::InitializeLog" not in r.stderr, r.stderr[:2000]   # nor its isolated trials: TensorFlow's start-up lines held back
    folder = next((tmp_path/"runs"/"default").glob(f"tune-fcn-{strategy}-*"))
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert {"score", "epochs", "seconds", "learning_rate", "width", "dropout"} <= set(rows[0])
    best = json.loads((folder/"best_config.json").read_text())
    assert best["tune"]["strategy"] == strategy and "filters" in best["train"]["model_hp"]


def test_best_config_round_trips_through_train_model(cli, write_config, tmp_path):
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 1, "max_epochs": 1})
    r = cli("tune", "--config", cfg, "--verbose", "0", "--then-train", "--isolate", "none")
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


@pytest.mark.slow   # a minute; the default suite keeps the stop (test_interrupt: a SIGINT as a trial starts) and the resume (07_tune)
def test_sigint_keeps_finished_trials_and_the_same_command_continues(write_config, tmp_path):
    import os, signal, subprocess, time
    from conftest import TRAINLIB
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 50, "max_epochs": 2})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path/"log.txt", "w")
    p = subprocess.Popen([str(TRAINLIB), "tune", "--config", str(cfg), "--verbose", "0"], stdout=log, stderr=subprocess.STDOUT,
                         env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            found = list((tmp_path/"runs"/"default").glob("tune-*/trials.csv"))
            if found and len(list(csv.DictReader(open(found[0])))) >= 2: break
            assert p.poll() is None, (tmp_path/"log.txt").read_text()[-3000:]
            time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=120) == 130, (tmp_path/"log.txt").read_text()[-3000:]
    finally:
        if p.poll() is None: p.kill()
    folder = found[0].parent
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    done = [r for r in rows if r["status"] == "COMPLETED"]
    assert 2 <= len(done) < 50 and (folder/"best_config.json").is_file()
    assert "Interrupted: keeping the finished trials" in (tmp_path/"log.txt").read_text()
    # the same command, now capped just above what already ran, continues without redoing finished trials
    r = subprocess.run([str(TRAINLIB), "tune", "--config", str(cfg), "--verbose", "0", "--set", f"tune.max_trials={len(rows) + 1}"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    again = {x["trial"]: x for x in csv.DictReader(open(folder/"trials.csv"))}
    assert len(again) == len(rows) + 1 and all(again[d["trial"]]["seconds"] == d["seconds"] for d in done)
    assert all(x["status"] == "COMPLETED" for x in again.values())


@pytest.mark.slow   # a minute (four isolated trainings); the default suite keeps grid-sequences' CLI grid and test_interrupt's isolated grid
def test_grid_cli_trains_settings_times_replicas(cli, write_config, tmp_path):
    cfg = write_config(train={"max_epochs": 1})
    r = cli("grid", "--config", cfg, "--meta", "{width: [0.25, 0.5]}", "--n-random", "1", "--replicas", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "absl::InitializeLog" not in r.stderr, r.stderr[:2000]   # four isolated trainings, none printed TensorFlow's start-up lines
    folder = next(p for p in (tmp_path/"runs"/"default").glob("grid-*") if (p/"grid_summary.csv").is_file())
    runs = list(csv.DictReader(open(folder/"grid_runs.csv")))
    summary = list(csv.DictReader(open(folder/"grid_summary.csv")))
    assert len(runs) == 4 and len(summary) == 2 and all(s["replicas"] == "2" for s in summary)
    for s in summary:
        scores = [float(x["score"]) for x in runs if x["setting"] == s["setting"]]
        assert abs(float(s["mean"]) - sum(scores) / 2) < 1e-9
    best = min(summary, key=lambda s: float(s["mean"]))
    cfg_best = json.loads((folder/"best_config.json").read_text())
    assert cfg_best["train"]["model_hp"]["filters"][0] == int(128 * float(best["width"]))
    r = cli("grid", "--config", cfg, "--meta", "[1, 2]")
    assert r.returncode == 1 and "--meta must be a mapping" in r.stderr


def test_grid_sequences_cli_trains_the_feedforward_grid_and_its_best_config_trains(cli, tmp_path):
    "Aptamer's grid: layers as the meta parameter, replicas, one process; best_config.json is a config that train-sequences trains."
    sets = ["epochs=1", "epoch_size=256", "eval_size=100", f"save_base={tmp_path/'ff'}"]
    r = cli("grid-sequences", *[a for s in sets for a in ("--set", s)], "--meta", "{num_fc_layers: [0, 1]}", "--n-random", "1",
            "--replicas", "2", "--isolate", "none")
    assert r.returncode == 0, r.stderr[-3000:]
    folder = next(p for p in (tmp_path/"ff").glob("grid-aptamers_demo-*") if (p/"grid_runs.csv").is_file())   # beside its runs
    runs = list(csv.DictReader(open(folder/"grid_runs.csv")))
    summary = list(csv.DictReader(open(folder/"grid_summary.csv")))
    assert len(runs) == 4 and [s["num_fc_layers"] for s in summary] == ["0", "1"] and all(s["replicas"] == "2" for s in summary)
    for run in runs:
        c = json.loads((tmp_path/"ff"/run["run"]/"config.json").read_text())
        assert c["num_fc_layers"] == int(run["num_fc_layers"]) and c["seed"] == 42 + int(run["replica"])
    best = max(summary, key=lambda s: float(s["mean"]))          # the demo's main target is a class: accuracy, the higher the better
    assert f"best mean val_accuracy {float(best['mean']):.4g}" in r.stdout
    cfg = json.loads((folder/"best_config.json").read_text())
    assert cfg["num_fc_layers"] == int(best["num_fc_layers"])
    r = cli("train-sequences", "--config", folder/"best_config.json", "--set", "run_name=final", "--verbose", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path/"ff"/"final"/"config.json").read_text())["num_fc_layers"] == cfg["num_fc_layers"]
    r = cli("grid-sequences", "--meta", "{num_fc_layer: [0]}", "--n-random", "1", "--replicas", "1")
    assert r.returncode == 1 and "unknown key 'num_fc_layer'" in r.stderr, r.stderr[-2000:]
