"""Shared fixtures: paths to the shipped data, a tiny GunPoint config, and a CLI runner."""
import json, os, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNPOINT = ROOT/"data"/"gunpoint"
TRAINLIB = Path(sys.executable).parent/"trainlib"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes minutes; run with --slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"): return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)


# TensorFlow's C++ start-up log: on some CPUs (oneDNN on Intel) TensorFlow 2.21 prints these whatever TF_CPP_MIN_LOG_LEVEL says
TF_STARTUP_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]"
                            r"|To enable the following instructions:)")

def user_stderr(text:str) -> str:
    "A subprocess's stderr, stripped, without TensorFlow's C++ start-up log lines: what trainlib itself printed."
    return "\n".join(l for l in text.strip().splitlines() if not TF_STARTUP_LOG.match(l))


def tiny_config(tmp_path, **sections) -> dict:
    "A config dict: GunPoint train/test, a narrow FCN, 2 epochs, outputs under `tmp_path`."
    cfg = {"etl": {"data_path": str(GUNPOINT/"train.csv"), "test_path": str(GUNPOINT/"test.csv"),
                   "dataset_dir": str(tmp_path/"datasets")},
           "shared": {"num_classes": 2, "target_length": 150, "model_type": "fcn", "dtype": "float32",
                      "output_dir": str(tmp_path/"runs")},
           "train": {"max_epochs": 2, "batch_size": 16, "model_hp": {"filters": [8, 16, 8]}}}
    for name, values in sections.items(): cfg.setdefault(name, {}).update(values)
    return cfg


@pytest.fixture
def write_config(tmp_path):
    "Write a tiny config (with section overrides) to tmp_path/config.json and return its path."
    def write(name="config.json", **sections):
        p = tmp_path/name
        p.write_text(json.dumps(tiny_config(tmp_path, **sections)))
        return p
    return write


@pytest.fixture
def cli(tmp_path):
    "Run the installed `trainlib` command; return the CompletedProcess (text output)."
    def run(*args, timeout=600, cwd=None, env=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        return subprocess.run([str(TRAINLIB), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd or tmp_path, env=env)
    return run
