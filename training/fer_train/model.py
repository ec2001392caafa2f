"""The edge expression network: a compact VGG-style CNN for 48x48 grayscale faces.

Only layers that the agent's engines all run fast and that the TF.js exporter maps one-to-one:
Conv3x3(same) + BatchNorm + ReLU, MaxPool2x2, global average pooling, Dropout, Linear.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def as_input(faces: torch.Tensor) -> torch.Tensor:
    """The one conversion from stored faces to the net's input: (N, H, W) uint8 -> (N, 1, H, W) float in [0, 1].
    Normalisation by the training mean/std comes after (augmentation works on the [0, 1] image)."""
    return faces.unsqueeze(1).float().div_(255.0)


@dataclass
class NetConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 2
    num_classes: int = 7
    in_channels: int = 1
    dropout: float = 0.3


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ExpressionNet(nn.Module):
    def __init__(self, cfg: NetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or NetConfig()
        layers: list[nn.Module] = []
        cin = cfg.in_channels
        for w in cfg.widths:
            for _ in range(cfg.convs_per_stage):
                layers.append(ConvBNReLU(cin, w))
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cin, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for (N, C, 48, 48) normalised input."""
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
