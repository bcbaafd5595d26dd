"""bundle.json beside every saved model: predict round trip, wrong label map, Keras-major fallback, wrong length, no bundle."""
import json, shutil, subprocess, warnings

import keras
import numpy as np
import pytest

from conftest import GUNPOINT, ROOT, tiny_config
from trainlib.bundle import read_bundle
from trainlib.config import TrainConfig
from trainlib.evaluate import evaluate, optimise_threshold, predict
from trainlib.store import DatasetVersion, load_arrays, load_ids, make_dataset
from trainlib.train import train
from trainlib.transfer import continue_training, fine_tune, load_pretrained


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    "A narrow FCN trained 2 epochs on GunPoint, evaluated, with a threshold for class '2'."
    tmp = tmp_path_factory.mktemp("bundle")
    config = TrainConfig.from_dict(tiny_config(tmp))
    ds = make_dataset(config)
    run = train(config, ds, verbose=0)
    evaluate(run, ds)
    optimise_threshold(run, ds, "2")
    return run, ds


@pytest.fixture
def copy_run(signal_run, tmp_path):
    "A copy of the run folder whose bundle.json fields can be edited: copy_run(**{'a.b': value})."
    def make(**fields):
        dst = tmp_path/f"run{len(list(tmp_path.glob('run*')))}"
        shutil.copytree(signal_run[0].path, dst)
        raw = json.loads((dst/"bundle.json").read_text())
        for key, value in fields.items():
            *parents, last = key.split("."); node = raw
            for p in parents: node = node[p]
            node[last] = value
        (dst/"bundle.json").write_text(json.dumps(raw))
        return dst
    return make


@pytest.fixture(scope="module")
def test_x(signal_run, tmp_path_factory):
    "The test split's inputs as a .npy file (and the array)."
    x, _ = load_arrays(signal_run[1], "test")
    f = tmp_path_factory.mktemp("x")/"x.npy"
    np.save(f, x)
    return f, x


def test_bundle_records_the_run(signal_run):
    run, ds = signal_run
    b = read_bundle(run.path)
    metrics = json.loads(run.file("metrics.json").read_text())
    assert (b.classes, b.input_shape, b.target_length, b["input"]["dtype"]) == (["1", "2"], (150, 1), 150, "float32")
    assert b["dataset"] == {"version": ds.version, "path": str(ds.path)}
    assert (b["metrics"]["accuracy"], b["metrics"]["split"]) == (metrics["accuracy"], "test")
    assert b["threshold"] == metrics["threshold"] and b["threshold"]["positive"] == "2"
    assert b["versions"]["keras"] == keras.__version__ and b["versions"]["tensorflow"]
    assert b["preprocessing"]["normalisation"] is None
    x, _ = load_arrays(ds, "train")
    assert b["preprocessing"]["train_stats"]["mean"] == pytest.approx(float(x.mean()), abs=1e-5)
    assert (b["model"]["name"], b["model"]["params"], b["model"]["rebuildable"]) == ("fcn", {"filters": [8, 16, 8]}, True)
    assert run.file("model.weights.h5").is_file()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert b["git_commit"] in (head, None)       # pytest's working directory decides; never an error


def test_round_trip_preserves_predictions_exactly(signal_run, test_x):
    run, ds = signal_run
    f, x = test_x
    expected = keras.saving.load_model(run.file("model.keras")).predict(x, batch_size=256, verbose=0)
    res = predict(run.path, f)
    np.testing.assert_array_equal(res["probabilities"], expected)
    assert res["classes"] == ["1", "2"] and res["threshold"] == read_bundle(run.path)["threshold"]
    by_csv = predict(run.path, GUNPOINT/"test.csv")           # the same preprocessing from the raw CSV (pad/truncate to 150)
    order = [by_csv["ids"].index(i) for i in load_ids(ds, "test")]
    np.testing.assert_allclose(by_csv["probabilities"][order], expected, rtol=1e-6, atol=1e-7)


def test_keras_major_mismatch_loads_weights_only(signal_run, copy_run, test_x):
    f, x = test_x
    folder = copy_run(**{"versions.keras": "2.15.0"})
    with pytest.warns(UserWarning, match="saved with Keras 2.15.0, running Keras 3"):
        res = predict(folder, f)
    np.testing.assert_array_equal(res["probabilities"], predict(signal_run[0].path, f)["probabilities"])
    with pytest.raises(ValueError, match="model.rebuildable is false"):
        predict(copy_run(**{"versions.keras": "2.15.0", "model.rebuildable": False}), f)


def test_wrong_label_map_is_refused(copy_run, test_x, tmp_path):
    f, _ = test_x
    swapped = copy_run(label_map={"0": "2", "1": "1"})
    with pytest.raises(ValueError, match=r"bundle.json: label_map \['2', '1'\] contradicts labels.txt \['1', '2'\]"):
        predict(swapped, f, tmp_path/"o.csv")
    assert not (tmp_path/"o.csv").exists()
    three = copy_run(label_map={"0": "1", "1": "2", "2": "3"}, **{"model.n_classes": 3})
    (three/"labels.txt").write_text("1\n2\n3\n")
    with pytest.raises(ValueError, match="bundle.json: label_map has 3 classes but the model has 2 outputs"):
        predict(three, f)


@pytest.mark.slow
def test_cli_predict_refuses_a_wrong_label_map(copy_run, test_x, cli, tmp_path):
    f, _ = test_x
    swapped = copy_run(label_map={"0": "2", "1": "1"})
    r = cli("predict", "--model", swapped, "--input", f, "--output", tmp_path/"o.csv")
    assert r.returncode == 1 and not (tmp_path/"o.csv").exists()
    assert r.stderr.strip().splitlines()[-1] == (f"trainlib: error: {swapped/'bundle.json'}: label_map ['2', '1'] contradicts labels.txt "
                                                 "['1', '2']; the model's outputs would be named wrongly")


def test_wrong_length_and_far_data(signal_run, test_x, tmp_path):
    run = signal_run[0]
    np.save(tmp_path/"short.npy", np.zeros((3, 100, 1), "float32"))
    with pytest.raises(ValueError, match=r"series have length 100 but .*bundle.json preprocessing.target_length is 150"):
        predict(run.path, tmp_path/"short.npy", tmp_path/"o.csv")
    assert not (tmp_path/"o.csv").exists()
    np.save(tmp_path/"far.npy", test_x[1][:4] + 50)
    with pytest.warns(UserWarning, match="standard deviations from the training split's mean"):
        predict(run.path, tmp_path/"far.npy")


def test_without_a_bundle_predict_warns_and_works(signal_run, copy_run, test_x):
    folder = copy_run()
    (folder/"bundle.json").unlink()
    with pytest.warns(UserWarning, match="no bundle.json in"):
        res = predict(folder, test_x[0])
    np.testing.assert_array_equal(res["probabilities"], predict(signal_run[0].path, test_x[0])["probabilities"])


def test_fine_tune_and_continue_training_write_bundles(signal_run, copy_run, tmp_path):
    run, ds = signal_run
    config = TrainConfig.from_dict(tiny_config(tmp_path, train={"max_epochs": 1, "batch_size": 16, "model_hp": {"filters": [8, 16, 8]}}))
    tuned = fine_tune(load_pretrained(run.path), config, ds, base_labels=ds.classes, verbose=0)
    b = read_bundle(tuned.path)
    assert (b.classes, b["model"]["rebuildable"], b["metrics"], b["dataset"]["version"]) == (["1", "2"], True, None, ds.version)
    folder = copy_run()
    continue_training(folder, epochs=1, verbose=0)
    b = read_bundle(folder)
    assert b["metrics"] is None and b["threshold"] is None     # new weights: the old scores no longer describe them
    assert b.classes == ["1", "2"]
