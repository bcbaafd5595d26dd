"""The shipped UCR sets (data/gunpoint, data/arrowhead, data/italypowerdemand) load through `make_dataset` with the
archive's counts, lengths and classes, and data/convert_ucr.py writes exactly the shipped CSV format."""
import csv, importlib.util, zipfile

import numpy as np
import pytest

from conftest import ROOT
from trainlib.config import TrainConfig
from trainlib.store import make_dataset, load_arrays


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

# name: (n_train, n_test, length, classes) as documented by the UCR archive
UCR = {"gunpoint": (50, 150, 150, ["1", "2"]), "arrowhead": (36, 175, 251, ["0", "1", "2"]),
       "italypowerdemand": (67, 1029, 24, ["1", "2"])}


@pytest.mark.parametrize("name", list(UCR))
def test_ucr_set_loads_with_archive_counts(tmp_path, name):
    n_train, n_test, length, classes = UCR[name]
    folder = ROOT/"data"/name
    assert (folder/"README.md").is_file()
    cfg = TrainConfig.from_dict({"etl": {"data_path": str(folder/"train.csv"), "test_path": str(folder/"test.csv"),
                                         "dataset_dir": str(tmp_path)},
                                 "shared": {"num_classes": len(classes), "target_length": length, "dtype": "float32",
                                            "train_val_fraction": 1.0}})
    ds = make_dataset(cfg)
    assert (ds.count("train"), ds.count("val"), ds.count("test")) == (n_train, 0, n_test)
    assert ds.classes == classes and ds.input_shape == (length, 1)
    for split in ("train", "test"):
        x, y = load_arrays(ds, split)
        assert set(np.unique(y)) == set(range(len(classes)))          # every class in both splits
        rows = list(csv.DictReader(open(folder/f"{split}.csv", newline="")))
        assert {len(r["timeseries"].split(",")) for r in rows} == {length}   # no padding or truncation happened
        np.testing.assert_allclose(x[:, :, 0].mean(axis=1), 0, atol=1e-4)     # the archive z-normalises each series
        np.testing.assert_allclose(x[:, :, 0].std(axis=1, ddof=1), 1, atol=1e-3)


def test_bench_datasets_match_the_shipped_data():
    bench = _load(ROOT/"bench"/"accuracy.py", "bench_accuracy")
    for name, d in bench.DATASETS.items():
        n_train, n_test, length, classes = UCR[name]
        assert (d["length"], d["n_classes"]) == (length, len(classes))
        assert set(d["published"]) == {"resnet", "fcn"}
    from trainlib.config import load_config
    recipe = load_config(bench.RECIPE)                      # the shipped recipe is a valid config on shipped data
    assert recipe.train.monitor == "loss" and recipe.shared.train_val_fraction == 1.0   # never selects on the test file
    assert (ROOT/"data"/"gunpoint"/"train.csv").samefile(recipe.etl.data_path)


def test_converter_reproduces_the_shipped_csv(tmp_path):
    "A .ts file holding GunPoint's rows, inside a wheel-like zip, converts back to data/gunpoint/*.csv byte for byte."
    conv = _load(ROOT/"data"/"convert_ucr.py", "convert_ucr")
    wheel = tmp_path/"fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for split in ("train", "test"):
            rows = list(csv.DictReader(open(ROOT/"data"/"gunpoint"/f"{split}.csv", newline="")))
            body = "".join(f"{r['timeseries']}:{r['cap_class']}\n" for r in rows)
            z.writestr(f"aeon/datasets/data/GunPoint/GunPoint_{split.upper()}.ts",
                       "#comment\n@problemName GunPoint\n@classLabel true 1 2\n@data\n" + body)
    counts = conv.convert(wheel, "GunPoint", tmp_path/"out")
    assert counts["train"] == dict(n=50, length=[150], classes=["1", "2"])
    for split in ("train", "test"):
        assert (tmp_path/"out"/f"{split}.csv").read_bytes() == (ROOT/"data"/"gunpoint"/f"{split}.csv").read_bytes()
    with pytest.raises(ValueError, match="no @data rows"): conv.read_ts("@problemName X\n", "X.ts")
