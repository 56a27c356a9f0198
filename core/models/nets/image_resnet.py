"""Image CNN: a MONAI ResNet for 28-224 px, in-module augmentation, TTA, seed ensemble, Grad-CAM."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Self

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import progress
from core.evaluate import stratified_split
from core.models.net_weights import load_nets, save_nets
from core.models.protocol import Hyperparameters
from core.models.training import fit_module

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "image_resnet.json"
CHUNK = 512  # images per forward pass when scoring
# The last residual stage: coarse enough to localise, deep enough to mean something.
GRADCAM_LAYER = "net.layer4"


class Augment(nn.Module):
    """Random flips, small affine moves and contrast jitter per batch, in training mode only.

    Living inside the module keeps the one Lightning helper unchanged (it feeds plain tensors)
    and runs the augmentation on whatever device trains the net.
    """

    def __init__(self, rotate_deg: float = 12.0, scale: float = 0.1, shift: float = 0.08,
                 contrast: float = 0.15, hflip: bool = True) -> None:
        super().__init__()
        self.rotate = math.radians(rotate_deg)
        self.scale, self.shift, self.contrast, self.hflip = scale, shift, contrast, hflip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n = x.shape[0]
        angle = (torch.rand(n, device=x.device) * 2 - 1) * self.rotate
        zoom = 1 + (torch.rand(n, device=x.device) * 2 - 1) * self.scale
        flip = torch.where(torch.rand(n, device=x.device) < 0.5, -1.0, 1.0) if self.hflip \
            else torch.ones(n, device=x.device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([
            torch.stack([cos * flip, -sin, (torch.rand(n, device=x.device) * 2 - 1) * self.shift],
                        dim=1),
            torch.stack([sin * flip, cos, (torch.rand(n, device=x.device) * 2 - 1) * self.shift],
                        dim=1),
        ], dim=1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        gain = 1 + (torch.rand(n, 1, 1, 1, device=x.device) * 2 - 1) * self.contrast
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * gain + mean).clamp(0, 1)


class AugmentedResNet(nn.Module):
    """Augment (training only) -> normalise -> MONAI ResNet -> class logits."""

    def __init__(self, in_channels: int, n_classes: int, size: int, width: int,
                 layers: tuple[int, ...], augment: bool) -> None:
        super().__init__()
        from monai.networks.nets import ResNet

        small = size <= 64
        self.augment = Augment() if augment else nn.Identity()
        # Small inputs keep full resolution in the stem (no stride, no max-pool): a 28 px image
        # would otherwise be 7 px before the first residual block.
        self.net = ResNet(block="basic", layers=list(layers),
                          block_inplanes=[width, 2 * width, 4 * width, 8 * width], spatial_dims=2,
                          n_input_channels=in_channels, num_classes=n_classes,
                          conv1_t_size=3 if small else 7, conv1_t_stride=1 if small else 2,
                          no_max_pool=small)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((self.augment(x) - 0.5) / 0.25)


class ImageCNN(Hyperparameters):
    """scikit-learn style wrapper: X is float32 (N, C, H, W) in [0, 1], y holds class indices.

    Budget, as the tabular net's (core.models.training.fit_module): `batch_size=None` grows the
    batch with the images (auto_batch_size: 128 up to ~11,000 training images, then rows / 64
    up to 4,096 - meant for small images; give a number for large ones), `max_steps` caps each
    member net's optimiser steps, `max_minutes` the whole fit's training time (shared evenly
    by the `ensemble` members); None leaves `max_epochs` and early stopping to end it.
    """

    format = "image_resnet"

    def __init__(
        self, *, width: int = 16, layers: tuple[int, ...] = (1, 1, 1, 1), augment: bool = True,
        tta: bool = True, ensemble: int = 1, max_epochs: int = 60, batch_size: int | None = 64,
        learning_rate: float = 2e-3, weight_decay: float = 1e-4, patience: int = 12,
        valid_fraction: float = 0.15, max_steps: int | None = None,
        max_minutes: float | None = None, seed: int = 0,
    ) -> None:
        self.width = width
        self.layers = layers
        self.augment = augment
        self.tta = tta
        self.ensemble = ensemble
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.max_steps = max_steps
        self.max_minutes = max_minutes
        self.seed = seed

    def _build(self) -> AugmentedResNet:
        return AugmentedResNet(self.in_channels_, self.n_classes_, self.size_, self.width,
                               tuple(self.layers), self.augment)

    def fit(self, X: np.ndarray, y: np.ndarray, *, X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None) -> Self:
        y = np.asarray(y, dtype=np.int64)
        if X_valid is None or y_valid is None:
            fit_rows, valid_rows = stratified_split(
                y, (1 - self.valid_fraction, self.valid_fraction), self.seed)
            X, X_valid, y, y_valid = X[fit_rows], X[valid_rows], y[fit_rows], y[valid_rows]
        y_valid = np.asarray(y_valid, dtype=np.int64)
        self.in_channels_, self.size_ = int(X.shape[1]), int(X.shape[-1])
        self.n_classes_ = int(max(y.max(), y_valid.max()) + 1)
        train = (torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(y))
        valid = (torch.from_numpy(np.ascontiguousarray(X_valid, dtype=np.float32)),
                 torch.from_numpy(y_valid))
        # A seed ensemble: on a few hundred images one net's ranking is noisy; the mean of a
        # few nets started differently is steadier (and its Grad-CAM too).
        self.nets_, self.epochs_ = [], []
        members = max(self.ensemble, 1)
        minutes = None if self.max_minutes is None else self.max_minutes / members
        for member in range(members):
            if members > 1:  # or a long run's epoch count would seem to start over
                progress.update(net=f"{member + 1}/{members}")
            torch.manual_seed(self.seed + member)
            net = self._build()
            fit_module(net, nn.CrossEntropyLoss(), train, valid, max_epochs=self.max_epochs,
                       batch_size=self.batch_size, learning_rate=self.learning_rate,
                       weight_decay=self.weight_decay, patience=self.patience,
                       seed=self.seed + member, max_steps=self.max_steps,
                       max_minutes=minutes)
            self.nets_.append(net)
            self.epochs_.append(int(getattr(net, "epochs_", 0)))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, K); with `tta` the mean over the image and its mirror."""
        out = np.zeros((len(X), self.n_classes_))
        with torch.no_grad():
            for net in self.nets_:
                net.eval()
                for start in range(0, len(X), CHUNK):
                    x = torch.from_numpy(np.ascontiguousarray(X[start:start + CHUNK], np.float32))
                    p = torch.softmax(net(x), dim=1)
                    if self.tta:
                        p = (p + torch.softmax(net(torch.flip(x, dims=[3])), dim=1)) / 2
                    out[start:start + len(x)] += p.numpy()
        return out / len(self.nets_)

    def heatmap(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Grad-CAM (MONAI) of one image (C, H, W) for a class: (H, W) in [0, 1]."""
        from monai.visualize import GradCAM

        tensor = torch.from_numpy(np.ascontiguousarray(x[None], np.float32))
        maps = []
        for net in self.nets_:
            net.eval()
            cam = GradCAM(nn_module=net, target_layers=GRADCAM_LAYER)
            maps.append(cam(x=tensor, class_idx=int(class_index))[0, 0].detach().numpy())
        heat = np.nan_to_num(np.mean(maps, axis=0).astype(np.float64))
        return heat / heat.max() if heat.max() > 0 else heat

    def save(self, directory: Path) -> None:
        save_nets(self.nets_, Path(directory, WEIGHTS_FILE))
        config = {"params": {**self.get_params(), "layers": list(self.layers)},
                  "in_channels": self.in_channels_, "n_classes": self.n_classes_,
                  "size": self.size_, "members": len(self.nets_)}
        Path(directory, CONFIG_FILE).write_text(json.dumps(config, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        config = json.loads(Path(directory, CONFIG_FILE).read_text())
        model = cls(**{**config["params"], "layers": tuple(config["params"]["layers"])})
        model.in_channels_, model.n_classes_ = config["in_channels"], config["n_classes"]
        model.size_ = config["size"]
        model.nets_ = load_nets(model._build, Path(directory, WEIGHTS_FILE), config["members"])
        return model
