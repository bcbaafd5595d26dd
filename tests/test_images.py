"""Images (varKoder): `trainlib train-images` end to end on the shipped digits, a pretrained start,
single-label mode, validation by sample ids, and bad label tables through the CLI.

One subprocess run of the installed command; the other CLI checks call `trainlib.cli.main` in-process."""
import csv, json, shutil

import numpy as np
import pytest

from conftest import ROOT
from trainlib.cli import main
from trainlib.images import make_image_dataset
from trainlib.store import DatasetVersion, load_ids

IMAGES = ROOT/"data"/"images"
VIT = "{hidden_dim: 32, depth: 1, num_heads: 2, mlp_dim: 64, dropout: 0.0}"
TINY = "{hidden_dim: 8, depth: 1, num_heads: 1, mlp_dim: 8}"


def _rows(run):
    with open(run/"input_data.csv", newline="") as f: return list(csv.DictReader(f))


def test_train_images_learns_above_chance(cli, tmp_path):
    "Multi-label (default: sigmoid + asymmetric loss, MixUp, lighting) on 300 digits: macro ROC-AUC well above 0.5."
    r = cli("train-images", IMAGES/"varkodes", tmp_path/"run", "--image-size", 16, 16, "-e", 8, "--model-hp", VIT,
            "--dataset-dir", tmp_path/"ds", "-g", timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"run"
    assert f"run: {run}" in r.stdout and "macro roc_auc" in r.stdout
    val = json.loads((run/"metrics.json").read_text())["val"]
    assert val["n"] == 60 and val["threshold"] == 0.7
    assert val["macro"]["roc_auc"] > 0.75, val["macro"]
    assert val["per_label"]["odd"]["roc_auc"] > 0.6 and set(val["per_label"]) == {f"digit_{i}" for i in range(10)} | {"even", "odd", "loop"}
    assert (run/"labels.txt").read_text().split() == [f"digit_{i}" for i in range(10)] + ["even", "loop", "odd"]
    rows = _rows(run)
    assert len(rows) == 300 and sum(r["is_valid"] == "True" for r in rows) == 60
    info, ds = json.loads((run/"run.json").read_text()), json.loads((run/"dataset.json").read_text())
    assert (info["status"], info["epochs"], ds["batch_size"], ds["multi_label"]) == ("trained", 8, 32, True)   # 240 images -> 2**round(log2(24))
    config = json.loads((run/"config.json").read_text())
    assert (config["mix_augmentation"], config["p_lighting"], config["negative_downweighting"]) == ("MixUp", 0.75, 4.0)
    # start again from this model: same labels, so the head is kept; images are resized to its input size
    assert main(["train-images", str(IMAGES/"varkodes"), str(tmp_path/"again"), "-m", str(run), "-e", "1", "-z", "1",
                 "-r", "1e-3", "--dataset-dir", str(tmp_path/"ds"), "-g"]) == 0
    again = json.loads((tmp_path/"again"/"dataset.json").read_text())
    assert (again["pretrained_model"], again["new_head"]) == (str(run), False)
    assert [p["phase"] for p in json.loads((tmp_path/"again"/"metrics.json").read_text())["phases"]] == ["head only", "unfrozen"]
    # predict a folder of images with the first run (varKoder's query): the labels at or above its threshold, per image
    out = tmp_path/"predictions.csv"
    assert main(["predict", "--model", str(run), "--input", str(IMAGES/"varkodes"), "--output", str(out)]) == 0
    with open(out) as f: pred = list(csv.DictReader(f))
    assert len(pred) == 300 and list(pred[0])[:2] == ["file", "sample"] and pred[0]["sample"] == "d0_00"
    labels = (run/"labels.txt").read_text().split()
    for row in pred:
        assert row["predicted"] == ";".join(l for l in labels if float(row[f"prob_{l}"]) >= 0.7), row
    assert main(["predict", "--model", str(run), "--input", str(IMAGES/"varkodes"), "--output", str(out), "--threshold", "0.3"]) == 0
    with open(out) as f: low = list(csv.DictReader(f))
    assert [row["predicted"] for row in low] == [";".join(l for l in labels if float(row[f"prob_{l}"]) >= 0.3) for row in low]
    assert [row["predicted"] for row in low] != [row["predicted"] for row in pred]      # the threshold changed some predictions


def test_single_label_from_folder_names(tmp_path, capsys):
    "--single-label with folder names as labels and --label-smoothing; validation per class."
    assert main(["train-images", str(IMAGES/"varkodes"), str(tmp_path/"run"), "-S", "-s", "--labels-from", "folder",
                 "-e", "1", "-X", "CutMix", "--model-hp", TINY, "--dataset-dir", str(tmp_path/"ds"), "-g"]) == 0
    assert "accuracy" in capsys.readouterr().out
    rows = _rows(tmp_path/"run")
    valid = [r["labels"] for r in rows if r["is_valid"] == "True"]
    assert sorted(set(valid)) == [f"digit_{i}" for i in range(10)] and all(valid.count(l) == 6 for l in set(valid))
    out = tmp_path/"digit_3.csv"                                  # one folder of images through predict: the most probable label
    assert main(["predict", "--model", str(tmp_path/"run"), "--input", str(IMAGES/"varkodes"/"digit_3"), "--output", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 30 predictions to {out} (most probable label)\n"
    with open(out) as f: pred = list(csv.DictReader(f))
    assert len(pred) == 30 and all(r["predicted"] == max((l for l in r if l.startswith("prob_")), key=lambda l: float(r[l]))[5:] for r in pred)
    assert main(["predict", "--model", str(tmp_path/"run"), "--input", str(IMAGES/"varkodes"/"digit_3"), "--output", str(tmp_path/"t.csv"),
                 "--threshold", "0.5"]) == 1                      # a threshold is refused, not ignored
    assert "is a single-label run, which predicts the most probable label" in capsys.readouterr().err and not (tmp_path/"t.csv").exists()
    assert main(["predict", "--model", str(tmp_path/"run"/"model.keras"), "--input", str(IMAGES/"varkodes"/"digit_3"),
                 "--output", str(tmp_path/"file.csv")]) == 0           # the run's model file: the same run, the same predictions
    assert (tmp_path/"file.csv").read_text() == out.read_text()
    capsys.readouterr()
    np.save(tmp_path/"x.npy", np.zeros((2, 8, 8, 1), "float32"))        # an array is not what an image run predicts
    assert main(["predict", "--model", str(tmp_path/"run"), "--input", str(tmp_path/"x.npy"), "--output", str(tmp_path/"x.csv")]) == 1
    assert "x.npy: not a folder of images or an image file" in capsys.readouterr().err and not (tmp_path/"x.csv").exists()


def test_validation_by_id_list(tmp_path):
    "A validation list (comma-separated or a file) puts exactly those samples in valid."
    ids = ["d0_03", "d4_10", "d9_29"]
    (tmp_path/"valid.txt").write_text("\n".join(ids) + "\n")
    for vs in (",".join(ids), str(tmp_path/"valid.txt")):
        ds = DatasetVersion(make_image_dataset(IMAGES/"varkodes", tmp_path/"ds", IMAGES/"labels.csv", validation_set=vs))
        assert sorted(p.split("/")[-1].split("@")[0] for p in load_ids(ds, "val")) == ids
        assert ds.count("train") == 297


@pytest.mark.parametrize("table, message", [
    ("sample,label\nd0_00,x\n", "labels.csv line 1: missing column 'labels'; header has sample, label"),
    ("sample,labels\nnope,x\n", "unknown sample 'nope' (no image of it"),
    ("sample,labels\nd0_00,;\n", "line 2: empty labels for sample 'd0_00'"),
])
def test_bad_label_table(tmp_path, capsys, table, message):
    (tmp_path/"labels.csv").write_text(table)
    assert main(["train-images", str(IMAGES/"varkodes"), str(tmp_path/"run"), "-t", str(tmp_path/"labels.csv"),
                 "--dataset-dir", str(tmp_path/"ds"), "-g"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trainlib: error: ") and message in err[0], err
    assert not (tmp_path/"run").exists()


def test_image_without_table_row(tmp_path, capsys):
    src = tmp_path/"imgs"
    shutil.copytree(IMAGES/"varkodes"/"digit_1", src/"digit_1")
    (tmp_path/"labels.csv").write_text("sample,labels\n" + "".join(f"d1_{i:02d},one\n" for i in range(29)))
    assert main(["train-images", str(src), str(tmp_path/"run"), "-t", str(tmp_path/"labels.csv"), "--dataset-dir", str(tmp_path/"ds")]) == 1
    assert "sample 'd1_29' is not in" in capsys.readouterr().err


@pytest.mark.slow
def test_report_images(cli, tmp_path):
    "The images report runs through papermill (smoke defaults) and shows the per-label table."
    r = cli("report", "images", "-p", "run_name", "smoke", "--output-dir", tmp_path/"runs", timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"runs"/"report"/"smoke"
    assert {"report.ipynb", "report.html", "model.keras", "labels.txt", "input_data.csv"} <= {p.name for p in run.iterdir()}
    html = (run/"report.html").read_text()
    assert "roc_auc" in html and "macro" in html and "<img" in html
