"""Failure injection: kill -9 and resume, determinism, two make-dataset runs at once, atomic artifacts."""
import csv, json, os, re, signal, subprocess, time
from pathlib import Path

import pytest

from conftest import TRAINLIB, tiny_config

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(args, cwd, log):
    return subprocess.Popen([str(TRAINLIB), *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=ENV, cwd=cwd)


def _kill(*procs):
    for p in procs:
        if p.poll() is None: p.kill(); p.wait(timeout=60)


def _history(run):
    with open(run/"history.csv", newline="") as f: return list(csv.DictReader(f))


def _kill9_after(args, cwd, run, epochs:int):
    "Run `trainlib *args` in `cwd` and kill -9 it once `run`'s history.csv holds `epochs` epochs (its output in cwd/log1.txt)."
    log = open(cwd/"log1.txt", "w")
    p = _start(args, cwd, log)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if (run/"history.csv").is_file() and len((run/"history.csv").read_text().splitlines()) > epochs: break
            assert p.poll() is None, (cwd/"log1.txt").read_text()[-3000:]
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    finally: _kill(p)


# --- concurrency -----------------------------------------------------------------------------------

def test_two_make_dataset_at_once_give_one_version(write_config, tmp_path):
    cfg = write_config()
    logs = [open(tmp_path/f"log{i}.txt", "w+") for i in range(2)]
    procs = [_start(["make-dataset", "--config", cfg], tmp_path, log) for log in logs]
    try: rcs = [p.wait(timeout=300) for p in procs]
    finally: _kill(*procs)
    outs = [(tmp_path/f"log{i}.txt").read_text() for i in range(2)]
    assert rcs == [0, 0], outs
    paths = {o.strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1, paths                                   # both name the same version
    versions = [d for d in (tmp_path/"datasets").iterdir()]
    assert [d.name for d in versions] == [Path(paths.pop()).name], versions   # one folder, no .tmp leftovers
    from trainlib.store import DatasetVersion, load_arrays
    ds = DatasetVersion(versions[0])
    x, y = load_arrays(ds, "train")
    assert len(x) == len(y) == ds.count("train") > 0


def test_make_dataset_losing_the_race_keeps_the_winners_version(write_config, tmp_path):
    "A second build of a version that appeared meanwhile (the other process won the rename) returns that version."
    import trainlib.store as S
    from trainlib.config import load_config
    cfg = load_config(write_config())
    first = S.make_dataset(cfg)
    before = {f.name: f.stat().st_mtime_ns for f in first.path.iterdir()}
    sources = {"data": S.list_csv_files(cfg.etl.data_path), "test": S.list_csv_files(cfg.etl.test_path)}
    inputs = {role: [S.file_sha256(f) for f in files] for role, files in sources.items()}
    again = S._build(cfg, sources, None, inputs, first.version, first.path)     # what the slower process does
    assert again.path == first.path and again.version == first.version
    assert {f.name: f.stat().st_mtime_ns for f in first.path.iterdir()} == before   # the winner's files untouched
    assert [d.name for d in (tmp_path/"datasets").iterdir()] == [first.version]      # the loser's temp folder removed


# --- atomic artifacts ------------------------------------------------------------------------------

WRITES = re.compile(r'\.write_text\(|\.write_bytes\(|open\([^)]*"(w|a|wb|ab)"|\.save\(|\.save_weights\(|savefig\(|'
                    r'h5py\.File\([^)]*"[wa]"|execute_notebook\(|\.dump\(|\.to_csv\(')
# writes that are atomic by another route, or are not artifacts; a new one must go through write_atomic / a temp name
WRITE_EXCEPTIONS = {
    "docs.py": "the documentation site builder, not a run artifact",
    'store.py:    with h5py.File(staged, "r") as src, h5py.File(path, "w") as h5:': "_write_h5 writes inside the temporary version folder, renamed when complete",
    'store.py:        self.h5 = h5py.File(path, "w")': "the staging file, inside the temporary version folder and deleted before the rename",
    "train.py:    \"`model.save(path)` via a temporary file and a rename.\"": "a docstring",
    'track.py:    with open(lock, "a") as fh:': "a lock file (its content is never read)",
    'check.py:        probe.write_bytes(b"ok"); probe.unlink()': "preflight's writability probe (.tmp-preflight-<pid>), deleted at once",
}

def test_every_artifact_write_goes_through_a_temporary_name():
    "Static audit of trainlib/: each file write names a temporary path (then renamed) or is a listed exception."
    pkg = Path(__file__).resolve().parent.parent/"trainlib"
    bad = []
    for f in sorted(pkg.glob("*.py")):
        if f.name in WRITE_EXCEPTIONS: continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if WRITES.search(line) and "tmp" not in line and f"{f.name}:{line}" not in WRITE_EXCEPTIONS:
                bad.append(f"{f.name}:{i}: {line.strip()}")
    assert not bad, "non-atomic writes:\n" + "\n".join(bad)


def test_failed_model_save_leaves_previous_file(tmp_path, monkeypatch):
    import keras
    from trainlib.train import save_model_atomic
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = save_model_atomic(model, tmp_path/"model.keras")
    before = path.read_bytes()
    def broken_save(self, filepath, *a, **k):
        Path(filepath).write_bytes(b"half a zip")               # a partial write, then a crash
        raise OSError("disk full")
    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"): save_model_atomic(model, path)
    assert path.read_bytes() == before                            # the real name still holds the complete old model
    assert [f.name for f in tmp_path.iterdir()] == ["model.keras"]  # and the partial temp file is gone


def test_backup_state_is_consistent_if_killed_between_writes(tmp_path, monkeypatch):
    "A kill after the new weights file but before state.json: the state still names complete, older weights."
    import keras, numpy as np
    import trainlib.train as T
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]); model.compile("adam", "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    cb = T.PeriodicBackup(tmp_path/"backup", interval=0); cb.set_model(model)
    cb._current_epoch = 1; cb._save_model()
    assert T.backup_state(tmp_path/"backup") == {"epoch": 1, "weights": "epoch-00001.weights.h5", "seeds": [], "callbacks": [], "phase": None,
                                                 "seconds": None}   # no dropout, no callbacks, one phase, no fit clock
    cb.clock = lambda: 12.5; cb._save_model()
    assert T.backup_state(tmp_path/"backup")["seconds"] == 12.5         # the run's fit seconds so far (`Run.fit_seconds`)
    monkeypatch.setattr(T, "write_atomic", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
    cb._current_epoch = 2
    with pytest.raises(KeyboardInterrupt): cb._save_model()
    state = T.backup_state(tmp_path/"backup")
    assert state["epoch"] == 1 and (tmp_path/"backup"/state["weights"]).is_file()
    model.load_weights(tmp_path/"backup"/state["weights"])         # complete and loadable


def test_trim_history_drops_epochs_after_the_backup(tmp_path):
    from trainlib.train import trim_history
    f = tmp_path/"history.csv"
    f.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n3,0.")             # last row cut off by a kill
    trim_history(f, 2)
    assert f.read_text() == "epoch,loss\n0,0.9\n1,0.8\n"
    trim_history(f, 5)
    assert f.read_text() == "epoch,loss\n0,0.9\n1,0.8\n"


# --- determinism ---------------------------------------------------------------------------------

def test_same_config_dataset_and_seed_give_identical_metrics(tmp_path):
    "Two trainings of one config on one dataset version with one seed: bitwise-equal history and weights."
    import numpy as np
    from trainlib.config import TrainConfig
    from trainlib.store import make_dataset
    from trainlib.train import train, read_history, load_model
    cfg = TrainConfig.from_dict(tiny_config(tmp_path, train={"deterministic": True, "max_epochs": 3}))
    ds = make_dataset(cfg)
    a, b = (train(cfg.update({"train.run_name": n}), ds, verbose=0) for n in ("a", "b"))
    ha, hb = read_history(a), read_history(b)
    assert ha == hb and len(ha["loss"]) == 3, (ha, hb)
    for wa, wb in zip(load_model(a).get_weights(), load_model(b).get_weights()): assert np.array_equal(wa, wb)


# --- kill -9 and resume ----------------------------------------------------------------------------

@pytest.mark.slow
def test_kill9_mid_training_then_rerun_resumes_and_finishes(tmp_path):
    epochs = 8
    base = tiny_config(tmp_path, train={"max_epochs": epochs, "patience": 100, "checkpoint_interval": 0.0,
                                        "deterministic": True, "run_name": "killed"})
    (tmp_path/"c.json").write_text(json.dumps(base))
    run = tmp_path/"runs"/"default"/"killed"
    _kill9_after(["train-model", "--config", "c.json"], tmp_path, run, 3)
    killed_at = len(_history(run))
    assert 3 <= killed_at < epochs
    info = json.loads((run/"run.json").read_text())
    assert info["status"] == "running" and not (run/"metrics.json").exists()    # never marked complete
    assert (run/"backup"/"state.json").is_file()
    resume_epoch, before = (json.loads((run/"backup"/"state.json").read_text())[k] for k in ("epoch", "seconds"))
    assert before > 0, before
    # the same command again resumes from backup/ and finishes with all the epochs
    r = subprocess.run([str(TRAINLIB), "train-model", "--config", "c.json"], capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _history(run)
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    done = json.loads((run/"run.json").read_text())
    assert done["status"] == "complete"
    # one run in two parts: it started when the killed command did, and its fit seconds count the part before the kill
    assert done["started"] == info["started"] and done["resumed"] > info["started"] and done["fit_seconds"] > before, (done, before)
    assert not (run/"backup").exists() and not list(run.rglob(".tmp-*"))
    # an uninterrupted run of the same config: the epochs before the resume point are bitwise equal
    (tmp_path/"u.json").write_text(json.dumps({**base, "train": {**base["train"], "run_name": "uninterrupted"}}))
    r = subprocess.run([str(TRAINLIB), "train-model", "--config", "u.json"], capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    full = _history(tmp_path/"runs"/"default"/"uninterrupted")
    print(f"resumed at epoch {resume_epoch} (killed after {killed_at} logged); final val_loss resumed "
          f"{rows[-1]['val_loss']}, uninterrupted {full[-1]['val_loss']}")
    # same seed, deterministic ops, weights + optimizer state restored, the data stream restarted at the same epoch:
    # every logged metric (CSV text, i.e. the float32 values) and every final weight are bitwise equal
    assert rows == full
    import keras, numpy as np
    for name in ("model.keras", "checkpoints/last.keras"):
        wa = keras.saving.load_model(run/name).get_weights()
        wb = keras.saving.load_model(tmp_path/"runs"/"default"/"uninterrupted"/name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(wa, wb)), name
    ma, mb = (json.loads((r/"metrics.json").read_text()) for r in (run, tmp_path/"runs"/"default"/"uninterrupted"))
    assert (ma["accuracy"], ma["confusion_matrix"]) == (mb["accuracy"], mb["confusion_matrix"])


@pytest.mark.slow
def test_kill9_in_an_image_runs_second_phase_then_rerun_goes_on_there(tmp_path):
    "train-images with frozen epochs, killed in its unfrozen phase: the same command trains only the epochs after the backup."
    root = Path(__file__).resolve().parents[1]
    args = ["train-images", root/"data"/"images"/"varkodes", "run", "--epochs", "6", "--freeze-epochs", "2", "--checkpoint-interval", "0",
            "--image-size", "8", "8", "--model-hp", "{hidden_dim: 8, depth: 1, num_heads: 1, mlp_dim: 8}", "--dataset-dir", "ds", "-g"]
    run = tmp_path/"run"
    _kill9_after(args, tmp_path, run, 4)      # two epochs of the unfrozen phase
    killed_at = len(_history(run))
    state = json.loads((run/"backup"/"state.json").read_text())
    assert 4 <= killed_at < 8 and state["phase"] == {"index": 1, "start": 2} and state["seconds"] > 0, (killed_at, state)
    killed = json.loads((run/"run.json").read_text())
    assert killed["status"] == "running"
    r = subprocess.run([str(TRAINLIB), *map(str, args)], capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming the killed run in its phase 2, after epoch {state['epoch']}" in r.stderr, r.stderr[-3000:]
    assert [int(row["epoch"]) for row in _history(run)] == list(range(8))
    done = json.loads((run/"run.json").read_text())
    assert done["status"] == "trained"
    assert done["started"] == killed["started"] and done["fit_seconds"] > state["seconds"], (done, state)   # both parts, both phases
    assert not (run/"backup").exists() and not list(run.rglob(".tmp-*"))
    assert [p["phase"] for p in json.loads((run/"metrics.json").read_text())["phases"]] == ["head only", "unfrozen"]
