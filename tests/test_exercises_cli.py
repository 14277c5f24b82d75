"""``minideeplab exercise list|show|check|bugs``: exit 0 when a check passes, 1 when it fails,
2 (one line ``error: ...``) for bad input."""

from pathlib import Path

import pytest

from minideeplab.cli import main

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "solutions"


def test_list_show_and_bugs(capsys):
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert "notebooks/exercises/01_atrous_convolution.ipynb" in out
    assert "conv2d_backward" in out and "aspp_backward" in out and "conv_step" in out
    # notebook 02 asks for the convolution again (with groups): listed under it too
    separable = out.split("02_depthwise_separable.ipynb")[1].split("notebooks/exercises/")[0]
    assert "separable_conv_parameters" in separable
    assert "conv2d_forward" in separable and "(again, first in 01)" in separable
    assert main(["exercise", "show", "conv2d_backward"]) == 0
    out = capsys.readouterr().out
    assert "def conv2d_backward(dout, cache) -> (dx, dw, db)" in out and ".x_padded" in out
    assert main(["exercise", "bugs"]) == 0
    assert "conv2d_backward_no_flip" in capsys.readouterr().out


def test_check_a_file_that_passes_exits_0(capsys):
    assert main(["exercise", "check", "relu_backward",
                 str(SOLUTIONS / "03_batchnorm_relu.py")]) == 0
    assert capsys.readouterr().out.startswith("relu_backward: passed all")


def test_check_a_file_that_fails_exits_1_with_the_diagnosis(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("import numpy as np\n\n\ndef global_avg_pool2d_backward(dout, cache):\n"
                    "    return np.broadcast_to(dout, cache.x_shape).copy()\n")
    assert main(["exercise", "check", "global_avg_pool2d_backward", str(mine)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("global_avg_pool2d_backward: FAILED")
    assert "off by a constant factor 9 (= H*W)" in out and "hint:" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("def relu_backwards(dout, cache):\n    return dout\n")
    assert main(["exercise", "check", "relu_backward", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not define a function named relu_backward (it defines: relu_backwards)" in err
    assert main(["exercise", "check", "relu_backward", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["exercise", "show", "relu"]) == 2
    assert "unknown exercise 'relu'; the exercises are: conv_output_size" in \
        capsys.readouterr().err


@pytest.mark.parametrize("action", ["list", "show", "check", "bugs"])
def test_every_action_has_help(action, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["exercise", action, "--help"])
    assert exit_info.value.code == 0
