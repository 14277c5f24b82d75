"""``minideeplab export CHECKPOINT --torch FILE``: the PyTorch twin's state dict and config."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.checkpoint import save_checkpoint
from minideeplab.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkpoint(tmp_path):
    model = mdl.models.DeepLabV3Plus(3, seed=2, widths=(8, 16, 16, 24), decoder_channels=16)
    model.train()
    model(np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32))  # BN statistics
    path = tmp_path / "model.npz"
    save_checkpoint(path, model.eval(), metadata={"class_names": ["a", "b", "c"]})
    return path


def test_the_exported_file_loads_in_three_lines_and_gives_the_same_logits(checkpoint, tmp_path,
                                                                          capsys):
    torch = pytest.importorskip("torch", reason="export needs PyTorch")
    out = tmp_path / "model.pt"
    assert main(["export", str(checkpoint), "--torch", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TorchDeepLabV3Plus(**saved[\"config\"])" in printed
    # the README's lines, verbatim in spirit: plain torch.load (weights_only) and the twin class
    from minideeplab.interop.torch import TorchDeepLabV3Plus

    saved = torch.load(out, weights_only=True)
    twin = TorchDeepLabV3Plus(**saved["config"])
    twin.load_state_dict(saved["state_dict"])
    twin.eval()
    assert saved["class_names"] == ["a", "b", "c"]
    model = mdl.load_model(checkpoint)
    images = np.random.default_rng(1).random((2, 3, 40, 56)).astype(np.float32)
    with torch.no_grad():
        theirs = twin(torch.from_numpy(images)).numpy()
    ours = model(images)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())


def test_export_needs_a_target(checkpoint, capsys):
    assert main(["export", str(checkpoint)]) == 2
    assert "--torch FILE" in capsys.readouterr().err


def test_export_without_torch_says_how_to_install_it(checkpoint, tmp_path):
    # torch made unimportable in a child process: one line, exit 2, no traceback
    script = ("import sys; sys.modules['torch'] = None; from minideeplab.cli import main; "
              f"sys.exit(main(['export', {str(checkpoint)!r}, '--torch', "
              f"{str(tmp_path / 'm.pt')!r}]))")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               cwd=ROOT)
    assert completed.returncode == 2
    assert "needs PyTorch" in completed.stderr and "pip install torch" in completed.stderr
    assert "Traceback" not in completed.stderr
