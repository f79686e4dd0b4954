"""Inference forms of EasyOCR's convolution stacks for the CPU: batch norm folded, ReLU fused, max pooling as maxima.

On a CPU, a float16 channels-last network spends much of its time outside its convolutions: each batch norm and ReLU
is a pass over the whole activation, and PyTorch's max pooling computes indices nobody needs (on this project's Xeon
a ``(2, 1)`` pooling of a float16 channels-last tensor takes 3x as long as the maxima that replace it).

:func:`fused_for_inference` rewrites every ``nn.Sequential`` of a module: a convolution followed by batch norm gets
the batch norm folded into its weights, a convolution followed by ReLU applies the ReLU inside oneDNN's convolution
(``mkldnn._convolution_pointwise``, the kernel ``torch.compile`` fuses to), and a max pooling whose window equals its
stride becomes elementwise maxima of strided views; an adaptive average pooling to one column becomes a mean. On the
CPU every convolution keeps its weights in oneDNN's blocked layout, one per input shape (see :class:`_FusedConv`).
Layers that match none of these forms are kept as they are, so the network computes the same function, up to float
rounding.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["fused_for_inference"]

# Input shapes a convolution keeps packed weights for by default (see ``_FusedConv``). CRAFT's weights take 83 MB a
# shape in float32, and the benchmark corpus's four sets give it 14 canvas shapes: with 4 kept, a warm pass over them
# packed weights again 2,876 times (2.3 s of 26 s on an AVX2 EPYC) and the peak memory was 2.39 GB; with 16, none
# and 2.8 GB.
SHAPES_KEPT = 16
_PACKED_LOCK = threading.Lock()


def fused_for_inference(module: nn.Module, shapes_kept: int = SHAPES_KEPT) -> nn.Module:
    """An eval-mode copy of ``module`` with its convolution stacks and poolings in their inference form.

    Args:
        module: a float32 network (its batch norms are folded in float32 before any cast).
        shapes_kept: input shapes each convolution keeps packed weights for (see :class:`_FusedConv`).

    Returns:
        the rewritten copy; ``module`` itself is left unchanged.
    """
    fused = copy.deepcopy(module).eval()
    if isinstance(fused, nn.Sequential):
        fused = _fused_sequence(fused)
    else:
        _fuse_children(fused)
    for conv in fused.modules():
        if isinstance(conv, _FusedConv):
            conv.shapes_kept = shapes_kept
    return fused


def _fuse_children(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            setattr(module, name, _fused_sequence(child))
        elif isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size == (None, 1):
            setattr(module, name, _LastDimMean())
        else:
            _fuse_children(child)


def _fused_sequence(sequence: nn.Sequential) -> nn.Sequential:
    layers = list(sequence.children())
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, tuple):
            weight, bias = layer.weight.detach(), layer.bias.detach() if layer.bias is not None else None
            i += 1
            if i < len(layers) and _foldable(layers[i]):
                weight, bias = _folded(weight, bias, layers[i])
                i += 1
            relu = i < len(layers) and isinstance(layers[i], nn.ReLU)
            i += relu
            out.append(_FusedConv(layer, weight, bias, relu))
            continue
        if isinstance(layer, nn.Sequential):
            layer = _fused_sequence(layer)
        elif _plain_pool(layer):
            layer = _StridedMax(*_pair(layer.kernel_size))
        else:
            _fuse_children(layer)
        out.append(layer)
        i += 1
    return nn.Sequential(*out)


def _folded(weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolution weight and bias with the batch norm that follows it applied (inference statistics)."""
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias.detach() - norm.running_mean * scale
    bias = shift if bias is None else bias * scale + shift
    return weight * scale.view(-1, 1, 1, 1), bias


def _foldable(layer: nn.Module) -> bool:
    """A batch norm with affine parameters and running statistics (what inference uses)."""
    return isinstance(layer, nn.BatchNorm2d) and layer.affine and layer.running_var is not None


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _plain_pool(layer: nn.Module) -> bool:
    """A max pooling whose window is its stride, without padding, dilation or ceil mode."""
    return (
        isinstance(layer, nn.MaxPool2d)
        and _pair(layer.kernel_size) == _pair(layer.stride or layer.kernel_size)
        and _pair(layer.padding) == (0, 0)
        and _pair(layer.dilation) == (1, 1)
        and not layer.ceil_mode
        and not layer.return_indices
    )


class _FusedConv(nn.Module):
    """A convolution with its batch norm folded in and, optionally, its ReLU fused into oneDNN's kernel.

    On the CPU, where oneDNN's fused kernel exists, the weights are reordered into oneDNN's blocked layout once, at
    the first call in a dtype, instead of on every call: a network called on small inputs (CRAFT on a 64 x 64 doubt
    check, the recogniser on a few crops) spent most of its time reordering weights (a 512-channel 3 x 3 convolution
    on a 4 x 4 input: 1.2 ms with the reorder, 0.15 ms without).

    The layout oneDNN wants can change with the input's shape. On a Xeon with AVX-512 a 1 x 1 convolution's does
    (CRAFT's 1024-channel one, over 60 shapes in float32: blocks of 48 or 64 output channels); on an AMD EPYC with
    AVX2 and no AVX-512, every convolution's does (blocks of 16, 24 or 32 output channels, by the output's size).
    oneDNN lays weights packed for another shape out again on every call, with its generic reorder: 32 ms for CRAFT's
    1024 x 1024 weights, 56 ms of a 96 x 96 doubt check's 82 on the Xeon; 565 ms of every CRAFT call after the first
    shape on the EPYC, 37 to 152 ms for each 512-channel 3 x 3 convolution. So a convolution keeps its weights packed
    per input shape, for the last ``shapes_kept`` shapes.
    """

    def __init__(self, conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.clone(), requires_grad=False)
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.groups = conv.groups
        self.relu = relu
        self.pointwise = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        self.shapes_kept = SHAPES_KEPT
        self._packed: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pointwise and x.device.type == "cpu" and x.dtype == self.weight.dtype:
            args = (self.padding, self.stride, self.dilation, self.groups, "relu" if self.relu else "none", [], "")
            return torch.ops.mkldnn._convolution_pointwise(x, self._blocked_weight(x), self.bias, *args)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return torch.relu_(y) if self.relu else y

    def _blocked_weight(self, x: torch.Tensor) -> torch.Tensor:
        """The weights in oneDNN's layout for inputs like ``x`` (reordered at the first call in each dtype and input
        shape)."""
        key = (x.dtype, tuple(x.shape))
        with _PACKED_LOCK:  # transforms may run in threads (MONAI's ThreadDataLoader) over one network
            packed = self._packed.get(key)
            if packed is not None:
                self._packed.move_to_end(key)
                return packed
        weight = self.weight.detach()
        # Without the reorder (a build that lacks it), oneDNN reorders the plain weights on each call.
        with contextlib.suppress(RuntimeError, AttributeError):
            weight = torch._C._nn.mkldnn_reorder_conv2d_weight(
                weight.to_mkldnn(), self.padding, self.stride, self.dilation, self.groups, list(x.shape)
            )
        with _PACKED_LOCK:
            self._packed[key] = weight
            if len(self._packed) > self.shapes_kept:
                self._packed.popitem(last=False)
        return weight

    def __getstate__(self) -> dict:
        # oneDNN's blocked tensors neither pickle nor deep-copy; they are rebuilt at the first call.
        return {**self.__dict__, "_packed": OrderedDict()}


class _StridedMax(nn.Module):
    """Max pooling with window = stride as elementwise maxima of strided views (no indices computed)."""

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__()
        self.rows, self.columns = rows, columns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[-2] // self.rows * self.rows
        width = x.shape[-1] // self.columns * self.columns
        rows, columns = range(self.rows), range(self.columns)
        views = [x[..., r : height : self.rows, c : width : self.columns] for r in rows for c in columns]
        out = torch.maximum(views[0], views[1]) if len(views) > 1 else views[0].clone()
        for view in views[2:]:
            torch.maximum(out, view, out=out)
        return out


class _LastDimMean(nn.Module):
    """``nn.AdaptiveAvgPool2d((None, 1))`` as a mean over the last dimension (the recogniser pools a permuted,
    non-contiguous tensor, which the adaptive pooling kernel reads slowly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1, keepdim=True)
