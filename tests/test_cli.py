"""The CLI round trip: create-train-config -> train-model -> artifacts that exist and load."""
import json

import keras
import pytest

from conftest import GUNPOINT, ROOT


def test_help_lists_every_subcommand(cli):
    out = cli("--help").stdout
    for cmd in ("create-train-config", "make-dataset", "train-model", "evaluate", "report"):
        assert cmd in out
    for cmd in ("create-train-config", "make-dataset", "train-model", "evaluate", "report"):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "usage: trainlib" in r.stdout


def test_round_trip(cli, tmp_path):
    cfg = tmp_path/"cfg.json"
    r = cli("create-train-config", "--file", cfg)
    assert r.returncode == 0, r.stderr
    default = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**default, "note": "edited"}))
    r = cli("create-train-config", "--file", cfg)                  # an existing (edited) config is kept
    assert r.returncode == 1 and f"--file: {cfg} exists; pass --overwrite" in r.stderr and "edited" in cfg.read_text()
    assert cli("create-train-config", "--file", cfg, "--overwrite").returncode == 0 and json.loads(cfg.read_text()) == default
    assert default["train"]["max_epochs"] == 300 and default["shared"]["target_length"] == 500
    sets = [f"etl.data_path={GUNPOINT/'train.csv'}", f"etl.test_path={GUNPOINT/'test.csv'}",
            f"etl.dataset_dir={tmp_path/'datasets'}", f"shared.output_dir={tmp_path/'runs'}",
            "shared.num_classes=2", "shared.target_length=150", "shared.model_type=fcn",
            "train.max_epochs=2", "train.batch_size=16", "train.model_hp={filters: [8, 16, 8]}"]
    args = ["train-model", "--config", cfg, *[a for s in sets for a in ("--set", s)]]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "test accuracy:" in r.stdout
    assert "absl::InitializeLog" not in r.stderr and "oneDNN custom operations" not in r.stderr, r.stderr[:2000]  # TF's start-up lines
    assert "You are saving your model as an HDF5 file" not in r.stderr, r.stderr[:2000]     # Keras's .h5 advice: model.h5 is on purpose
    run = next((tmp_path/"runs"/"default").iterdir())
    for name in ("model.keras", "model.h5", "labels.txt", "metrics.json", "history.csv", "confusion_matrix.png",
                 "curves.png", "config.json", "dataset.json", "env.json", "checkpoints/best.keras", "checkpoints/last.keras"):
        assert (run/name).is_file(), name
    model = keras.saving.load_model(run/"model.keras")
    assert model.input_shape == (None, 150, 1) and model.output_shape == (None, 2)
    legacy = keras.saving.load_model(run/"model.h5", compile=False)
    assert legacy.count_params() == model.count_params()
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["n"] == 150 and 0 <= metrics["accuracy"] <= 1
    assert json.loads((run/"run.json").read_text())["status"] == "complete"
    assert (run/"labels.txt").read_text().split() == ["1", "2"]
    # the same command again returns the finished run instead of training again
    r2 = cli(*args)
    assert r2.returncode == 0 and f"{run}: already" in r2.stdout + r2.stderr
    assert len(list((tmp_path/"runs"/"default").iterdir())) == 1
    # scoring the validation split writes beside the test results and leaves them as they are
    tested = {f: (run/f).read_bytes() for f in ("metrics.json", "confusion_matrix.png", "bundle.json")}
    r3 = cli("evaluate", "--run", run, "--split", "val")
    assert r3.returncode == 0 and f"val accuracy: " in r3.stdout and str(run/"metrics_val.json") in r3.stdout, r3.stderr
    assert json.loads((run/"metrics_val.json").read_text())["split"] == "val" and (run/"confusion_matrix_val.png").is_file()
    assert {f: (run/f).read_bytes() for f in tested} == tested


def test_config_debug_shows_tracebacks(cli, write_config, tmp_path):
    "The config's `debug` (Capfinder's debug_code) does what --debug does: a full traceback instead of one line."
    for debug in (False, True):
        cfg = json.loads(write_config().read_text())
        cfg["debug"], cfg["etl"]["data_path"] = debug, str(tmp_path/"nope.csv")
        (tmp_path/"d.json").write_text(json.dumps(cfg))
        r = cli("make-dataset", "--config", tmp_path/"d.json")
        assert r.returncode == 1 and "nope.csv" in r.stderr, r.stderr
        assert ("Traceback (most recent call last)" in r.stderr) == debug, r.stderr


def test_capfinder_config_is_accepted(cli, tmp_path):
    cap = {"etl_params": {"use_remote_dataset_version": "", "caps_data_dir": "data", "examples_per_class": 1000,
                          "comet_project_name": "dataset"},
           "shared_params": {"num_classes": 2, "model_type": "fcn", "batch_size": 16, "target_length": 150,
                             "dtype": "float32", "train_test_fraction": 0.95, "train_val_fraction": 0.8,
                             "use_augmentation": False, "output_dir": "runs"}}
    (tmp_path/"cap.json").write_text(json.dumps(cap))
    (tmp_path/"data").mkdir()
    (tmp_path/"data"/"signals.csv").write_text((GUNPOINT/"train.csv").read_text())
    r = cli("make-dataset", "--config", "cap.json")
    assert r.returncode == 0, r.stderr
    assert "Comet ML setting" in r.stderr
    assert "DatasetVersion" in r.stdout


def test_check_takes_a_feedforward_config(cli, tmp_path):
    "`trainlib check` on a train-sequences config checks that kind of run, instead of calling its first key unknown."
    (tmp_path/"ff.yaml").write_text("dataset: aptamers_demo\nepochs: 1\ntarget: binderr\n")
    r = cli("check", "--config", tmp_path/"ff.yaml")
    assert r.returncode == 1 and "got 'binderr'" in r.stderr and "unknown key" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert [l.split()[:2] for l in r.stdout.splitlines()[1:5]] == [["ok", "config"], ["error", "dataset"], ["skipped", "model"],
                                                                   ["ok", "output"]], r.stdout


@pytest.mark.parametrize("command", ["tune", "grid", "transfer", "evaluate", "predict", "train-sequences", "grid-sequences", "train-images",
                                     "train-images --epochs", "train-images -c", "grid --meta", "grid-sequences --meta",
                                     "train-model seg.py", "transfer --model", "train-model --distributed",
                                     "train-model --distributed jax", "train-model --coordinator", "train-images -t", "train-images -V", "segment", "segment --overlap", "predict --threshold", "predict feed-forward",
                                     "predict --output", "segment --output", "train-images outdir", "train-images inside", "evaluate --run",
                                     "transfer --unfreeze-lr-factor", "predict --output run", "train-model run_name"])
def test_a_bad_argument_is_reported_before_tensorflow_loads(cli, write_config, tmp_path, command):
    "A bad config, run folder or path ends the command before TensorFlow's import (seconds): a `tensorflow` that fails to import stands in for it."
    fake = tmp_path/"fake"/"tensorflow"; fake.mkdir(parents=True)
    (fake/"__init__.py").write_text("raise ImportError('TensorFlow was imported')")
    bad = tmp_path/"bad.yaml"; bad.write_text("train:\n  max_epoch: 5\n")
    ff = tmp_path/"ff.yaml"; ff.write_text("dataset: aptamers_demo\nepoch: 3\n")
    table = tmp_path/"labels.csv"; table.write_text((ROOT/"data"/"images"/"labels.csv").read_text() + "d9_30,digit_9;odd\n")
    (tmp_path/"imgrun").mkdir(); (tmp_path/"imgrun"/"dataset.json").write_text('{"multi_label": true}')
    (tmp_path/"ffrun").mkdir(); (tmp_path/"ffrun"/"dataset.json").write_text('{"heads": ["affinity"]}')
    (tmp_path/"new"/"images").mkdir(parents=True); (tmp_path/"new"/"run.json").write_text("{}")    # a run folder holding the input
    seg = tmp_path/"seg.py"; seg.write_text(f"model_name = '2d_unet'\nclasses = ['ball', 'boxx']\ndata_path = {str(ROOT/'data'/'volumes')!r}\n")
    fixed = tmp_path/"runs"/"default"/"fixed"; fixed.mkdir(parents=True)      # a run made with another seed, where train.run_name points
    (fixed/"run.json").write_text("{}"); (fixed/"config.json").write_text('{"train": {"seed": 7}}')
    args, error = {"tune": (["--config", bad], f"{bad}: unknown key 'train.max_epoch'"),
                   "grid": (["--config", bad, "--meta", "{width: [1]}"], f"{bad}: unknown key 'train.max_epoch'"),
                   "transfer": (["--config", bad, "--model", tmp_path/"base.keras"], f"{bad}: unknown key 'train.max_epoch'"),
                   "evaluate": (["--run", tmp_path/"nope"], f"not a run folder (no dataset.json): {tmp_path/'nope'}"),
                   "predict": (["--model", tmp_path/"nope", "--input", bad, "--output", tmp_path/"p.csv"],
                               f"--model: no such file or folder: {tmp_path/'nope'}"),
                   "train-sequences": (["--config", ff], f"{ff}: unknown key 'epoch'"),
                   "grid-sequences": (["--config", ff, "--meta", "{num_fc_layers: [0, 1]}"], f"{ff}: unknown key 'epoch'"),
                   "train-images": ([tmp_path/"nope", tmp_path/"run"], f"input: no such file or folder: {tmp_path/'nope'}"),
                   "train-images --epochs": ([ROOT/"data"/"images", tmp_path/"run", "--epochs", "0"], "epochs must be > 0, got 0"),
                   "segment --overlap": (["--config", seg, "--input", ROOT/"data"/"volumes"/"blobs_0.h5", "--output", tmp_path/"p.h5", "--overlap", "1"],
                                         "--overlap must be < 1, got 1.0"),
                   "predict --output": (["--model", ROOT/"data", "--input", bad, "--output", tmp_path/"x"/".."/"bad.yaml"],
                                        f"--output: {tmp_path/'x'/'..'/'bad.yaml'} is an input of this command and would be replaced"),
                   "segment --output": (["--config", seg, "--input", ROOT/"data"/"volumes"/"blobs_0.h5", "--output", f"{tmp_path}/out/"],
                                        f"--output: {tmp_path}/out/ is a folder; give the file to write"),
                   "train-images outdir": ([ROOT/"data"/"images", tmp_path], f"{tmp_path} is not empty and is not a trainlib run folder (no run.json)"),
                   "train-images inside": ([tmp_path/"new"/"images", tmp_path/"new"], f"outdir: {tmp_path/'new'} holds the input"),
                   "evaluate --run": (["--run", tmp_path/"imgrun"], f"--run: {tmp_path/'imgrun'} is an image (train-images) run, scored when it finished"),
                   "predict --threshold": (["--model", ROOT/"data", "--input", bad, "--output", tmp_path/"p.csv", "--threshold", "1.5"],
                                           "--threshold must be < 1, got 1.5"),
                   "predict feed-forward": (["--model", tmp_path/"ffrun", "--input", bad, "--output", tmp_path/"p.csv", "--threshold", "0.5"],
                                            f"--threshold: {tmp_path/'ffrun'} is a feed-forward run, which has no threshold"),
                   "segment": (["--config", bad, "--input", ROOT/"data"/"volumes"/"blobs_0.h5", "--output", tmp_path/"p.h5"],
                               f"--config must be a python segmentation config (.py), got {bad}"),
                   "train-images -t": ([ROOT/"data"/"images", tmp_path/"run", "-t", table], f"{table}: unknown sample 'd9_30' (no image of it; 1 such samples)"),
                   "train-images -V": ([ROOT/"data"/"images", tmp_path/"run", "-V", "d0_00,d0_99"], "validation set names unknown sample 'd0_99' (1 unknown of 2)"),
                   "train-images -c": ([ROOT/"data"/"images", tmp_path/"run", "-c", "vitt"], "architecture must be an image model (keras_app, vit), got 'vitt'"),
                   "grid --meta": (["--config", write_config(), "--meta", "{train.batch_size: [16, 0], width: [0.5]}"],
                                   "--meta train.batch_size: train.batch_size must be > 0, got 0"),
                   "grid-sequences --meta": (["--meta", "{num_fc_layers: [1], unitz: [8]}"], "--meta unitz: unknown key 'unitz'; allowed keys: "),
                   "transfer --model": (["--config", write_config(), "--model", tmp_path/"nope.keras"], f"--model: no such file or folder: {tmp_path/'nope.keras'}"),
                   "transfer --unfreeze-lr-factor": (["--config", write_config(), "--model", tmp_path/"nope.keras", "--unfreeze-lr-factor", "0.1"],
                                                     "--unfreeze-lr-factor: it scales the learning rate after the frozen epochs, but --freeze-epochs is 0"),
                   "predict --output run": (["--model", tmp_path/"ffrun", "--input", bad, "--output", tmp_path/"ffrun"/"dataset.json"],
                                            f"--output: {tmp_path/'ffrun'/'dataset.json'} is inside the run folder {tmp_path/'ffrun'}"),
                   "train-model seg.py": (["--config", seg], f"{ROOT/'data'/'volumes'/'blobs_0.h5'}: no labels/boxx (has: ball, box)"),
                   "train-model --distributed": (["--config", write_config(), "--distributed", "--coordinator", "127.0.0.1:1", "--num-processes", "2",
                                                  "--process-id", "0"], "multi-process training needs the JAX backend, got KERAS_BACKEND='tensorflow'"),
                   "train-model --distributed jax": (["--config", write_config(), "--distributed", "--num-processes", "2", "--process-id", "0"],
                                                     "coordinator is not set: pass --coordinator or set TRAINLIB_COORDINATOR"),
                   "train-model run_name": (["--config", write_config("fixed.json", train={"run_name": "fixed"})],
                                            f"{fixed} holds a run made with other settings (train.seed: 7 in the run, 42 now)"),
                   "train-model --coordinator": (["--config", write_config(), "--coordinator", "127.0.0.1:1"],
                                                 "--coordinator, --num-processes, --process-id and --worker-dir need --distributed")}[command]
    backend = ["--backend", "jax"] if command.endswith(" jax") else []     # sets KERAS_BACKEND; the checks still run before any import
    r = cli(*backend, *command.split()[:1], *args, env={"PYTHONPATH": str(tmp_path/"fake"), "KERAS_HOME": str(tmp_path/"keras_home"), "KERAS_BACKEND": ""})
    lines = r.stderr.strip().splitlines()      # train-model's preflight says first how many checks passed
    assert r.returncode == 1 and [l for l in lines if l.startswith("trainlib:")] == lines[-1:], r.stderr
    assert lines[-1].startswith(f"trainlib: error: {error}"), r.stderr


def test_transfer_without_config_is_a_usage_error(cli, tmp_path):
    "A missing --config is argparse's usage error (exit 2, the usage line), as a missing required option is; --list-layers needs none."
    r = cli("transfer", "--model", tmp_path/"base.keras")
    assert r.returncode == 2 and r.stderr.startswith("usage: trainlib transfer"), r.stderr
    assert "trainlib transfer: error: the following arguments are required: --config (only --list-layers goes without it)" in r.stderr, r.stderr


@pytest.mark.parametrize("option", ["--set", "--meta", "--meta file", "--meta key twice"])
def test_a_value_that_is_not_yaml_is_one_error_line(cli, write_config, tmp_path, option):
    "A malformed --set or --meta (inline or a file; a key written twice) is reported with the option and the column or line, not a YAML traceback."
    (tmp_path/"meta.yaml").write_text("width: [0.5\ndropout: 0.1\n")
    args, error = {"--set": (["check", "--config", write_config(), "--set", "train.max_epochs=["], "--set train.max_epochs '[' column 2: invalid YAML"),
                   "--meta": (["grid", "--config", write_config(), "--meta", "{width: [}"], "--meta '{width: [}' column 10: invalid YAML"),
                   "--meta file": (["grid", "--config", write_config(), "--meta", tmp_path/"meta.yaml"],
                                   f"--meta file {tmp_path/'meta.yaml'} line 2, column 8: invalid YAML"),
                   "--meta key twice": (["grid", "--config", write_config(), "--meta", "{width: [0.5], width: [1.0]}"],
                                        "--meta '{width: [0.5], width: [1.0]}' column 16: invalid YAML: key 'width' appears twice (first at line 1, column 2)")}[option]
    r = cli(*args)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"trainlib: error: {error}"), r.stderr
