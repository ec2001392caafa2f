"""Inference form of ExpressionNet: BatchNorm folded into the preceding convolutions, softmax optionally appended.

Folding removes BN from the graph so every engine (onnxruntime, TF.js, and the TF.js exporter here, which maps
layers one-to-one) only sees Conv(+bias), ReLU, MaxPool, global average pooling and a Linear layer.
"""
from __future__ import annotations

from typing import cast

import torch
from torch import nn

from .model import ExpressionNet


def _conv_like(conv: nn.Conv2d) -> nn.Conv2d:
    """A Conv2d with `conv`'s geometry and a bias (2-D: torch stores the sizes as tuples of two)."""
    pair = lambda v: cast(tuple[int, int], tuple(v))  # noqa: E731
    padding = conv.padding if isinstance(conv.padding, str) else pair(conv.padding)
    return nn.Conv2d(conv.in_channels, conv.out_channels, pair(conv.kernel_size), stride=pair(conv.stride), padding=padding,
                     dilation=pair(conv.dilation), groups=conv.groups, bias=True, padding_mode=conv.padding_mode)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        raise ValueError("expected a convolution with a bias")
    return conv.bias


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A Conv2d with bias computing conv followed by bn (in eval mode, i.e. with the running statistics).

    bn(conv(x)) = gamma * (W*x + b - mu) / sqrt(var + eps) + beta, so with s = gamma / sqrt(var + eps):
    W' = W * s (per output channel) and b' = (b - mu) * s + beta. Computed in float64, stored as float32.
    """
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics")
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(b)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(b)
    s = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    fused = _conv_like(conv)
    with torch.no_grad():
        fused.weight.copy_((w * s.view(-1, 1, 1, 1)).float())
        _bias(fused).copy_(((b - bn.running_mean.detach().double()) * s + beta).float())
    return fused


def _leaves(module: nn.Module) -> list[nn.Module]:
    kids = list(module.children())
    if not kids:
        return [module]
    out: list[nn.Module] = []
    for k in kids:
        out.extend(_leaves(k))
    return out


class InferenceNet(nn.Module):
    """features (Conv+bias, ReLU, MaxPool only) -> global average pool -> Linear -> softmax (when probabilities)."""

    def __init__(self, features: nn.Sequential, classifier: nn.Linear, in_channels: int, probabilities: bool) -> None:
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier
        self.in_channels = in_channels
        self.probabilities = probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.features(x)), 1)
        x = self.classifier(x)
        return torch.softmax(x, dim=1) if self.probabilities else x


def fold_model(model: ExpressionNet, probabilities: bool = True) -> InferenceNet:
    """Eval-mode float32 copy of `model` with every Conv2d+BatchNorm2d pair fused; dropout disappears (eval)."""
    layers: list[nn.Module] = []
    leaves = _leaves(model.features)
    i = 0
    while i < len(leaves):
        m = leaves[i]
        if isinstance(m, nn.Conv2d):
            nxt = leaves[i + 1] if i + 1 < len(leaves) else None
            if isinstance(nxt, nn.BatchNorm2d):
                layers.append(fold_conv_bn(m, nxt))
                i += 2
                continue
            c = _conv_like(m)
            with torch.no_grad():
                c.weight.copy_(m.weight.detach().float())
                _bias(c).copy_(m.bias.detach().float() if m.bias is not None else torch.zeros(m.out_channels))
            layers.append(c)
        elif isinstance(m, nn.ReLU):
            layers.append(nn.ReLU())
        elif isinstance(m, nn.MaxPool2d):
            layers.append(nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode))
        else:
            raise ValueError(f"fold_model: unsupported layer {type(m).__name__} in features")
        i += 1
    lin = model.classifier
    classifier = nn.Linear(lin.in_features, lin.out_features)
    with torch.no_grad():
        classifier.weight.copy_(lin.weight.detach().float())
        classifier.bias.copy_(lin.bias.detach().float())
    net = InferenceNet(nn.Sequential(*layers), classifier, model.cfg.in_channels, probabilities)
    return net.float().eval()
