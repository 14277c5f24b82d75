"""The tiny model and training set-up the training tests share: seconds, not minutes."""

import pytest

from minideeplab.train import TrainConfig

TINY_MODEL = dict(stem_channels=8, widths=(8, 12, 16, 16), blocks=(1, 1, 1, 1), aspp_channels=8,
                  low_level_channels=8, decoder_channels=8)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    """Generated datasets go to the test's own folder, not data/cache."""
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))


def tiny_config(**values) -> TrainConfig:
    """32x32 images, the tiny model, no warm-up; ``values`` set the rest."""
    return TrainConfig(**{**dict(image_size=32, lr=0.05, warmup_steps=0, model=TINY_MODEL),
                          **values})
