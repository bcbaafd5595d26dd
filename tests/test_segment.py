"""Segmentation (CellMap): python config files through the CLI, resume, and the dice check on the shipped volumes."""
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

VOLUMES = ROOT/"data"/"volumes"


def write_train_config(tmp_path, body="", name="train_config.py"):
    "A CellMap-style python config: a tiny 3D U-Net on the shipped volumes, outputs under tmp_path."
    text = textwrap.dedent(f"""\
        # CellMap-style training config: every top-level name is a parameter
        import os
        model_name = "3d_unet"
        model_kwargs = {{"filters": [2, 4], "batch_norm": False}}
        classes = ["ball", "box"]
        data_path = {str(VOLUMES)!r}
        input_array_info = {{"shape": (16, 16, 16), "scale": (8, 8, 8)}}
        batch_size = 2
        epochs = 1
        iterations_per_epoch = 2
        validation_batch_limit = 2
        spatial_transforms = {{"mirror": {{"axes": {{"x": 0.5, "z": 0.5}}}}, "transpose": {{"axes": ["x", "y", "z"]}},
                              "rotate": {{"axes": {{"z": [-180, 180]}}}}}}
        """) + textwrap.dedent(body)
    p = tmp_path/name
    p.write_text(text)
    return p


def test_python_config_trains_a_3d_unet_and_resumes(tmp_path, cli):
    config = write_train_config(tmp_path)
    r = cli("train-model", "--config", config, "--verbose", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/"checkpoints"/"3d_unet_1.weights.h5").is_file()
    split = (tmp_path/"datasplit.csv").read_text()
    assert split.splitlines()[0] == "usage,path,classes" and split.count("validate,") == 1 and split.count("train,") == 3
    assert "resumed from nothing" in r.stdout
    events = list((tmp_path/"tensorboard"/"3d_unet").rglob("events.out.tfevents.*"))
    assert {e.parent.name for e in events} >= {"train", "validation", "examples"}
    # the datasplit is reused, not rewritten; training resumes from the latest checkpoint
    (tmp_path/"datasplit.csv").write_text(split.replace("validate,", "train,", 1).replace("train,", "validate,", 1))
    edited = (tmp_path/"datasplit.csv").read_text()
    r = cli("train-model", "--config", config, "--verbose", "0", "--set", "epochs=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 epochs" in r.stdout and "resumed from 3d_unet_1.weights.h5" in r.stdout
    assert (tmp_path/"datasplit.csv").read_text() == edited
    assert (tmp_path/"checkpoints"/"3d_unet_2.weights.h5").is_file()
    rows = (tmp_path/"tensorboard"/"3d_unet"/"history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]
    # the trained model segments a whole volume: a probability per class and voxel, from the best checkpoint
    out = tmp_path/"blobs_3_pred.h5"
    r = cli("segment", "--config", config, "--input", VOLUMES/"blobs_3.h5", "--output", out, "--overlap", "0.25")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == f"wrote {out}: predictions/{{ball,box}} for {VOLUMES/'blobs_3.h5'}\n"
    import h5py
    with h5py.File(out) as f:
        assert sorted(f["predictions"]) == ["ball", "box"] and f["predictions/box"].shape == (64, 64, 64)
        assert f.attrs["checkpoint"].endswith(".weights.h5") and 1 <= f.attrs["epoch"] <= 2 and f.attrs["overlap"] == 0.25
        p = f["predictions/ball"][:]
    assert 0 <= p.min() and p.max() <= 1 and p.std() > 0


def test_python_config_typo_is_a_cli_error(tmp_path, cli):
    r = cli("train-model", "--config", write_train_config(tmp_path, "learning_rat = 1e-3\n"))
    assert r.returncode == 1
    assert "trainlib: error:" in r.stderr and "train_config.py line 14: unknown parameter 'learning_rat'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path/"checkpoints").exists()


def test_python_config_bad_values_name_file_and_line(tmp_path, capsys):
    from trainlib.cli import main
    assert main(["train-model", "--config", str(write_train_config(tmp_path, "batch_size = 0\n", name="bad.py"))]) == 1
    assert "bad.py line 14: batch_size must be > 0, got 0" in capsys.readouterr().err   # the last assignment counts
    assert main(["train-model", "--config", str(write_train_config(tmp_path, "model_name = '2d_unet'\n", name="dims.py"))]) == 1
    assert "model_name '2d_unet' does not fit input_array_info.shape [16, 16, 16]: use a 3d model" in capsys.readouterr().err
    assert main(["train-model", "--config", str(write_train_config(tmp_path, name="ok.py")), "--set", "epoch=3"]) == 1
    assert "unknown key 'epoch'" in capsys.readouterr().err
    assert not (tmp_path/"checkpoints").exists()


def test_best_resume_loads_the_truly_best_epoch(tmp_path):
    "Checkpoints whose weights are all equal to their epoch number; history best at row epoch=1, i.e. checkpoint 2."
    from trainlib.config import load_python_config
    from trainlib.segment import build_segmenter, checkpoint_path, train_segmentation
    config = load_python_config(write_train_config(tmp_path, "epochs = 3\nload_model = 'best'\n"))
    model = build_segmenter(config)
    for epoch in (1, 2, 3):
        model.set_weights([np.full(w.shape, epoch, w.dtype) for w in model.get_weights()])
        checkpoint_path(config, epoch).parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(checkpoint_path(config, epoch))
    log = tmp_path/"tensorboard"/"3d_unet"; log.mkdir(parents=True)
    (log/"history.csv").write_text("epoch,loss,val_loss\n0,0.9,0.6\n1,0.8,0.1\n2,0.7,0.3\n")
    result = train_segmentation(config, verbose=0)        # 3 epochs done: loads and returns
    assert result.resumed_from == checkpoint_path(config, 2) and result.best_epoch == 2
    assert all(np.all(w == 2) for w in result.model.get_weights())
    latest = train_segmentation(config.update({"load_model": "latest"}), verbose=0)
    assert all(np.all(w == 3) for w in latest.model.get_weights())


@pytest.mark.slow
@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_unet_learns_the_generated_volumes(tmp_path, dims):
    """Issue 7 item 5: a 2D and a 3D U-Net reach validation dice >= 0.8 on data/volumes within minutes on CPU (no batch norm: its
    moving statistics lag this short a run, so validation, in inference mode, would lag training)."""
    import time
    from trainlib.config import SegmentConfig
    from trainlib.segment import train_segmentation
    common = dict(classes=["ball", "box"], data_path=str(VOLUMES), datasplit_path=str(tmp_path/"datasplit.csv"),
                  model_save_path=str(tmp_path/"checkpoints/{model_name}_{epoch}.weights.h5"),
                  logs_save_path=str(tmp_path/"tensorboard/{model_name}"), learning_rate=3e-3, iterations_per_epoch=30)
    if dims == "2d":
        config = dict(model_name="2d_unet", model_kwargs={"filters": [8, 16, 32], "batch_norm": False}, batch_size=8, epochs=6,
                      input_array_info={"shape": [1, 32, 32], "scale": [8, 8, 8]},
                      spatial_transforms={"mirror": {"axes": {"x": 0.5, "y": 0.5}}, "transpose": {"axes": ["x", "y"]}})
    else:
        config = dict(model_name="3d_unet", model_kwargs={"filters": [8, 16, 32], "batch_norm": False}, batch_size=4, epochs=12,
                      learning_rate=2e-3, input_array_info={"shape": [16, 16, 16], "scale": [8, 8, 8]},
                      spatial_transforms={"mirror": {"axes": {"x": 0.5, "y": 0.5, "z": 0.5}}, "transpose": {"axes": ["x", "y", "z"]}})
    start = time.time()
    result = train_segmentation(SegmentConfig.from_dict({**common, **config}), verbose=2)   # the 3D config overrides learning_rate
    best = max(r["val_dice"] for r in result.history)
    print(f"{dims}: val_dice per epoch {[round(r['val_dice'], 3) for r in result.history]}, {time.time() - start:.0f} s")
    assert best >= 0.8
    assert min(result.history[-1][f"val_dice_{c}"] for c in ("ball", "box")) >= 0.7
    # the best checkpoint on the whole validation volume, through segment_volume's grid of crops
    import h5py
    from trainlib.segment import segment_volume
    config = SegmentConfig.from_dict({**common, **config})
    volume = next(line.split(",")[1] for line in (tmp_path/"datasplit.csv").read_text().splitlines() if line.startswith("validate,"))
    def volume_dice(pred):
        with h5py.File(pred) as f, h5py.File(volume) as v:
            return {c: 2 * ((f[f"predictions/{c}"][:] > 0.5) & (v[f"labels/{c}"][:] > 0)).sum()
                       / ((f[f"predictions/{c}"][:] > 0.5).sum() + (v[f"labels/{c}"][:] > 0).sum()) for c in ("ball", "box")}
    dice = volume_dice(segment_volume(config, volume, tmp_path/"pred.h5", progress=False))
    blended = volume_dice(segment_volume(config, volume, tmp_path/"blend.h5", overlap=0.5, progress=False))   # overlapping crops, blended
    print(f"{dims}: whole-volume dice {dice}, with overlap 0.5 {blended}")
    assert min(dice.values()) >= 0.7 and min(blended.values()) >= 0.7, (dice, blended)
