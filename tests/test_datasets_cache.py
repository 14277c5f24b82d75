"""Tests of the dataset cache (minideeplab.datasets.cache) and of the one atomic write it
shares with checkpoints (minideeplab.fileio)."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from minideeplab import datasets
from minideeplab.fileio import atomic_write

# --------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------

def test_cache_round_trip_without_pickle(tmp_path):
    images, masks = datasets.load_dataset("shapes", "val", n=5, size=32, cache_dir=tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 1 and files[0].endswith(".npz")   # no temporary file left behind
    assert f"v{datasets.SHAPES_VERSION}" in files[0]      # a new generator version = new file
    with np.load(tmp_path / files[0], allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["images"], images)
        np.testing.assert_array_equal(archive["masks"], masks)
    # The second call reads the file: prove it by planting different (valid) arrays there.
    np.savez(tmp_path / files[0], images=np.zeros_like(images), masks=masks)
    again_images, _ = datasets.load_dataset("shapes", "val", n=5, size=32, cache_dir=tmp_path)
    assert not again_images.any()


def test_a_broken_cache_file_is_regenerated(tmp_path):
    images, _ = datasets.load_dataset("shapes", "test", n=3, size=32, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="cache"):
        again, _ = datasets.load_dataset("shapes", "test", n=3, size=32, cache_dir=tmp_path)
    np.testing.assert_array_equal(images, again)


def test_cache_file_name_carries_everything_that_decides_the_arrays(tmp_path):
    from minideeplab.datasets.cache import cache_path

    path = cache_path(tmp_path, "shapes", 3, "val", 10, 32, 1001)
    assert path == tmp_path / "shapes_v3_val_n10_s32_seed1001.npz"


def test_cache_stores_labels_as_uint8_in_a_file_everyone_can_read(tmp_path):
    datasets.load_dataset("shapes", "train", n=2, size=16, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    with np.load(path, allow_pickle=False) as archive:
        assert archive["masks"].dtype == np.uint8
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path
    monkeypatch.delenv("MINIDEEPLAB_CACHE_DIR")
    assert datasets.default_cache_dir().parts[-2:] == ("data", "cache")


def test_a_cache_that_cannot_be_written_only_warns(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="could not write the dataset cache"):
        images, _ = datasets.load_dataset("shapes", "val", n=2, size=16,
                                          cache_dir=blocker / "cache")
    assert images.shape == (2, 3, 16, 16)


# --------------------------------------------------------------------------------------------
# atomic_write: nothing is ever half-written
# --------------------------------------------------------------------------------------------

def test_atomic_write_makes_the_folder_and_replaces_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "folder" / "out.bin"
    atomic_write(target, lambda f: f.write(b"first"))
    atomic_write(target, lambda f: f.write(b"second"))
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["out.bin"]      # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half_then_crash(file):
        file.write(b"half of the new")
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError, match="crash in the middle"):
        atomic_write(target, half_then_crash)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_the_package_has_one_atomic_write():
    # Checkpoints, metrics.json and the dataset cache all write through fileio.atomic_write:
    # no other module renames a temporary file over a target.
    import minideeplab
    from minideeplab import checkpoint
    from minideeplab.datasets import cache

    root = Path(minideeplab.__file__).parent
    renaming = sorted(path.relative_to(root).as_posix() for path in root.rglob("*.py")
                      if "os.replace(" in path.read_text(encoding="utf-8"))
    assert renaming == ["fileio.py"]
    assert checkpoint.atomic_write is atomic_write
    assert cache.atomic_write is atomic_write
