"""``minideeplab export CHECKPOINT --torch FILE``: the trained model as a PyTorch state dict.

The PyTorch twin (:mod:`minideeplab.interop.torch`) has the same layers and state-dict keys as
the NumPy model; the exported file holds its state dict and the config that rebuilds it, so
training can continue with PyTorch's tools from the weights trained here.
"""

from __future__ import annotations

__all__ = ["register"]

LOAD_LINES = '''import torch
from minideeplab.interop.torch import TorchDeepLabV3Plus
saved = torch.load("{path}")              # weights_only: a plain dict, no code runs
model = TorchDeepLabV3Plus(**saved["config"]); model.load_state_dict(saved["state_dict"])'''


def _cmd_export(args) -> int:
    from minideeplab.checkpoint import load_checkpoint, load_model
    from minideeplab.errors import UsageError

    if args.torch is None:
        raise UsageError("say what to export to: --torch FILE (a PyTorch state dict, e.g. "
                         "--torch model.pt)")
    try:
        from minideeplab.interop import torch as interop
    except ImportError:
        raise UsageError("--torch needs PyTorch, which is not installed: pip install torch") \
            from None
    model = load_model(args.checkpoint)
    _, _, meta = load_checkpoint(args.checkpoint)
    interop.export_torch(model, args.torch, class_names=meta.get("class_names"))
    twin = interop.load_exported(args.torch)
    import numpy as np
    import torch

    # the proof the file is right: the reloaded twin gives the NumPy model's logits
    image = np.random.default_rng(0).random((1, model.in_channels, 64, 64)).astype(model.dtype)
    with torch.no_grad():
        theirs = twin(torch.from_numpy(image)).numpy()
    ours = model(image)
    difference = float(np.abs(theirs - ours).max() / max(np.abs(ours).max(), 1e-30))
    print(f"wrote {args.torch}: the PyTorch twin's state dict ({len(twin.state_dict())} "
          f"entries) and its config; reloaded, its logits equal the NumPy model's on a 64x64 "
          f"test image (largest difference {difference:.1e} of the largest logit)")
    print("load it in PyTorch with:\n\n" + LOAD_LINES.format(path=args.torch))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to PyTorch",
        description="Export a checkpoint's model as the state dict of its PyTorch twin "
                    "(minideeplab.interop.torch.TorchDeepLabV3Plus) plus the config that "
                    "rebuilds it, for training on with PyTorch. Needs PyTorch.")
    p.add_argument("checkpoint", help="a model.npz written by 'minideeplab train'")
    p.add_argument("--torch", metavar="FILE", help="write the PyTorch state dict here "
                                                   "(e.g. model.pt)")
    p.set_defaults(func=_cmd_export)
