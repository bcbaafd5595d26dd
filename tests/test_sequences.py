"""Sequences (Aptamer): `trainlib train-sequences` end to end, bad input through the CLI, the dataset registry.

One subprocess run of the installed command; the other CLI checks call `trainlib.cli.main` in-process
(same argument parsing and error handling) to avoid paying TensorFlow's start-up for each."""
import csv, json

import keras
import pytest

from conftest import ROOT
from trainlib.cli import main
from trainlib.sequences import DATASETS, get_dataset, load_dataset, read_sequences, register_dataset

APTAMERS = ROOT/"data"/"sequences"/"aptamers.csv"


def _config(tmp_path, name="ff.json", **values):
    cfg = dict(dataset="aptamers_demo", additional_output=["affinity", "gc_fraction"], loss_weights={"gc_fraction": 0.5},
               losses={"affinity": "huber"}, units=16, epochs=2, epoch_size=256, eval_size=64, batch_size=32,
               run_name="r1", save_base=str(tmp_path/"runs"))
    cfg.update(values)
    p = tmp_path/name
    p.write_text(json.dumps(cfg))
    return p


def test_train_sequences_end_to_end(cli, tmp_path, capsys):
    r = cli("train-sequences", "--config", _config(tmp_path), "--set", "epochs=3", "--verbose", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path/"runs"/"r1"
    assert f"run: {run}" in r.stdout
    for target, key in (("binder", "accuracy"), ("affinity", "mae"), ("gc_fraction", "pearson_r")):   # named by target, not head
        assert f"test {target}: " in r.stdout and key in r.stdout
    info = json.loads((run/"run.json").read_text())
    assert (info["status"], info["epochs"], info["steps_per_epoch"], info["eval_examples"]) == ("trained", 3, 8, 64)
    with open(run/"history.csv") as f: rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for col in ("loss", "predictions_loss", "affinity_loss", "gc_fraction_loss", "val_loss", "val_affinity_mae"):
        assert col in rows[0], col
    # the total loss is the weighted sum of the heads' losses (gc_fraction weighted 0.5)
    last = {k: float(v) for k, v in rows[-1].items()}
    assert last["val_loss"] == pytest.approx(last["val_predictions_loss"] + last["val_affinity_loss"] + 0.5 * last["val_gc_fraction_loss"], rel=1e-3)
    config = json.loads((run/"config.json").read_text())
    assert (config["epochs"], config["losses"], config["dataset"]) == (3, {"affinity": "huber"}, "aptamers_demo")
    model = keras.saving.load_model(run/"model.keras")
    assert sorted(model.output_names) == ["affinity", "gc_fraction", "predictions"]
    assert model.input_shape == (None, 30, 4)
    metrics = json.loads((run/"metrics.json").read_text())
    assert metrics["test"]["n"] > 0 and 0 <= metrics["test"]["predictions"]["accuracy"] <= 1
    # run again: the finished run is returned, not retrained
    assert main(["train-sequences", "--config", str(_config(tmp_path)), "--set", "epochs=3", "--verbose", "0"]) == 0
    assert f"{run}: already trained" in capsys.readouterr().err
    assert json.loads((run/"run.json").read_text())["updated"] == info["updated"]
    # predict: the sequences of a CSV (its target columns ignored), a value or class probabilities per target
    out = tmp_path/"predictions.csv"
    assert main(["predict", "--model", str(run), "--input", str(APTAMERS), "--output", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 1000 predictions of binder, affinity, gc_fraction to {out}\n"
    with open(out) as f: rows = list(csv.DictReader(f))
    with open(APTAMERS) as f: given = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "prob_binder_binder", "prob_binder_nonbinder", "binder", "affinity", "gc_fraction"]
    assert [r["id"] for r in rows] == [r["id"] for r in given]
    for r in rows:
        p = (float(r["prob_binder_binder"]), float(r["prob_binder_nonbinder"]))
        assert sum(p) == pytest.approx(1, abs=1e-4) and r["binder"] == ("binder" if p[0] > p[1] else "nonbinder")
    long = tmp_path/"long.fa"; long.write_text(">short\nACGT\n>long\n" + "ACGT" * 8 + "\n")
    assert main(["predict", "--model", str(run), "--input", str(long), "--output", str(tmp_path/"p2.csv")]) == 1
    assert capsys.readouterr().err == (f"trainlib: error: {long}: sequence 'long' has length 32, but the model takes sequences of up to 30 "
                                       f"({run/'dataset.json'} length)\n")
    assert main(["predict", "--model", str(run), "--input", str(APTAMERS), "--output", str(out), "--no-threshold"]) == 1
    assert "is a feed-forward run, which has no threshold" in capsys.readouterr().err


@pytest.mark.parametrize("values, sets, message", [
    (dict(epoch=3), [], "ff.json: unknown key 'epoch'; allowed keys: dataset, input_path"),
    ({}, ["dataset=aptitude"], "unknown dataset 'aptitude'; registered: aptamers_demo"),
    ({}, ["loss_weights={affinty: 2}"], "loss_weights names unknown head 'affinty'; heads: predictions, affinity, gc_fraction"),
])
def test_train_sequences_bad_config(tmp_path, capsys, values, sets, message):
    assert main(["train-sequences", "--config", str(_config(tmp_path, **values)), *[a for s in sets for a in ("--set", s)]]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("trainlib: error: ") and "\n" not in err and message in err, err
    assert not (tmp_path/"runs").exists()


def test_bad_sequence_file_names_file_and_line(tmp_path, capsys):
    bad = tmp_path/"bad.csv"
    bad.write_text(APTAMERS.read_text().replace("apt0002,TGTAGCC", "apt0002,TGNAGCC"))
    assert main(["train-sequences", "--config", str(_config(tmp_path, input_path="bad.csv"))]) == 1
    assert capsys.readouterr().err == f"trainlib: error: {bad} line 4: sequence has character 'N' at position 3; allowed: A, C, G, T\n"


def test_own_sequence_file_trains_from_the_cli(tmp_path, capsys):
    "Aptamer's input_dir: a CSV of your own, its class columns named by class_targets (none here: a numeric target)."
    own = tmp_path/"own.csv"
    own.write_text("id,sequence,kd\n" + "".join(f"s{i},{'ACGT'[i % 4] * (6 + i % 5)},{i % 9}\n" for i in range(120)))
    cfg = _config(tmp_path, input_path="own.csv", target="kd", additional_output=[], loss_weights={}, losses={}, epochs=1)
    assert main(["train-sequences", "--config", str(cfg), "--set", "class_targets=[]", "--verbose", "0"]) == 0
    info = json.loads((tmp_path/"runs"/"r1"/"dataset.json").read_text())
    assert (info["heads"], info["classes"], info["targets"]) == ({"predictions": 1}, {}, {"predictions": "kd"})
    assert main(["train-sequences", "--config", str(cfg), "--set", "run_name=r2"]) == 1     # the demo's class column is not in this file
    assert "class target 'binder' is not a target; targets: kd (class_targets names the columns that are classes)" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path/"runs"/"r1"), "--input", str(own), "--output", str(tmp_path/"runs"/"r1"/"dataset.json")]) == 1
    assert "is inside the run folder" in capsys.readouterr().err and json.loads((tmp_path/"runs"/"r1"/"dataset.json").read_text()) == info


def test_create_train_config_writes_a_feedforward_template(tmp_path, capsys):
    from trainlib.config import FeedforwardConfig, load_feedforward_config
    assert main(["create-train-config", "--file", str(tmp_path/"ff.yaml"), "--kind", "feedforward"]) == 0
    assert capsys.readouterr().out == f"wrote default feedforward config to {tmp_path/'ff.yaml'}\n"
    assert load_feedforward_config(tmp_path/"ff.yaml") == FeedforwardConfig()      # what train-sequences --config reads


def test_registry_resolves_names_and_rejects_unknown(tmp_path):
    entry = get_dataset("aptamers_demo")
    assert entry.resolve() == APTAMERS and entry.kwargs == {"class_targets": ("binder",)}
    data = load_dataset("aptamers_demo")
    assert len(data) == 1000 and data.kinds == {"binder": "class", "affinity": "numeric", "gc_fraction": "numeric"}
    with pytest.raises(ValueError, match="unknown dataset 'nope'; registered: aptamers_demo"):
        get_dataset("nope")
    fa = tmp_path/"mine.fasta"
    fa.write_text(">a kd=1.5 fam=x\nACGT\n>b kd=0.5 fam=y\nGG\n")
    try:
        register_dataset("mine", read_sequences, fa, class_targets=["fam"])
        mine = load_dataset("mine")
        assert mine.ids == ["a", "b"] and mine.classes == {"fam": ["x", "y"]} and mine.x().shape == (2, 4, 4)
    finally:
        DATASETS.pop("mine", None)
    with pytest.raises(ValueError, match="unknown dataset 'mine'"):
        load_dataset("mine")


def test_config_names_a_registered_dataset(tmp_path):
    "A dataset registered in code is trained on by naming it in the config."
    from trainlib.config import FeedforwardConfig
    from trainlib.feedforward_train import train_feedforward
    rows = ["id,sequence,label,score"] + [f"s{i},{'GGTTGG' if i % 2 else 'ACACAC'}{'ACGT'[i % 4] * 4},{'ab'[i % 2]},{i % 7}" for i in range(80)]
    (tmp_path/"toy.csv").write_text("\n".join(rows) + "\n")
    register_dataset("toy", read_sequences, tmp_path/"toy.csv", class_targets=["label"])
    try:
        config = FeedforwardConfig(dataset="toy", target="label", additional_output="score", units=8, epochs=1,
                                   epoch_size=32, eval_size=0, run_name="toy", save_base=str(tmp_path/"runs"))
        run = train_feedforward(config, verbose=0)
    finally:
        DATASETS.pop("toy", None)
    dataset = json.loads(run.file("dataset.json").read_text())
    assert dataset["dataset"] == "toy" and dataset["heads"] == {"predictions": 2, "score": 1}
    assert sum(dataset["counts"].values()) == 80 and run.status == "trained"
