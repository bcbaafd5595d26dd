"""Distributed tuning: one chief and two workers as local processes on 127.0.0.1, keras-tuner's own gRPC oracle."""
import csv, json, os, re, signal, socket, subprocess, time

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


TIMEOUT = 8                                # tune.worker_timeout in these tests
EARLIEST = TIMEOUT - TIMEOUT / 4           # the earliest stop after the kill: the timeout less one ping interval


def kill_mid_trial(write_config, tmp_path, victim:str) -> tuple[int, float, str, str]:
    """Start a chief and worker w1 (tune.worker_timeout 8 s, SIGINT ignored as in a shell's background job, where Python installs no handler),
    kill `victim` ('chief' or 'worker') 3 s into trial 0, and wait for the other: (its exit code, seconds it took after the kill, its log, the address).
    Silence counts from the victim's last call or answer, which came up to one ping (a quarter of the timeout, 2 s) before the kill:
    so the other may stop as early as 6 s after the kill (`EARLIEST`), never before."""
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 3, "max_epochs": 1000, "worker_timeout": TIMEOUT})
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    def start(*args, log):
        return subprocess.Popen([str(TRAINLIB), "tune", "--config", str(cfg), "--verbose", "0", "--oracle", address, *args],
                                stdout=open(tmp_path/log, "w"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    procs = {"chief": start("--distributed", "chief", log="chief.log"), "worker": start("--distributed", "worker", "--tuner-id", "w1", log="worker.log")}
    other = "worker" if victim == "chief" else "chief"
    try:
        deadline = time.monotonic() + 300
        while not list((tmp_path/"runs"/"default").glob("tune-*/trial_0/trial.json")):     # the chief handed out trial 0
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs.values()), (tmp_path/f"{other}.log").read_text()[-2000:]
            time.sleep(0.5)
        time.sleep(3)                                                       # w1 is training (1000 epochs)
        procs[victim].send_signal(signal.SIGKILL); procs[victim].wait()
        killed = time.monotonic()
        rc = procs[other].wait(timeout=120)
        return rc, time.monotonic() - killed, (tmp_path/f"{other}.log").read_text(), address
    finally:
        for p in procs.values():
            if p.poll() is None: p.kill()


@pytest.mark.slow   # failure injection across processes; the default suite keeps the chief-and-two-workers search
def test_chief_fails_the_trial_of_a_killed_worker_and_stops(write_config, tmp_path):
    "A worker killed during its trial: after tune.worker_timeout the chief fails that trial and, with no worker left, stops with an error."
    rc, waited, log, _ = kill_mid_trial(write_config, tmp_path, "worker")
    assert rc == 1, log[-3000:]
    assert "trainlib: error: the search stopped: no trial is running and every worker (w1) has been silent for over 8 s (tune.worker_timeout)" in log, log[-3000:]
    assert EARLIEST <= waited < 60, waited
    folder = next((tmp_path/"runs"/"default").glob("tune-fcn-random_search-*"))
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    assert [(r["trial"], r["status"]) for r in rows] == [("0", "FAILED")], rows
    silent = re.search(r"worker w1 sent nothing for (\d+) s", rows[0]["reason"])
    assert silent and int(silent[1]) >= TIMEOUT, rows


@pytest.mark.slow   # failure injection across processes; the default suite keeps the chief-and-two-workers search
def test_worker_stops_when_its_chief_is_killed(write_config, tmp_path):
    "The chief killed during a worker's trial: after tune.worker_timeout the worker stops with an error instead of waiting an hour per call."
    rc, waited, log, address = kill_mid_trial(write_config, tmp_path, "chief")
    assert rc == 1, log[-3000:]
    assert f"trainlib: error: this worker stops: the chief at {address} has not answered for" in log, log[-3000:]
    assert "(tune.worker_timeout is 8 s): it stopped or cannot be reached" in log, log[-3000:]
    silent = re.search(r"has not answered for (\d+) s", log)
    assert silent and int(silent[1]) >= TIMEOUT, log[-3000:]                       # silent for the whole timeout, counted from its last answer
    assert EARLIEST <= waited < 60, waited


def chief_and_worker(tmp_path, chief_args, worker_args, timeout=300) -> tuple[list[int], list[str]]:
    "Run `trainlib tune --distributed chief` and one worker w1 on a free local port, each with its own arguments (the config among them): exit codes and logs, chief's first."
    address, env = f"127.0.0.1:{free_port()}", {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    def start(role, args, log):
        return subprocess.Popen([str(TRAINLIB), "tune", "--verbose", "0", "--oracle", address, "--distributed", role, *map(str, args)],
                                stdout=open(tmp_path/log, "w"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    procs = [start("chief", chief_args, "chief.log"), start("worker", ["--tuner-id", "w1", *worker_args], "w1.log")]
    try: rcs = [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None: p.kill()
    return rcs, [(tmp_path/f).read_text() for f in ("chief.log", "w1.log")]


@pytest.mark.slow   # failure injection across processes
def test_failed_trials_in_a_row_on_a_worker_stop_the_chief_with_the_reason(write_config, tmp_path):
    """Every trial of the worker fails (its children get 200 MiB): the chief stops at tune.max_consecutive_failed_trials with the last reason,
    at once (it waited tune.worker_timeout and then blamed a lost connection), the worker is told to stop (it died with a gRPC traceback),
    and trials.csv says why each trial failed (keras-tuner does not send a worker's message to the chief)."""
    cfg = write_config(tune={"strategy": "random_search", "max_trials": 5, "max_epochs": 1, "max_consecutive_failed_trials": 2,
                             "worker_timeout": 60})
    rcs, logs = chief_and_worker(tmp_path, ["--config", cfg, "--isolate", "none"], ["--config", cfg, "--isolate", "process", "--memory-limit-mb", "200"])
    assert rcs == [1, 0], [log[-3000:] for log in logs]
    assert "trainlib: error: the search stopped: 2 failed trials in a row (tune.max_consecutive_failed_trials); the last one: " in logs[0], logs[0][-3000:]
    assert "memory_limit_mb=200" in logs[0], logs[0][-3000:]
    assert "sent nothing" not in logs[0], logs[0][-3000:]
    assert "_InactiveRpcError" not in logs[1] and "worker ran 2 trials: 0, 1" in logs[1], logs[1][-3000:]   # (keras-tuner prints each failed trial's traceback)
    folder = next((tmp_path/"runs"/"default").glob("tune-fcn-random_search-*"))
    rows = list(csv.DictReader(open(folder/"trials.csv")))
    assert [r["status"] for r in rows] == ["FAILED", "FAILED"] and all("memory_limit_mb=200" in r["reason"] for r in rows), rows


@pytest.mark.slow   # failure injection across processes
def test_a_worker_with_other_data_stops_at_its_first_trial(write_config, tmp_path):
    "A worker whose data differ from the chief's (one series fewer on its machine) stops at its first trial; it trained on them and the chief kept the scores."
    from conftest import GUNPOINT
    lines = (GUNPOINT/"train.csv").read_text().splitlines(keepends=True)
    (tmp_path/"other.csv").write_text("".join(lines[:-1]))
    tune = {"strategy": "random_search", "max_trials": 2, "max_epochs": 1, "worker_timeout": 8}
    cfg, other = write_config(tune=tune), write_config("other.json", tune=tune, etl={"data_path": str(tmp_path/"other.csv")})
    rcs, logs = chief_and_worker(tmp_path, ["--config", cfg, "--isolate", "none"], ["--config", other, "--isolate", "none"])
    assert rcs == [1, 1], [log[-3000:] for log in logs]
    assert "trainlib: error: this worker's search is not the chief's" in logs[1], logs[1][-3000:]
    rows = list(csv.DictReader(open(next((tmp_path/"runs"/"default").glob("tune-*/trials.csv")))))
    assert not any(r["status"] == "COMPLETED" for r in rows), rows


@pytest.mark.slow
def test_a_worker_reports_the_trials_it_ran_this_time(write_config, tmp_path):
    "The search continued with one trial more: the worker ran only that one, and says so (it counted its trials of the first run too)."
    for trials, ran in ((1, "worker ran 1 trials: 0"), (2, "worker ran 1 trials: 1")):
        cfg = write_config(tune={"strategy": "random_search", "max_trials": trials, "max_epochs": 1})
        rcs, logs = chief_and_worker(tmp_path, ["--config", cfg, "--isolate", "none"], ["--config", cfg, "--isolate", "none"])
        assert rcs == [0, 0] and ran in logs[1], [log[-3000:] for log in logs]
