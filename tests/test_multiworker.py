"""Multi-process training: two `trainlib train-model --distributed` processes on 127.0.0.1 (JAX backend, gloo)."""
import csv, json, os, socket, subprocess, sys

import numpy as np
import pytest

from conftest import TRAINLIB

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
