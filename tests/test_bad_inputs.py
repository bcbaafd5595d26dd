"""Each bad input gives one clear error line naming the file/line/field, exit status 1, and no partial output."""
import json

import pytest

from conftest import GUNPOINT

TRAIN = (GUNPOINT/"train.csv").read_text()


def _bad_csv(tmp_path, name, text):
    p = tmp_path/name
    p.write_text(text)
    return {"etl": {"data_path": str(p)}}


CASES = {
    "missing data file": (lambda t: {"etl": {"data_path": str(t/"nope.csv")}}, "data path not found:"),
    "malformed row": (lambda t: _bad_csv(t, "ragged.csv", TRAIN.replace(',"-0.6478854', ',"x",-0.6478854', 1)),
                      "ragged.csv line 2: expected 3 fields as in the header, got 153 (is the series quoted?)"),
    "non-numeric value": (lambda t: _bad_csv(t, "abc.csv", TRAIN.replace("-0.64199155", "abc", 1)),
                          "abc.csv line 2: timeseries has non-numeric value 'abc'"),
    "NaN value": (lambda t: _bad_csv(t, "nan.csv", TRAIN.replace("-0.64199155", "nan", 1)),
                  "nan.csv line 2: timeseries has non-finite value 'nan'"),
    "empty file": (lambda t: _bad_csv(t, "empty.csv", ""), "empty.csv: file is empty"),
    "header only": (lambda t: _bad_csv(t, "header.csv", "read_id,cap_class,timeseries\n"), "no data rows in"),
    "unknown class in test file": (lambda t: {"etl": {"test_path": str(_test_file(t))}},
                                   "test3.csv line 2: class '3' of the test file does not occur in the training data"),
    "unknown split in split file": (lambda t: {"etl": {"split_path": str(_split(t))}}, "split.csv line 2: split must be one of train, val, test, got 'training'"),
    "duplicate id": (lambda t: _bad_csv(t, "dup.csv", TRAIN + TRAIN.splitlines()[1] + "\n"), "duplicate id 'GunPoint_train_0000'"),
    "target_length <= 0": (lambda t: {"shared": {"target_length": 0}}, "shared.target_length must be > 0, got 0"),
    "negative batch size": (lambda t: {"train": {"batch_size": -3}}, "train.batch_size must be > 0, got -3"),
    "unknown config key": (lambda t: {"train": {"epochs": 3}}, "unknown key 'train.epochs'; allowed keys in train:"),
    "wrong type": (lambda t: {"train": {"max_epochs": "ten"}}, "train.max_epochs must be of type int, got str 'ten'"),
    "bad choice": (lambda t: {"shared": {"dtype": "int8"}}, "shared.dtype must be one of float16, float32, float64, got 'int8'"),
    "unknown model name": (lambda t: {"shared": {"model_type": "transformer9000"}}, "unknown model 'transformer9000'; available:"),
    "unknown model hyperparameter": (lambda t: {"train": {"model_hp": {"filterz": 3}}}, "filterz"),
    "wrong number of classes": (lambda t: {"shared": {"num_classes": 4}}, "shared.num_classes is 4 but the data have 2 classes: 1, 2"),
}


def _test_file(t):
    lines = (GUNPOINT/"test.csv").read_text().splitlines()
    rid, _, rest = lines[1].split(",", 2)
    p = t/"test3.csv"
    p.write_text("\n".join([lines[0], f"{rid},3,{rest}", *lines[2:]]) + "\n")
    return p


def _split(t):
    p = t/"split.csv"
    p.write_text("id,split\nGunPoint_train_0000,training\n")
    return p


def _merge(cfg, override):
    for k, v in override.items(): cfg.setdefault(k, {}).update(v)
    return cfg


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, cli, tmp_path):
    from conftest import tiny_config
    make, expected = CASES[case]
    cfg = _merge(tiny_config(tmp_path), make(tmp_path))
    (tmp_path/"config.json").write_text(json.dumps(cfg))
    r = cli("train-model", "--config", "config.json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.startswith("trainlib: error:")]
    assert len(lines) == 1, r.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    # no partial output: no dataset version unless the data were fine, never a run folder
    datasets = tmp_path/"datasets"
    if datasets.exists():
        for d in datasets.iterdir():
            assert (d/"manifest.json").is_file(), f"partial dataset left: {d}"
            assert not d.name.startswith(".tmp"), d
    assert not (tmp_path/"runs").exists() or not any((tmp_path/"runs").rglob("run.json"))


def test_bad_config_file_names_the_line(cli, tmp_path):
    (tmp_path/"c.json").write_text('{"train": {\n "batch_size": 8,\n}}')
    r = cli("train-model", "--config", "c.json")
    assert r.returncode == 1 and "c.json line 3: invalid JSON" in r.stderr


def test_debug_shows_traceback(cli, tmp_path):
    (tmp_path/"c.json").write_text('{"train": {"batch_size": -3}}')
    r = cli("--debug", "make-dataset", "--config", "c.json")
    assert r.returncode == 1 and "Traceback" in r.stderr
