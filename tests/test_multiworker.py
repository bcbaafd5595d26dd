"""Multi-process training: two `trainlib train-model --distributed` processes on 127.0.0.1 (JAX backend, gloo)."""
import csv, json, os, socket, subprocess, sys

import numpy as np
import pytest

from conftest import GUNPOINT, TRAINLIB

jax = pytest.importorskip("jax", reason="multi-process training needs jax (pip install 'jax[cpu]', in dev_requirements)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINLIB_", "SLURM_"))}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _weights(path):
    import keras
    return keras.saving.load_model(path, compile=False).get_weights()


@pytest.mark.slow
def test_two_processes_train_in_lock_step(write_config, tmp_path):
    cfg = write_config(train={"max_epochs": 3, "batch_size": 16, "model_hp": {"filters": [8, 16, 8]}})
    port = free_port()
    # process 0 takes its place from flags, process 1 from the environment (as a cluster scheduler sets it)
    p0 = subprocess.Popen([str(TRAINLIB), "train-model", "--config", str(cfg), "--distributed", "--coordinator", f"127.0.0.1:{port}",
                           "--num-processes", "2", "--process-id", "0"],
                          stdout=open(tmp_path/"p0.log", "w"), stderr=subprocess.STDOUT, env=_env(KERAS_BACKEND="jax"), cwd=tmp_path)
    p1 = subprocess.Popen([str(TRAINLIB), "--backend", "jax", "train-model", "--config", str(cfg), "--distributed",
                           "--worker-dir", str(tmp_path/"worker1")],
                          stdout=open(tmp_path/"p1.log", "w"), stderr=subprocess.STDOUT, cwd=tmp_path,
                          env=_env(TRAINLIB_COORDINATOR=f"127.0.0.1:{port}", TRAINLIB_NUM_PROCESSES="2", TRAINLIB_PROCESS_ID="1"))
    try: rcs = [p0.wait(timeout=400), p1.wait(timeout=120)]
    finally:
        for p in (p0, p1):
            if p.poll() is None: p.kill()
    logs = [(tmp_path/f"p{i}.log").read_text() for i in (0, 1)]
    assert rcs == [0, 0], [log[-3000:] for log in logs]
    assert "2 processes" in logs[0] and "process 1 of 2: trained in lock-step" in logs[1]
    assert f"process 0 of 2: joining the group at 127.0.0.1:{port} (this waits until all 2 have joined)" in logs[0]   # not silent while it waits
    assert not any("ran out of data" in log for log in logs), logs                 # the validation slices' count is known
    # process 0 wrote the one run folder of the shared output; process 1 only its own throwaway one
    (run,) = (tmp_path/"runs"/"default").iterdir()
    history = list(csv.DictReader(open(run/"history.csv")))
    assert [int(r["epoch"]) for r in history] == [0, 1, 2]
    assert json.loads((run/"run.json").read_text())["status"] == "complete"
    assert json.loads((run/"env.json").read_text())["processes"] == 2
    assert (run/"metrics.json").is_file() and (run/"model.keras").is_file()
    (worker_run,) = (tmp_path/"worker1"/"default").iterdir()
    assert not (worker_run/"metrics.json").exists()             # only process 0 evaluates
    # both processes saw the same validation metrics every epoch and ended with the same weights
    assert list(csv.DictReader(open(worker_run/"history.csv"))) == history
    w0, w1 = _weights(run/"model.keras"), _weights(worker_run/"model.keras")
    assert len(w0) == len(w1) and all(np.array_equal(a, b) for a, b in zip(w0, w1))


def test_keras_backend_agrees_with_keras(tmp_path):
    "`trainlib.config.keras_backend`, which the CLI asks before TensorFlow loads, finds the backend Keras itself then runs."
    (tmp_path/"keras.json").write_text('{"backend": "jax"}')        # an empty KERAS_BACKEND leaves the choice to keras.json
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "KERAS_BACKEND": ""}
    code = "from trainlib.config import keras_backend; b = keras_backend(); import keras; print(b, keras.backend.backend())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-2:] == ["jax", "jax"], r.stdout


@pytest.mark.slow
def test_one_process_uses_every_local_device(write_config, tmp_path):
    "One machine, two (XLA host) devices: one process trains data-parallel over both and writes the run."
    cfg = write_config(train={"max_epochs": 2, "batch_size": 16, "model_hp": {"filters": [8, 16, 8]}})
    r = subprocess.run([str(TRAINLIB), "--backend", "jax", "train-model", "--config", str(cfg), "--distributed",
                        "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "1", "--process-id", "0"],
                       capture_output=True, text=True, timeout=400, cwd=tmp_path,
                       env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = (tmp_path/"runs"/"default").iterdir()
    env = json.loads((run/"env.json").read_text())
    assert env["backend"] == "jax" and len(env["devices"]) == 2 and env["processes"] == 1
    assert json.loads((run/"run.json").read_text())["status"] == "complete"
    assert len(list(csv.DictReader(open(run/"history.csv")))) == 2


def _pair(tmp_path, cfg, args1=(), main0=None, timeout=400):
    "Run process 0 (through script `main0` if given) and process 1 (with `args1`) of a 2-process group; their return codes and logs."
    port = free_port()
    common = ["train-model", "--config", str(cfg), "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    first = [sys.executable, str(main0)] if main0 else [str(TRAINLIB)]
    p0 = subprocess.Popen([*first, *common, "--process-id", "0"], stdout=open(tmp_path/"p0.log", "w"), stderr=subprocess.STDOUT,
                          env=_env(KERAS_BACKEND="jax"), cwd=tmp_path)
    p1 = subprocess.Popen([str(TRAINLIB), *common, "--process-id", "1", "--worker-dir", str(tmp_path/"worker1"), *args1],
                          stdout=open(tmp_path/"p1.log", "w"), stderr=subprocess.STDOUT, env=_env(KERAS_BACKEND="jax"), cwd=tmp_path)
    try: rcs = [p0.wait(timeout=timeout), p1.wait(timeout=120)]
    finally:
        for p in (p0, p1):
            if p.poll() is None: p.kill()
    return rcs, [(tmp_path/f"p{i}.log").read_text() for i in (0, 1)]


SLOW_DISK = '''
import sys, time
import trainlib.train as T
save = T.PeriodicBackup._save_model
def slow(self): save(self); time.sleep(1.0)          # process 0 writes to a slow shared disk: its backups take a second longer
T.PeriodicBackup._save_model = slow
from trainlib.cli import main
sys.exit(main())
'''


@pytest.mark.slow
def test_processes_save_at_the_same_epochs_when_one_saves_slowly(write_config, tmp_path):
    """Saving a model is collective under the distribution: a process that saves while another does not fails the job.
    Backups and best.keras were written when each process's own clock said so, and a slower disk on process 0 put the clocks apart."""
    cfg = write_config(train={"max_epochs": 12, "batch_size": 16, "checkpoint_interval": 1.0, "model_hp": {"filters": [8, 16, 8]}})
    (tmp_path/"slow_main.py").write_text(SLOW_DISK)
    rcs, logs = _pair(tmp_path, cfg, main0=tmp_path/"slow_main.py")
    assert rcs == [0, 0], [log[-3000:] for log in logs]
    (run,) = (tmp_path/"runs"/"default").iterdir()
    assert len(list(csv.DictReader(open(run/"history.csv")))) == 12
    assert json.loads((run/"run.json").read_text())["status"] == "complete"


@pytest.mark.slow
@pytest.mark.parametrize("other", ["seed", "data"])
def test_processes_with_another_setting_or_other_data_stop_naming_it(write_config, tmp_path, other):
    "A --set given to one process only, or a data file that differs on one machine, stops every process with the setting named (it was trained or crashed in JAX)."
    cfg = write_config(train={"max_epochs": 2, "batch_size": 16, "model_hp": {"filters": [8, 16, 8]}})
    if other == "seed": args1, error = ["--set", "train.seed=7"], "train.seed differs between processes: process 1 has another value than process 0"
    else:
        lines = (GUNPOINT/"train.csv").read_text().splitlines(keepends=True)
        (tmp_path/"other.csv").write_text("".join(lines[:-1]))                      # one series fewer on this machine
        args1, error = ["--set", f"etl.data_path={tmp_path/'other.csv'}"], "dataset version differs between processes: process 1 has another value than process 0"
    rcs, logs = _pair(tmp_path, cfg, args1, timeout=300)
    assert rcs == [1, 1], [log[-3000:] for log in logs]
    for log in logs: assert error in log, log[-3000:]
    assert not (tmp_path/"runs"/"default").exists() or not any((tmp_path/"runs"/"default").iterdir())   # nothing trained


@pytest.mark.slow
def test_one_process_over_three_devices_pads_the_short_validation_batch(write_config, tmp_path):
    "15 rows a batch over 3 devices: the 14-row last validation batch is padded (it failed to split), and a batch of 16 is refused by name."
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=3")
    def run(batch):
        cfg = write_config(f"b{batch}.json", train={"max_epochs": 1, "batch_size": batch, "model_hp": {"filters": [8, 16, 8]}})
        return subprocess.run([str(TRAINLIB), "--backend", "jax", "train-model", "--config", str(cfg), "--distributed", "--coordinator",
                               f"127.0.0.1:{free_port()}", "--num-processes", "1", "--process-id", "0"],
                              capture_output=True, text=True, timeout=400, cwd=tmp_path, env=env)
    r = run(16)
    assert r.returncode == 1 and "train.batch_size is the global batch, split evenly over the 3 devices of the 1 process(es): it must be a multiple of 3, got 16" in r.stderr, r.stderr[-3000:]
    r = run(15)
    assert r.returncode == 0, r.stderr[-3000:]
    (run_folder,) = (tmp_path/"runs"/"default").iterdir()
    assert json.loads((run_folder/"run.json").read_text())["status"] == "complete"
