"""Isolated trials: a trial whose model is far past the child's memory limit fails alone; the search finishes."""
import csv, json, os, subprocess, sys

import pytest

from conftest import tiny_config

SCRIPT = '''
import json, sys
import keras
from trainlib.config import TrainConfig
from trainlib.models import register_model, register_search_space
from trainlib.store import make_dataset
from trainlib.tune import tune

@register_model("dense_or_huge")
def build_dense_or_huge(input_shape, n_classes, *, units:int=8):
    x = inputs = keras.Input(shape=tuple(input_shape))
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, activation="relu")(x)
    x = keras.layers.Dense(units, activation="relu")(x)     # units=60000: 3.6e9 weights, 14.4 GB of float32
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))

@register_search_space("dense_or_huge")
def dense_or_huge_space(hp): return {"units": hp.Choice("units", [8, 60000])}

if __name__ == "__main__":       # spawn runs this file again in each trial's child (as __mp_main__), registering the model there
    config = TrainConfig.from_dict(json.loads(open(sys.argv[1]).read()))
    result = tune(config, make_dataset(config), verbose=0, isolate="process", memory_limit_mb=int(sys.argv[2]))
    print(result)
'''


def test_trial_past_the_memory_limit_fails_alone(tmp_path):
    # tune.seed 40 draws units 8, then 60000 (checked below, so a change in keras-tuner's draws cannot pass silently)
    cfg = tiny_config(tmp_path, shared={"model_type": "dense_or_huge"},
                      tune={"strategy": "random_search", "max_trials": 2, "max_epochs": 1, "seed": 40})
    (tmp_path/"config.json").write_text(json.dumps(cfg))
    (tmp_path/"search.py").write_text(SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # 6000 MiB of address space: ~2.7 GiB for TensorFlow and a small model, far below the big one's 14 GB of weights
    r = subprocess.run([sys.executable, "search.py", "config.json", "6000"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=540)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = next((tmp_path/"runs"/"default").glob("tune-dense_or_huge-random_search-*"))
    rows = {row["units"]: row for row in csv.DictReader(open(folder/"trials.csv"))}
    assert set(rows) == {"8", "60000"}, rows
    assert rows["8"]["status"] == "COMPLETED" and rows["8"]["score"] and rows["8"]["reason"] == ""
    huge = rows["60000"]
    assert huge["status"] == "FAILED" and huge["score"] == "", huge
    assert "memory" in huge["reason"].lower() and "memory_limit_mb=6000" in huge["reason"], huge["reason"]
    best = json.loads((folder/"best_config.json").read_text())
    assert best["train"]["model_hp"] == {"units": 8}
    assert "1/2 trials completed" in r.stdout


def test_isolate_options_are_checked(cli, write_config):
    r = cli("tune", "--config", write_config(), "--isolate", "thread")
    assert r.returncode == 2 and "invalid choice: 'thread'" in r.stderr
    r = cli("tune", "--config", write_config(), "--isolate", "none", "--memory-limit-mb", "500")
    assert r.returncode == 1 and "trainlib: error: memory_limit_mb=500 needs isolate='process'" in r.stderr, r.stderr[-2000:]
    r = cli("grid", "--config", write_config(), "--meta", "{width: [0.5]}", "--isolate", "none", "--memory-limit-mb", "500")
    assert r.returncode == 1 and "trainlib: error: memory_limit_mb=500 needs isolate='process'" in r.stderr, r.stderr[-2000:]


@pytest.mark.slow
def test_failures_in_a_row_stop_the_search_with_the_reason(cli, write_config, tmp_path):
    # 200 MiB of address space is less than TensorFlow already holds: every trial's child fails, the search stops at the bound
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 5, "max_epochs": 1, "max_consecutive_failed_trials": 2})
    r = cli("tune", "--config", cfg, "--verbose", "0", "--memory-limit-mb", "200")
    assert r.returncode == 1, r.stderr[-3000:]
    assert "trainlib: error: the search stopped: 2 failed trials in a row (tune.max_consecutive_failed_trials); the last one: " in r.stderr, r.stderr[-3000:]
    rows = list(csv.DictReader(open(next((tmp_path/"runs"/"default").glob("tune-*/trials.csv")))))
    assert [x["status"] for x in rows] == ["FAILED", "FAILED"] and all(x["reason"] for x in rows), rows
