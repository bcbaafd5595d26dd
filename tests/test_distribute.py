"""Distributed tuning: one chief and two workers as local processes on 127.0.0.1, keras-tuner's own gRPC oracle."""
import csv, json, os, signal, socket, subprocess, time

import pytest

from conftest import TRAINLIB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def test_chief_and_two_workers_share_one_search(write_config, tmp_path):
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 4, "max_epochs": 1})
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    def start(*args, log):
        return subprocess.Popen([str(TRAINLIB), "tune", "--config", str(cfg), "--verbose", "0", "--oracle", address, *args],
                                stdout=open(tmp_path/log, "w"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    procs = {"chief": start("--distributed", "chief", log="chief.log")}
    for w in ("worker1", "worker2"): procs[w] = start("--distributed", "worker", "--tuner-id", w, log=f"{w}.log")
    try:
        rcs = {name: p.wait(timeout=540) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None: p.kill()
    logs = {name: (tmp_path/f"{name}.log").read_text() for name in procs}
    assert rcs == {"chief": 0, "worker1": 0, "worker2": 0}, {k: v[-2000:] for k, v in logs.items()}
    folder = next((tmp_path/"runs"/"default").glob("tune-fcn-random_search-*"))
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    # every trial handed out reached the chief's oracle, completed, and was run by one of the workers
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" and r["score"] for r in rows), rows
    assert {r["tuner"] for r in rows} <= {"worker1", "worker2"}
    ran = {w: set(json.loads((folder/f"trial_seconds-{w}.json").read_text())) for w in ("worker1", "worker2")}
    assert ran["worker1"].isdisjoint(ran["worker2"]) and ran["worker1"] | ran["worker2"] == {r["trial"] for r in rows}
    for w in ("worker1", "worker2"):
        assert f"worker ran {len(ran[w])} trials" in logs[w]
    assert (folder/"best_config.json").is_file() and "best config:" in logs["chief"]


def test_distributed_flags_are_checked(cli, write_config):
    r = cli("tune", "--config", write_config(), "--oracle", "127.0.0.1:8000")
    assert r.returncode == 1 and "--oracle and --tuner-id need --distributed chief|worker" in r.stderr
    r = cli("tune", "--config", write_config(), "--distributed", "worker", "--oracle", "localhost")
    assert r.returncode == 1 and "oracle address must be HOST:PORT" in r.stderr
    r = cli("tune", "--config", write_config(), "--distributed", "worker", "--oracle", "127.0.0.1:8000", "--tuner-id", "chief")
    assert r.returncode == 1 and "does not fit role 'worker'" in r.stderr
