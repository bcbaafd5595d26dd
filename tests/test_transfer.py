"""Transfer learning: loading (safe mode, corrupt files), freezing, new heads, fine-tuning vs a random body, the CLI."""
import json, warnings

import keras
import numpy as np
import pytest

from conftest import ROOT, user_stderr
from trainlib.cli import parse_freeze
from trainlib.config import TrainConfig
from trainlib.models import build_model
from trainlib.peaks import make_peak_dataset
from trainlib.store import DatasetVersion, load_arrays
from trainlib.train import Run, read_history, train
from trainlib.transfer import fine_tune, freeze, load_pretrained, relabel, select_layers, unfreeze

PEAKS = ROOT/"data"/"peaks"
HP = {"filters": [16, 32], "dense_units": 32}


def peak_config(out, **train_params) -> TrainConfig:
    return TrainConfig.from_dict({"shared": {"model_type": "neatms_cnn", "num_classes": None, "dtype": "float32", "output_dir": str(out)},
                                  "train": {"max_epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "patience": 50,
                                            "model_hp": HP, **train_params}})


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    "A NeatMS CNN trained for 10 epochs on instrument A's peaks (3 classes)."
    tmp = tmp_path_factory.mktemp("base")
    a = DatasetVersion(make_peak_dataset(PEAKS/"peaks.csv", tmp/"datasets"))
    return train(peak_config(tmp/"runs"), a, verbose=0)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    "A narrow NeatMS CNN trained 2 epochs on instrument A's peaks: enough to exercise the CLI."
    tmp = tmp_path_factory.mktemp("tiny")
    a = DatasetVersion(make_peak_dataset(PEAKS/"peaks.csv", tmp/"datasets"))
    return train(peak_config(tmp/"runs", max_epochs=2, model_hp={"filters": [4, 8], "dense_units": 8}), a, verbose=0)


def trainable(model): return {l.name: l.trainable for l in model.layers}


@pytest.mark.parametrize("selection, frozen", [
    (dict(names=["conv2d_1", "dense_1"]), ["conv2d_1", "dense_1"]),
    (dict(pattern="*pool*"), ["max_pooling2d_1"]),
    (dict(pattern="conv2d_?"), ["conv2d_1", "conv2d_2"]),
    (dict(first=3), ["series", "to_rows", "to_image"]),
    (dict(all_but_last=2), ["series", "to_rows", "to_image", "conv2d_1", "max_pooling2d_1", "conv2d_2", "flatten_1", "dense_1"]),
    (dict(names=["dense_1"], first=1), ["series", "dense_1"]),
])
def test_freeze_changes_exactly_the_chosen_layers(selection, frozen):
    model = build_model("neatms_cnn", (120, 2), 3, **HP)
    assert freeze(model, **selection) == frozen
    assert [k for k, v in trainable(model).items() if not v] == frozen
    weights_frozen = sum(len(model.get_layer(n).weights) for n in frozen)
    assert len(model.non_trainable_weights) == weights_frozen
    assert all(trainable(unfreeze(model)).values())


def test_freeze_rejects_bad_selections_without_changing_anything():
    model = build_model("neatms_cnn", (120, 2), 3, **HP)
    with pytest.raises(ValueError, match="no layer named 'conv3'"): freeze(model, names=["conv2d_1", "conv3"])
    with pytest.raises(ValueError, match="all_but_last must be an int between 0 and 10"): freeze(model, all_but_last=-1)
    assert all(trainable(model).values())


def test_parse_freeze():
    assert parse_freeze(["conv2d_1,conv2d_2", "dense_1", "first:2", "all-but-last:1", "conv*"]) == dict(
        names=["conv2d_1", "conv2d_2", "dense_1"], first=2, all_but_last=1, pattern=["conv*"])
    with pytest.raises(ValueError, match="first:N needs a whole number"): parse_freeze(["first:x"])
    with pytest.raises(ValueError, match="first:N given twice"): parse_freeze(["first:2", "first:3"])


def test_repeated_freeze_patterns_all_count():
    "--freeze 'conv*' --freeze '*pool*' freezes the layers of both patterns (the second once replaced the first)."
    model = build_model("neatms_cnn", (120, 2), 3, **HP)
    assert freeze(model, **parse_freeze(["conv*", "*pool*"])) == ["conv2d_1", "max_pooling2d_1", "conv2d_2"]
    with pytest.raises(ValueError, match="pattern 'bn\\*' matches no layer"): select_layers(model, pattern=["conv*", "bn*"])


def test_keras_and_h5_load_with_the_same_weights(tmp_path):
    model = build_model("neatms_cnn", (60, 2), 2, filters=(4, 8), dense_units=8)
    model.save(tmp_path/"m.keras")
    with warnings.catch_warnings(): warnings.simplefilter("ignore"); model.save(tmp_path/"m.h5")
    x = np.random.default_rng(0).normal(size=(3, 60, 2)).astype("float32")
    for name in ("m.keras", "m.h5"):
        loaded = load_pretrained(tmp_path/name)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_refused_in_safe_mode(tmp_path, suffix):
    inp = keras.Input((8, 1))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t + 1)(inp))))
    path = tmp_path/f"lambda{suffix}"
    with warnings.catch_warnings(): warnings.simplefilter("ignore"); model.save(path)
    with pytest.raises(ValueError, match="refused to load a Lambda layer .* pass safe_mode=False"): load_pretrained(path)
    assert load_pretrained(path, safe_mode=False).output_shape == (None, 2)


def test_cli_refuses_lambda_unless_unsafe(tmp_path, cli):
    inp = keras.Input((8, 1))
    keras.Model(inp, keras.layers.Lambda(lambda t: t + 1)(inp)).save(tmp_path/"lambda.keras")
    r = cli("transfer", "--model", tmp_path/"lambda.keras", "--list-layers")      # --list-layers needs no config
    err = user_stderr(r.stderr)
    assert r.returncode == 1 and err.startswith("trainlib: error: ") and "\n" not in err and "refused to load a Lambda layer" in err and "--unsafe" in err, r.stderr


@pytest.mark.parametrize("suffix, cut", [(".keras", 1500), (".h5", 4000), (".keras", 0)])
def test_corrupt_or_truncated_model_file(tmp_path, suffix, cut):
    model = build_model("neatms_cnn", (60, 2), 2, filters=(4, 8), dense_units=8)
    good = tmp_path/f"good{suffix}"
    with warnings.catch_warnings(): warnings.simplefilter("ignore"); model.save(good)
    bad = tmp_path/f"bad{suffix}"
    bad.write_bytes(good.read_bytes()[:cut] if cut else b"this is not a model\n")
    with pytest.raises(ValueError, match=r"bad\.(keras|h5): (not a valid|could not load)"): load_pretrained(bad)


@pytest.mark.slow
def test_cli_truncated_model_is_one_line_error(tmp_path, cli):
    (tmp_path/"cut.keras").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    (tmp_path/"x.csv").write_text("id,class,series\n")       # present: the command checks that its input exists before it loads the model
    r = cli("predict", "--model", tmp_path/"cut.keras", "--input", "x.csv", "--output", "p.csv")
    assert r.returncode == 1
    assert user_stderr(r.stderr) == f"trainlib: error: {tmp_path/'cut.keras'}: not a valid .keras model file (zip archive expected); is it truncated or corrupt?"


@pytest.mark.slow
def test_fine_tuned_beats_head_on_random_body(base_run, tmp_path):
    "On a new label set (High_quality vs other, instrument B), the pretrained body beats a frozen random one."
    b = relabel(DatasetVersion(make_peak_dataset(PEAKS/"peaks_b.csv", tmp_path/"datasets", validation_split=0.2)),
                {"Low_quality": "other", "Noise": "other"})
    config = peak_config(tmp_path/"runs", max_epochs=10)
    ft = fine_tune(load_pretrained(base_run), config.update({"train.run_name": "ft"}), b, freeze_epochs=5,
                   base_labels=base_run.file("labels.txt").read_text().split(), verbose=0)
    keras.utils.set_random_seed(42)
    body = build_model("neatms_cnn", (120, 2), 3, **HP)
    rnd = fine_tune(body, config.update({"train.run_name": "random"}), b, frozen={"all_but_last": 1},
                    base_labels=["x", "y", "z"], verbose=0)
    info = json.loads(rnd.file("transfer.json").read_text())
    assert info["phases"][-1]["frozen_layers"] == [l.name for l in body.layers[:-1]]
    x, y = (np.concatenate(a) for a in zip(load_arrays(b, "val"), load_arrays(b, "test")))
    acc = {name: float((load_pretrained(run).predict(x, verbose=0).argmax(1) == y).mean()) for name, run in (("ft", ft), ("random", rnd))}
    print(acc)
    assert acc["ft"] > acc["random"] + 0.1, acc


def test_cli_transfer_on_peaks(tiny_base, tmp_path, cli):
    cfg = tmp_path/"cfg.json"
    cfg.write_text(json.dumps(peak_config(tmp_path/"runs", max_epochs=2, model_hp={}).to_dict()))
    r = cli("transfer", "--model", tiny_base.path, "--config", cfg, "--dataset", PEAKS/"peaks_b.csv",
            "--freeze", "conv2d_1", "--freeze-epochs", "1", "--set", "train.run_name=b", "--set", f"etl.dataset_dir={tmp_path/'datasets'}")
    assert r.returncode == 0, r.stderr
    run = tmp_path/"runs"/"default"/"b"
    info = json.loads((run/"transfer.json").read_text())
    assert info["new_head"] is False                                  # same three classes: the base's head is kept
    assert [p["frozen_layers"] for p in info["phases"]] == [
        ["series", "to_rows", "to_image", "conv2d_1", "max_pooling2d_1", "conv2d_2", "flatten_1", "dense_1", "dropout_1"], ["conv2d_1"]]
    assert len(read_history(Run(run))["epoch"]) == 3
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["threshold"]["positive"] == "High_quality" and 0 <= metrics["threshold"]["threshold"] <= 1
    assert "threshold for High_quality" in r.stdout and (run/"roc.png").is_file()
    assert (run/"labels.txt").read_text().split() == ["High_quality", "Low_quality", "Noise"]
    r = cli("transfer", "--model", tiny_base.path, "--config", cfg, "--dataset", PEAKS/"peaks_b.csv", "--positive", "high_quality",
            "--set", "train.run_name=c", "--set", f"etl.dataset_dir={tmp_path/'datasets'}")
    assert r.returncode == 1 and "--positive: 'high_quality' is not a class of dataset" in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/"runs"/"default"/"c").exists()                # refused before any training


def test_transfer_from_a_base_of_free_length(tmp_path):
    "A base taking series of any length (None) fine-tunes on GunPoint: the bundle records the length trained on, and predict uses it."
    from trainlib.evaluate import predict
    from trainlib.store import make_dataset
    gunpoint = ROOT/"data"/"gunpoint"
    keras.Sequential([keras.Input((None, 1)), keras.layers.Conv1D(4, 3, padding="same"), keras.layers.GlobalAveragePooling1D(),
                      keras.layers.Dense(2, activation="softmax")]).save(tmp_path/"base.keras")
    cfg = TrainConfig.from_dict({"etl": {"data_path": str(gunpoint/"train.csv"), "test_path": str(gunpoint/"test.csv"), "dataset_dir": str(tmp_path/"datasets")},
                                 "shared": {"model_type": "fcn", "num_classes": 2, "target_length": 150, "dtype": "float32", "output_dir": str(tmp_path/"runs")},
                                 "train": {"max_epochs": 1, "batch_size": 16, "model_hp": {"filters": [4, 8, 4]}}})
    ds = make_dataset(cfg)
    run = fine_tune(load_pretrained(tmp_path/"base.keras"), cfg, ds, verbose=0)
    assert run.status == "trained"
    bundle = json.loads((run.path/"bundle.json").read_text())
    assert bundle["input"]["shape"] == [150, 1]
    res = predict(run.path, gunpoint/"test.csv")
    assert len(res["ids"]) == 150 and res["probabilities"].shape == (150, 2)

@pytest.mark.slow
def test_transfer_report_through_papermill(cli, tmp_path):
    r = cli("report", "transfer", "-p", "run_name", "smoke", "-p", "base_epochs", "3", "-p", "epochs", "2", "--output-dir", tmp_path/"runs")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"runs"/"report"/"smoke"
    assert (run/"report.html").is_file() and (run/"roc.png").is_file() and (tmp_path/"runs"/"report"/"smoke-base"/"model.keras").is_file()
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["threshold"]["positive"] == "High_quality"
    html = (run/"report.html").read_text()
    assert "before: accuracy" in html and "after: accuracy" in html and "head only: 2 epochs" in html


def test_neatms_recipe_config_holds_neatms_defaults():
    from conftest import ROOT
    from trainlib.config import load_config
    cfg = load_config(ROOT/"data/peaks/neatms_recipe.yaml")
    assert (cfg.shared.model_type, cfg.train.optimizer, cfg.train.learning_rate, cfg.train.max_epochs) == ("neatms_cnn", "adam", 1e-5, 1000)
