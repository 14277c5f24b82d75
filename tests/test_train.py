"""Training end to end on tiny data: the loss goes down, same seed gives the same numbers,
resume continues exactly, a NaN stops cleanly, checkpoints are atomic and checked."""

import json

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from minideeplab.models import DeepLabV3Plus
from minideeplab.train import TrainingDiverged, train

from .tiny_training import TINY_MODEL, cache_in_tmp, tiny_config  # noqa: F401


def _config(**overrides):
    return tiny_config(**{**dict(n_train=48, n_val=16, n_test=16, steps=8, batch_size=4,
                                  eval_every=4, checkpoint_every=4), **overrides})


def test_a_few_steps_lower_the_loss(tmp_path):
    result = train(_config(steps=30, batch_size=8, eval_every=30, checkpoint_every=30),
                   out_dir=tmp_path / "run", progress=False)
    losses = result["history"]["loss"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    for name in ("model.npz", "metrics.json"):
        assert (tmp_path / "run" / name).is_file(), name
    # the training loop draws nothing (the command line draws curves.png and predictions.png)
    assert not list((tmp_path / "run").glob("*.png"))
    assert isinstance(result["model"], DeepLabV3Plus)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["image_size"] == 32
    assert metrics["config"]["steps"] == 30
    assert 0.0 <= metrics["val"]["miou"] <= 1.0


def test_same_seed_same_numbers():
    a = train(_config(), progress=False)
    b = train(_config(), progress=False)
    assert a["history"]["loss"] == b["history"]["loss"]
    c = train(_config(seed=1), progress=False)
    assert c["history"]["loss"] != a["history"]["loss"]


def test_resume_continues_exactly(tmp_path):
    uninterrupted = train(_config(), out_dir=tmp_path / "a", progress=False)

    class Stop(Exception):
        pass

    def stop_at_4(step, loss, model):
        if step == 4:
            raise Stop

    with pytest.raises(Stop):
        train(_config(), out_dir=tmp_path / "b", progress=False, callback=stop_at_4)
    assert load_checkpoint(tmp_path / "b" / "model.npz")[2]["step"] == 4
    resumed = train(_config(), out_dir=tmp_path / "b", resume=True, progress=False,
                    log=lambda *_: None)
    assert resumed["history"]["loss"] == uninterrupted["history"]["loss"]
    assert resumed["val"]["miou"] == uninterrupted["val"]["miou"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, loss, model):
        if step == 4:          # after the step-4 checkpoint, break the weights
            model.parameters()[0].data[...] = np.nan

    # steps count from 1, as in the checkpoint: four steps done, the fifth diverges
    with pytest.raises(TrainingDiverged, match="loss became nan at step 5"):
        train(_config(), out_dir=tmp_path / "run", progress=False, callback=poison)
    model_state, _, meta = load_checkpoint(tmp_path / "run" / "model.npz")
    assert meta["step"] == 4
    assert all(np.isfinite(v).all() for v in model_state.values())


def test_load_model_rebuilds_from_the_checkpoint_alone(tmp_path):
    train(_config(steps=4), out_dir=tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run" / "model.npz")
    assert not model.training
    assert model.config["widths"] == TINY_MODEL["widths"]
    x = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    assert model(x).shape == (2, 5, 32, 32)


def test_truncated_and_foreign_checkpoints_give_clear_errors(tmp_path):
    model = mdl.models.DeepLabV3Plus(3, **TINY_MODEL)
    path = tmp_path / "model.npz"
    save_checkpoint(path, model)
    data = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(tmp_path / "truncated.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minideeplab checkpoint"):
        load_model(tmp_path / "foreign.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    other = mdl.models.DeepLabV3Plus(4, **TINY_MODEL)
    state, _, _ = load_checkpoint(path)
    with pytest.raises(ValueError, match="decoder.classifier.weight"):
        other.load_state_dict(state)


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    model = mdl.models.DeepLabV3Plus(3, **TINY_MODEL)
    path = tmp_path / "model.npz"
    save_checkpoint(path, model)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model)
    assert path.read_bytes() == before                         # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]   # no temporary left behind


def test_batch_size_one_fails_with_a_clear_reason():
    with pytest.raises(ValueError, match="batch size 1 in training mode"):
        train(_config(batch_size=1, steps=1), progress=False)


@pytest.mark.parametrize("overrides, pattern", [
    (dict(steps=0), "steps"), (dict(optimizer="rmsprop"), "optimizer"), (dict(lr=-1.0), "lr"),
])
def test_bad_config(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        _config(**overrides)
