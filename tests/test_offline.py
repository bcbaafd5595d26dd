"""Offline first, sync later (`trainlib sync`) and preflight checks (`trainlib check`, and `train-model` running them first)."""
import csv, json, socket, sqlite3, threading, time

import pytest

from conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A finished (trained + evaluated) 3-epoch GunPoint run made in-process with tracking off: (config path, run folder)."
    from trainlib.cli import main
    tmp = tmp_path_factory.mktemp("offline")
    cfg = tmp/"config.json"
    cfg.write_text(json.dumps(tiny_config(tmp, train={"max_epochs": 3, "run_name": "offline", "experiment": "exp"})))
    assert main(["train-model", "--config", str(cfg), "--verbose", "0"]) == 0
    return cfg, tmp/"runs"/"exp"/"offline"


def _history(run):
    with open(run/"history.csv", newline="") as f: return list(csv.DictReader(f))


def test_sync_twice_gives_one_mlflow_run_with_full_metric_history(trained, tmp_path, capsys):
    from trainlib.cli import main
    cfg, run = trained
    assert not (run/"mlflow.json").exists()                       # trained offline: no tracker ran
    uri = f"sqlite:///{tmp_path/'store'/'mlflow.db'}"
    assert main(["sync", str(run), "--mlflow", uri]) == 0
    assert "synced to MLflow run" in capsys.readouterr().out
    assert main(["sync", str(run), "--mlflow", uri]) == 0           # again: nothing new
    out = capsys.readouterr().out
    assert "already in MLflow as run" in out and "nothing to do" in out
    db = sqlite3.connect(tmp_path/"store"/"mlflow.db")
    (uuid, name, status, stage, art), = db.execute("select run_uuid, name, status, lifecycle_stage, artifact_uri from runs").fetchall()
    assert (name, status, stage) == ("offline", "FINISHED", "active")
    assert db.execute("select name from experiments where experiment_id = (select experiment_id from runs)").fetchone()[0] == "exp"
    assert json.loads((run/"mlflow_sync.json").read_text())[uri]["run_id"] == uuid
    params = dict(db.execute("select key, value from params where run_uuid=?", (uuid,)))
    assert params["train.max_epochs"] == "3" and params["shared.model_type"] == "fcn" and params["train.model_hp.filters"] == "[8, 16, 8]"
    history = _history(run)
    assert len(history) == 3
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        rows = db.execute("select step, value from metrics where run_uuid=? and key=? order by step", (uuid, key)).fetchall()
        assert [s for s, _ in rows] == [0, 1, 2], key
        assert [v for _, v in rows] == pytest.approx([float(h[key]) for h in history], rel=1e-6), key
    metrics = json.loads((run/"metrics.json").read_text())
    test_acc = db.execute("select value from metrics where run_uuid=? and key='test_accuracy'", (uuid,)).fetchone()[0]
    assert test_acc == pytest.approx(metrics["accuracy"])
    art = tmp_path/"store"/"mlartifacts"/"exp"/uuid/"artifacts"
    assert db.execute("select artifact_uri from runs").fetchone()[0] == art.as_uri()
    for f in ("model.keras", "model.h5", "history.csv", "metrics.json", "config.json", "confusion_matrix.png", "curves.png", "checkpoints/best.keras"):
        assert (art/f).is_file(), f
    assert not (art/"backup").exists()


def test_sync_to_a_server_that_does_not_answer_stops_after_one_try(trained, capsys):
    "A tracking server that cannot be reached is one error line after one connection, not after MLflow's minutes of retries."
    from trainlib.cli import main
    server, tries = socket.create_server(("127.0.0.1", 0)), []
    def refuse():                                              # accept each connection and close it unanswered
        while True:
            try: conn, _ = server.accept()
            except OSError: return
            tries.append(1); conn.close()
    threading.Thread(target=refuse, daemon=True).start()
    uri = f"http://127.0.0.1:{server.getsockname()[1]}"
    try: assert main(["sync", str(trained[1]), "--mlflow", uri]) == 1
    finally: server.close()
    err = capsys.readouterr().err
    assert err.startswith(f"trainlib: error: MLflow at {uri}: ") and len(err.strip().splitlines()) == 1, err
    assert len(tries) == 1


def test_sync_refuses_an_unfinished_run(tmp_path, capsys):
    from trainlib.cli import main
    run = tmp_path/"runs"/"default"/"half"
    run.mkdir(parents=True)
    (run/"run.json").write_text(json.dumps({"status": "running", "started": time.time()}))
    assert main(["sync", str(run), "--mlflow", f"sqlite:///{tmp_path/'mlflow.db'}"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (f"trainlib: error: {run}: the run is not finished (run.json status 'running'); "
                                                                "sync it after training and evaluation have marked it complete")
    assert not (tmp_path/"mlflow.db").exists()


def test_check_catches_a_missing_file_in_under_5_seconds(cli, write_config, tmp_path):
    cfg = write_config(etl={"test_path": str(tmp_path/"missing.csv")})
    start = time.perf_counter()
    r = cli("check", "--config", cfg)
    seconds = time.perf_counter() - start
    print(f"trainlib check (missing file, subprocess): {seconds:.2f} s")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"trainlib: error: data path not found: {tmp_path/'missing.csv'}"]
    assert r.stdout.splitlines()[0].split() == ["status", "check", "where", "detail"]
    assert [l.split()[0] for l in r.stdout.splitlines()[1:]] == ["ok", "ok", "error", "skipped", "ok", "ok"], r.stdout
    assert f"etl.test_path: {tmp_path/'missing.csv'}" in r.stdout
    assert not (tmp_path/"runs").exists() and not (tmp_path/"datasets").exists()    # the check leaves nothing behind
    assert seconds < 5, f"trainlib check took {seconds:.1f} s"


def test_check_passes_a_good_config_and_checks_a_pretrained_model(trained, capsys):
    from trainlib.cli import main
    cfg, run = trained
    assert main(["check", "--config", str(cfg), "--model", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    checks = [l.split()[1] + (" " + l.split()[2] if l.split()[1] in ("input", "output", "dataset", "pretrained", "run") else "") for l in out[1:-1]]
    assert checks == ["config", "input file", "input file", "dataset version", "run folder", "model", "pretrained model", "output folder", "output folder"]
    assert all(l.split()[0] == "ok" for l in out[1:-1]) and out[-1] == "all 9 checks passed"
    assert "fcn builds: input (150, 1), 2 classes" in "\n".join(out)
    # a dataset version and a pretrained model for another target_length do not fit
    # (in another run folder: the trained one, made with target_length 150, would refuse it, and the check says so)
    assert main(["check", "--config", str(cfg), "--model", str(run), "--set", "shared.target_length=100", "--set", "train.run_name=other"]) == 1
    cap = capsys.readouterr()
    assert "the model takes input (150, 1), but the config's data have shape (100, 1)" in cap.err
    assert [l.split()[0] for l in cap.out.splitlines()[1:]] == ["ok", "ok", "ok", "ok", "ok", "error", "ok", "ok"]
    assert main(["check", "--config", str(cfg), "--set", "shared.target_length=100"]) == 1
    assert "holds a run made with other settings (shared.target_length: 150 in the run, 100 now)" in capsys.readouterr().err


def test_check_finds_an_output_folder_it_cannot_create(write_config, tmp_path, capsys):
    "A folder below a plain file cannot be made, even by root (a read-only folder would not stop root)."
    from trainlib.cli import main
    (tmp_path/"afile").write_text("x")
    assert main(["check", "--config", str(write_config(shared={"output_dir": str(tmp_path/"afile"/"runs")}))]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"trainlib: error: {tmp_path/'afile'/'runs'}: not writable (Not a directory)"


def test_train_model_checks_before_making_the_dataset(write_config, tmp_path, capsys):
    from trainlib.cli import main
    cfg = write_config(shared={"model_type": "transformer9000"})
    assert main(["train-model", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("preflight: ") and "trainlib: error: unknown model 'transformer9000'; available:" in err
    assert not (tmp_path/"datasets").exists() and not (tmp_path/"runs").exists()
    # --no-check: the same mistake is found only after the dataset version was made
    assert main(["train-model", "--config", str(cfg), "--no-check"]) == 1
    err = capsys.readouterr().err
    assert "preflight" not in err and "trainlib: error: unknown model 'transformer9000'" in err
    assert list((tmp_path/"datasets").glob("*/manifest.json"))
