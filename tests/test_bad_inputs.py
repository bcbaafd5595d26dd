"""The bad-input corpus (tests/bad_inputs/cases.yaml): each case exits 1 with one clear error line naming the file/line/field, no traceback, and no partial output."""
import json, shutil, traceback
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config

INPUTS = Path(__file__).parent/"bad_inputs"
CASES = {c["name"]: c for c in yaml.safe_load((INPUTS/"cases.yaml").read_text())}


def test_corpus_is_well_formed():
    assert len(CASES) >= 30
    for name, c in CASES.items():
        assert set(c) <= {"name", "args", "config", "run", "expect", "xfail"}, name
        assert c.get("expect"), name
        for a in c.get("args", []):
            for f in ("{inputs}/",):
                if a.startswith(f): assert (INPUTS/a[len(f):]).exists(), (name, a)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    "A valid tiny GunPoint dataset version (for run folders whose dataset.json names {dataset})."
    from trainlib.config import TrainConfig
    from trainlib.store import make_dataset
    return make_dataset(TrainConfig.from_dict(tiny_config(tmp_path_factory.mktemp("ds")))).path


def _fill(text, subs):
    for k, v in subs.items(): text = text.replace("{" + k + "}", str(v))
    return text


def _merge(cfg, override):
    for k, v in override.items(): cfg.setdefault(k, {}).update(v)
    return cfg


def _run_case(case, tmp_path, tiny_dataset, monkeypatch, capsys):
    from trainlib.cli import main
    subs = dict(inputs=INPUTS, tmp=tmp_path, config=tmp_path/"config.json", run=tmp_path/"run", dataset=tiny_dataset)
    if "config" in case:
        cfg = _merge(tiny_config(tmp_path), json.loads(_fill(json.dumps(case["config"]), subs)))
        subs["config"].write_text(json.dumps(cfg))
    if "run" in case:
        shutil.copytree(INPUTS/case["run"], subs["run"])
        ds = subs["run"]/"dataset.json"
        if ds.is_file(): ds.write_text(_fill(ds.read_text(), subs))
    args = [_fill(a, subs) for a in case.get("args", ["train-model", "--config", "{config}"])]
    monkeypatch.chdir(tmp_path)
    try: rc = main(args)
    except BaseException as e:      # an exception main() does not turn into one line is a failure of the case
        pytest.fail(f"{case['name']}: uncaught {type(e).__name__} (a traceback for the user): {e}\n{traceback.format_exc()[-1500:]}")
    return rc, capsys.readouterr()


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, tmp_path, tiny_dataset, monkeypatch, capsys, request):
    case = CASES[name]
    if case.get("xfail"): request.applymarker(pytest.mark.xfail(reason=case["xfail"], strict=True))
    rc, out = _run_case(case, tmp_path, tiny_dataset, monkeypatch, capsys)
    lines = [l for l in out.err.splitlines() if l.startswith("trainlib: error:")]
    assert rc == 1, (rc, out.err[-2000:])
    assert len(lines) == 1, out.err
    assert lines[0] == out.err.strip().splitlines()[-1], out.err      # the error is the last thing printed
    assert case["expect"] in lines[0], lines[0]
    assert "Traceback" not in out.err
    # no partial output: no temporary or manifest-less dataset folder, no run marked complete, no metrics
    for d in (tmp_path/"datasets").glob("*"):
        assert (d/"manifest.json").is_file() and not d.name.startswith(".tmp"), f"partial dataset left: {d}"
    assert not list(tmp_path.rglob(".tmp-*")), list(tmp_path.rglob(".tmp-*"))
    for info in tmp_path.rglob("run.json"):
        assert json.loads(info.read_text()).get("status") != "complete", info
    assert not list(tmp_path.rglob("metrics.json"))
    assert not list(INPUTS.rglob("runs")) and not list(INPUTS.rglob("metrics.json")), "a case wrote into the corpus"


def test_bad_config_file_names_the_line(cli, tmp_path):
    "The same through the installed console script (a subprocess): exit 1, one line."
    r = cli("train-model", "--config", INPUTS/"config_invalid.json")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("trainlib: error:")
    assert "config_invalid.json line 3: invalid JSON" in r.stderr and "Traceback" not in r.stderr


def test_debug_shows_traceback(cli, tmp_path):
    (tmp_path/"c.json").write_text('{"train": {"batch_size": -3}}')
    r = cli("--debug", "make-dataset", "--config", "c.json")
    assert r.returncode == 1 and "Traceback" in r.stderr
