"""Every command of the README's command table runs, as the README writes it, on a tiny
configuration; every option the table shows is one the command accepts.

The commands are read from README.md (the table under "## The command line"), so the table and
the test cannot drift apart: a new row runs here as soon as it is written. Placeholders become
real files: a ``.npz`` path (or CHECKPOINT) is a freshly trained checkpoint, an image path a
small PNG, the value of ``--out``, ``--plot`` or ``--figures`` (or DIR, FILE) a path in a
temporary folder, and N is 1. ``TINY`` adds the options that make each command take a second
or two instead of minutes (a command without an entry runs as the README writes it).
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
OUTPUT_OPTIONS = ("--out", "--plot", "--figures", "--report")

SMALL_DATA = ["--image-size", "32", "--n-train", "8", "--n-val", "4", "--n-test", "4",
              "--batch-size", "4", "--no-progress"]
#: What makes each command tiny (benchmarks: their smallest options, PyTorch left out).
TINY = {
    "train": ["--steps", "2", "--eval-every", "2", *SMALL_DATA],
    "ablate": ["--steps", "1", "--eval-every", "1", *SMALL_DATA],
    "evaluate": ["--n", "4"],
    "reproduce": ["--n", "2"],
    "predict": ["--no-overlay"],
    "summary": ["--size", "32"],
    "receptive-field": ["--size", "32"],
    "bench conv": ["--shapes", "S5", "--blocks", "1", "--calls", "1", "--no-numpy", "--no-torch"],
    "bench model": ["--steps", "2x16", "--blocks", "1", "--calls", "1", "--no-numpy",
                    "--no-torch"],
    "bench performance": ["--smoke", "--no-torch"],
}


def readme_table():
    """The README's command table as (name, required words, optional groups) per command.

    ``minideeplab bench [conv|model|performance]`` is three commands; ``[--out DIR]`` is an
    optional group, run by :func:`test_every_option_the_table_shows_is_accepted`.
    """
    text = README.read_text(encoding="utf-8")
    section = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    commands = []
    for usage in re.findall(r"^\| `minideeplab ([^`]+)` \|", section, flags=re.MULTILINE):
        usage = usage.replace("\\|", "|")
        groups = re.findall(r"\[([^\]]+)\]", usage)
        required = re.sub(r"\[[^\]]+\]", " ", usage).split()
        words = [g for g in groups if not g.startswith("-")]          # [conv|model|performance]
        options = [g.split() for g in groups if g.startswith("-")]
        alternatives = words[0].split("|") if words else [None]
        for alternative in alternatives:
            name_words = required[:1] + ([alternative] if alternative else [])
            rest = required[1:]
            commands.append((" ".join(name_words), name_words + rest, options))
    return commands


COMMANDS = readme_table()


def test_the_table_was_read():
    names = [name for name, _, _ in COMMANDS]
    assert {"train", "evaluate", "summary", "bench conv", "bench performance"} <= set(names)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A trained checkpoint and a small image, made once for the module."""
    folder = tmp_path_factory.mktemp("readme")
    import os

    previous = os.environ.get("MINIDEEPLAB_CACHE_DIR")
    os.environ["MINIDEEPLAB_CACHE_DIR"] = str(folder / "cache")
    try:
        assert main(["train", "--out", str(folder / "run"), *TINY["train"]]) == 0
    finally:
        if previous is None:
            del os.environ["MINIDEEPLAB_CACHE_DIR"]
        else:
            os.environ["MINIDEEPLAB_CACHE_DIR"] = previous
    from PIL import Image

    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(folder / "image.png")
    # a dataset folder of your own, for 'data check DIR': images/ and index masks/
    data = folder / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    for k in range(3):
        Image.fromarray(image).save(data / "images" / f"{k}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:20, 4 + k:16 + k] = 1
        Image.fromarray(mask).save(data / "masks" / f"{k}.png")
    return {"checkpoint": folder / "run" / "model.npz", "image": folder / "image.png",
            "data": data}


def concrete(words, files, folder):
    """The README's words with each placeholder replaced by a real file or a fresh path."""
    argv = []
    for index, word in enumerate(words):
        previous = words[index - 1] if index else ""
        if word == "N":                                  # --steps N
            argv.append("1")
        elif word == "DIR" and (previous == "--data" or words[:2] == ["data", "check"]):
            argv.append(str(files["data"]))              # a dataset folder to read
        elif word.rstrip(".") in ("IMAGE", "IMAGE_OR_FOLDER", "INPUT"):
            argv.append(str(files["image"]))
        elif previous in OUTPUT_OPTIONS or word in ("DIR", "FILE"):
            argv.append(str(folder / Path(word).name))
        elif word.endswith(".npz") or word == "CHECKPOINT":
            argv.append(str(files["checkpoint"]))
        elif word.lower().endswith(IMAGE_SUFFIXES):
            argv.append(str(files["image"]))
        else:
            argv.append(word)
    return argv


@pytest.mark.parametrize("name, words", [(name, words) for name, words, _ in COMMANDS],
                         ids=[name for name, _, _ in COMMANDS])
def test_every_command_of_the_readme_runs(name, words, files, tmp_path, monkeypatch, capsys):
    if name.startswith("bench") and not mdl.backend.numba_available():
        pytest.skip("the benchmarks need numba")
    if "--torch" in words and importlib.util.find_spec("torch") is None:
        pytest.skip("export --torch needs PyTorch, which is not installed")
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)                    # default output folders land in tmp_path
    argv = concrete(words, files, tmp_path)
    if name in ("train", "ablate") and "--out" not in argv:
        argv += ["--out", str(tmp_path / name)]
    assert main(argv + TINY.get(name, [])) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip(), f"'minideeplab {name}' printed nothing"


@pytest.mark.parametrize("name, words, options", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_option_the_table_shows_is_accepted(name, words, options, files, tmp_path):
    parser = build_parser()
    for option in options:
        argv = concrete(words + option, files, tmp_path)
        args = parser.parse_args(argv)              # exits (SystemExit) on an unknown option
        assert args.command == words[0]
