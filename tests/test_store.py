"""Dataset versions: stable, non-overlapping splits; ids change exactly when inputs or parameters do."""
import shutil

import pytest

from conftest import GUNPOINT
from trainlib.config import TrainConfig
from trainlib.store import load_ids, make_dataset


def _config(tmp_path, data, **shared):
    return TrainConfig.from_dict({"etl": {"data_path": str(data), "dataset_dir": str(tmp_path/"datasets"), "examples_per_class": None},
                                  "shared": {"num_classes": 2, "target_length": 150, **shared}})


def _splits(dsv):
    return {k: set(load_ids(dsv, k)) for k in ("train", "val", "test")}


def test_splits_never_overlap_and_are_stable(tmp_path):
    both = tmp_path/"both"; both.mkdir()
    for f in ("train.csv", "test.csv"): shutil.copy(GUNPOINT/f, both/f)
    a = _splits(make_dataset(_config(tmp_path/"a", both, train_test_fraction=0.7)))
    assert not (a["train"] & a["val"]) and not (a["train"] & a["test"]) and not (a["val"] & a["test"])
    assert all(a.values())
    # a new, separate build from the files in another order gives the same assignment
    other = tmp_path/"other"; other.mkdir()
    shutil.copy(GUNPOINT/"train.csv", other/"b.csv"); shutil.copy(GUNPOINT/"test.csv", other/"a.csv")
    b = _splits(make_dataset(_config(tmp_path/"b", other, train_test_fraction=0.7)))
    assert a == b


def test_version_id_follows_content_and_parameters(tmp_path):
    data = tmp_path/"s.csv"
    data.write_text((GUNPOINT/"train.csv").read_text())
    v1 = make_dataset(_config(tmp_path, data))
    assert make_dataset(_config(tmp_path, data)).version == v1.version
    assert make_dataset(_config(tmp_path, data, target_length=100)).version != v1.version
    data.write_text((GUNPOINT/"train.csv").read_text().replace("-0.64199155", "-0.5", 1))
    assert make_dataset(_config(tmp_path, data)).version != v1.version


def test_failed_build_leaves_nothing(tmp_path):
    data = tmp_path/"s.csv"
    lines = (GUNPOINT/"train.csv").read_text().splitlines()
    data.write_text("\n".join(lines[:40] + ["bad,1,\"1,2,zz\""] + lines[40:]) + "\n")
    with pytest.raises(ValueError, match="s.csv line 41: timeseries has non-numeric value 'zz'"):
        make_dataset(_config(tmp_path, data))
    assert not (tmp_path/"datasets").exists() or not any((tmp_path/"datasets").iterdir())
