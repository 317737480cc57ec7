"""Reading the authors' checkpoints without executing anything in them, and converting them
into our PotentialMLP.

The checkpoints are `torch.save` files of whole pickled `nn.Module` objects. They are read
without executing anything they contain: first the pickle's opcodes are listed (pickletools,
which only parses) and every global it names must be one of the eight the authors' files use;
then torch's weights-only unpickler loads it, with our own stand-in class registered under the
name `models.Net`. No code from the file (nor any module called `models`) is imported.
"""

from __future__ import annotations

import pickletools
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from odesdegap.published.layout import BETA, WIDTH, PublishedFileError

# Every global the published pickles name (protocol 2 spells builtins as __builtin__).
ALLOWED_GLOBALS = frozenset({
    "models.Net",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.activation.Softplus",
    "collections.OrderedDict",
    "builtins.set",
    "__builtin__.set",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
})
# Their submodules, in forward order, with the shapes (out, in) of each Linear.
LAYER_SHAPES = {"input": (WIDTH, 3), "hidden1": (WIDTH, WIDTH), "hidden2": (WIDTH, WIDTH),
                "output": (1, WIDTH)}


class AuthorsNet(nn.Module):
    """Stand-in for the authors' `models.Net`: the unpickler creates it empty and restores its
    submodules; it has no code of theirs. `forward` is their forward pass, kept for tests."""

    def forward(self, tx: torch.Tensor) -> torch.Tensor:
        h = tx
        for name in ("input", "hidden1", "hidden2"):
            h = self.activation(getattr(self, name)(h))
        return self.output(h)


def pickle_globals(path: Path | str) -> set[str]:
    """The globals named by the pickle inside a torch zip file, found by parsing its opcodes
    (nothing is executed or imported)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise PublishedFileError(
                    f"{path}: expected a torch.save zip file with one data.pkl, found "
                    f"{len(pickles)}")
            data = archive.read(pickles[0])
    except zipfile.BadZipFile as error:
        raise PublishedFileError(
            f"{path}: not a torch.save zip file ({error}); expected one of the published "
            "checkpoints") from None
    found = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.add(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL":  # protocol 4+; torch.save writes protocol 2
                found.add("<a STACK_GLOBAL opcode (pickle protocol 4), not torch.save's format>")
    except Exception as error:  # pickletools raises ValueError and others on damaged data
        raise PublishedFileError(f"{path}: unreadable pickle ({error})") from None
    return found


def load_authors_net(path: Path | str) -> AuthorsNet:
    """The authors' network from one checkpoint file, read safely and checked for shape."""
    path = Path(path)
    if not path.is_file():
        raise PublishedFileError(f"{path}: no such file (expected a published checkpoint)")
    unknown = pickle_globals(path) - ALLOWED_GLOBALS
    if unknown:
        raise PublishedFileError(
            f"{path}: refusing to load: the pickle names globals outside the published "
            f"checkpoints' allow-list: {', '.join(sorted(unknown))} (allowed: "
            f"{', '.join(sorted(ALLOWED_GLOBALS))})")
    allowed = [(AuthorsNet, "models.Net"), nn.Linear, nn.Softplus, OrderedDict, set]
    try:
        with torch.serialization.safe_globals(allowed):
            net = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise PublishedFileError(
            f"{path}: torch's weights-only loader refused it ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})") from None
    check_network(net, path)
    return net


def check_network(net, path) -> None:
    """Exactly the paper's network: Linear 3->80, 80->80, 80->80, 80->1, Softplus(beta=100)."""
    expected = ("expected the paper's network: input Linear(3, 80), hidden1 and hidden2 "
                "Linear(80, 80), output Linear(80, 1), activation Softplus(beta=100)")
    if not isinstance(net, AuthorsNet):
        raise PublishedFileError(f"{path}: holds a {type(net).__name__}, not a "
                                       f"models.Net; {expected}")
    modules = dict(net.named_children())
    if set(modules) != {*LAYER_SHAPES, "activation"}:
        raise PublishedFileError(
            f"{path}: has submodules {sorted(modules)}; {expected}")
    for name, shape in LAYER_SHAPES.items():
        layer = modules[name]
        if (not isinstance(layer, nn.Linear) or tuple(layer.weight.shape) != shape
                or layer.bias is None or tuple(layer.bias.shape) != shape[:1]):
            found = (tuple(layer.weight.shape) if isinstance(layer, nn.Linear)
                     else type(layer).__name__)
            raise PublishedFileError(
                f"{path}: layer {name} is {found} (weight shape (out, in)), expected "
                f"Linear with weight {shape}; {expected}")
    activation = modules["activation"]
    if (not isinstance(activation, nn.Softplus) or float(activation.beta) != BETA
            or float(activation.threshold) != 20.0):
        raise PublishedFileError(f"{path}: activation is {activation!r}; {expected}")
    for name, tensor in net.state_dict().items():
        if tensor.dtype != torch.float32 or not torch.isfinite(tensor).all():
            raise PublishedFileError(
                f"{path}: parameter {name} is not finite float32; {expected}")


def to_potential_mlp_state(net: AuthorsNet) -> dict[str, torch.Tensor]:
    """Their weights as the state dict of our PotentialMLP (3 x 80, Softplus beta 100, no
    baseline). Both networks read the row [t, x1, x2], time first, so the first layer's columns
    carry over unchanged; their layers map to our Sequential's Linear slots 0, 2, 4, 6."""
    state = {}
    for slot, name in zip((0, 2, 4, 6), LAYER_SHAPES, strict=True):
        layer = getattr(net, name)
        state[f"network.{slot}.weight"] = layer.weight.detach().clone().contiguous()
        state[f"network.{slot}.bias"] = layer.bias.detach().clone().contiguous()
    return state
