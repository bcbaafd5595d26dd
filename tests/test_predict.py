"""trainlib predict: one row per input, the right columns, the stored threshold, shape mismatches; the threshold sweep."""
import csv, json

import numpy as np
import pytest

from conftest import GUNPOINT, ROOT, user_stderr
from trainlib.cli import main
from trainlib.config import TrainConfig
from trainlib.evaluate import apply_threshold, evaluate, optimise_threshold, predict, roc_threshold
from trainlib.peaks import make_peak_dataset
from trainlib.store import DatasetVersion
from trainlib.train import train

PEAKS = ROOT/"data"/"peaks"


@pytest.fixture(scope="module")
def peak_run(tmp_path_factory):
    "A small NeatMS CNN trained 3 epochs on instrument B's peaks, evaluated, with a High_quality threshold."
    tmp = tmp_path_factory.mktemp("predict")
    ds = DatasetVersion(make_peak_dataset(PEAKS/"peaks_b.csv", tmp/"datasets", validation_split=0.2))
    config = TrainConfig.from_dict({"shared": {"model_type": "neatms_cnn", "num_classes": 3, "dtype": "float32", "output_dir": str(tmp/"runs")},
                                    "train": {"max_epochs": 3, "batch_size": 16, "learning_rate": 1e-3, "model_hp": {"filters": [4, 8], "dense_units": 8}}})
    run = train(config, ds, verbose=0)
    evaluate(run, ds)
    optimise_threshold(run, ds)
    return run


def read_csv(path):
    with open(path, newline="") as f: return list(csv.DictReader(f))


def test_predict_peaks_one_row_per_input(peak_run, cli, tmp_path):
    out = tmp_path/"pred.csv"
    r = cli("predict", "--model", peak_run.path, "--input", PEAKS/"peaks_b.csv", "--output", out)
    assert r.returncode == 0, r.stderr
    rows = read_csv(out)
    with open(PEAKS/"peaks_b.csv", newline="") as f: ids = [row["peak_id"] for row in csv.DictReader(f)]
    assert [row["id"] for row in rows] == ids
    assert list(rows[0]) == ["id", "prob_High_quality", "prob_Low_quality", "prob_Noise", "predicted"]
    probs = np.array([[float(row[k]) for k in list(rows[0])[1:4]] for row in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    thr = json.loads(peak_run.file("metrics.json").read_text())["threshold"]
    assert f"threshold {thr['threshold']:.4g} for High_quality" in r.stdout
    expected = apply_threshold(probs, ["High_quality", "Low_quality", "Noise"], "High_quality", thr["threshold"])
    assert [row["predicted"] for row in rows] == [("High_quality", "Low_quality", "Noise")[i] for i in expected]
    plain = predict(peak_run.file("model.h5"), PEAKS/"peaks_b.csv", use_threshold=False)     # the .h5 copy, argmax
    assert plain["predicted"] == [("High_quality", "Low_quality", "Noise")[i] for i in probs.argmax(1)]


@pytest.mark.parametrize("flags, positive, value", [(["--threshold", "0.9"], "High_quality", 0.9),
                                                     (["--threshold", "0.2", "--positive", "Noise"], "Noise", 0.2)])
def test_cli_predict_with_a_given_threshold(peak_run, tmp_path, capsys, flags, positive, value):
    "--threshold replaces the recorded value, for the recorded class or --positive's; the CSV's labels follow it."
    out, classes = tmp_path/"pred.csv", ["High_quality", "Low_quality", "Noise"]
    assert main(["predict", "--model", str(peak_run.path), "--input", str(PEAKS/"peaks_b.csv"), "--output", str(out), *flags]) == 0
    assert f"threshold {value:.4g} for {positive}" in capsys.readouterr().out
    rows = read_csv(out)
    probs = np.array([[float(row[f"prob_{c}"]) for c in classes] for row in rows])
    expected = apply_threshold(probs, classes, positive, value)
    assert [row["predicted"] for row in rows] == [classes[i] for i in expected]
    assert expected.tolist() != apply_threshold(probs, classes, "High_quality", json.loads(peak_run.file("metrics.json").read_text())["threshold"]["threshold"]).tolist()
    assert main(["predict", "--model", str(peak_run.path), "--input", str(PEAKS/"peaks_b.csv"), "--output", str(tmp_path/"p2.csv"),
                 "--threshold", "0.5", "--positive", "Unknown"]) == 1
    assert "positive: 'Unknown' is not a class of" in capsys.readouterr().err and not (tmp_path/"p2.csv").exists()


def test_predict_unlabelled_peaks_and_npy(peak_run, tmp_path):
    with open(PEAKS/"peaks_b.csv", newline="") as f: rows = list(csv.DictReader(f))[:5]
    with open(tmp_path/"new.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["peak_id", "rt_start", "rt_end", "rt", "intensity"], extrasaction="ignore")
        w.writeheader(); w.writerows(rows)
    predict(peak_run.path, tmp_path/"new.csv", tmp_path/"o.csv")
    assert [row["id"] for row in read_csv(tmp_path/"o.csv")] == [row["peak_id"] for row in rows]
    np.save(tmp_path/"x.npy", np.zeros((4, 120, 2), "float32"))
    assert predict(peak_run.path, tmp_path/"x.npy")["ids"] == ["0", "1", "2", "3"]


@pytest.mark.parametrize("make_input, message", [
    (lambda d: np.save(d/"x.npy", np.zeros((2, 150, 1))) or d/"x.npy", "examples of shape (150, 1), but the model takes (120, 2)"),
    (lambda d: (d/"x.csv").write_text("a,b\n1,2\n") and d/"x.csv", "expected a signals CSV (read_id, timeseries) or a peak table"),
    (lambda d: d/"missing.csv", "input file not found"),
])
def test_predict_rejects_mismatched_input(peak_run, tmp_path, make_input, message):
    with pytest.raises((ValueError, FileNotFoundError)) as e: predict(peak_run.path, make_input(tmp_path), tmp_path/"o.csv")
    assert message in str(e.value)
    assert not (tmp_path/"o.csv").exists()


@pytest.mark.slow
def test_cli_predict_rejects_signals_for_a_peak_model(peak_run, cli, tmp_path):
    r = cli("predict", "--model", peak_run.path, "--input", GUNPOINT/"test.csv", "--output", tmp_path/"o.csv")
    assert r.returncode == 1 and not (tmp_path/"o.csv").exists()
    assert user_stderr(r.stderr) == (f"trainlib: error: {GUNPOINT/'test.csv'} holds one-channel series (examples of shape (length, 1)) "
                                "but the model takes (120, 2)")


def test_threshold_sweep_constructed_example():
    "Negatives score at most 0.1, positives 0.2-0.3: the best threshold is the lowest positive score, not 0.5."
    neg, pos = [0.0, 0.05, 0.1, 0.02], [0.2, 0.25, 0.3]
    r = roc_threshold([0] * 4 + [1] * 3, neg + pos)
    assert (r["threshold"], r["tpr"], r["fpr"], r["auc"]) == (0.2, 1.0, 0.0, 1.0)
    # one negative at 0.6 above two positives: 0.6 gives TPR 0 (J -0.25 .. 0), 0.2 gives TPR 1, FPR 0.25 (J 0.75)
    r = roc_threshold([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.9])
    assert (r["threshold"], r["tpr"], r["fpr"]) == (0.4, 1.0, 0.25)
    assert r["auc"] == pytest.approx(14 / 16)


def test_class_names_with_spaces_train_and_predict(tmp_path):
    "Class names may hold spaces: labels.txt keeps one per line, and predict reads them back as written (not split on spaces)."
    names = {"1": "gun draw", "2": "point only"}
    for split in ("train", "test"):
        with open(GUNPOINT/f"{split}.csv", newline="") as f, open(tmp_path/f"{split}.csv", "w", newline="") as g:
            rows = list(csv.DictReader(f))
            w = csv.DictWriter(g, fieldnames=list(rows[0])); w.writeheader()
            for row in rows[:40]: w.writerow({**row, "cap_class": names[row["cap_class"]]})
    config = TrainConfig.from_dict({"etl": {"data_path": str(tmp_path/"train.csv"), "test_path": str(tmp_path/"test.csv"), "dataset_dir": str(tmp_path/"ds")},
                                    "shared": {"model_type": "fcn", "num_classes": 2, "target_length": 150, "dtype": "float32", "output_dir": str(tmp_path/"runs")},
                                    "train": {"max_epochs": 1, "batch_size": 16, "model_hp": {"filters": [4, 4, 4]}}})
    from trainlib.store import make_dataset
    run = train(config, DatasetVersion(make_dataset(config).path), verbose=0)
    assert run.file("labels.txt").read_text() == "gun draw\npoint only\n"
    out = predict(run, tmp_path/"test.csv")
    assert out["classes"] == ["gun draw", "point only"] and set(out["predicted"]) <= {"gun draw", "point only"}, out["classes"]
