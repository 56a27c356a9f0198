"""The one Lightning training helper for torch nets: auto device, seeded, early stopping, quiet."""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.device import cpu_threads, precision, seed_everything

if TYPE_CHECKING:
    import torch
    from torch import nn

SCHEDULES = ("constant", "one_cycle")  # learning-rate schedules fit_module knows
# Lightning's banners ("GPU available: False", tips about workers) are noise in pipelines.
_QUIET_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")


def fit_module(
    module: nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train: tuple[torch.Tensor, ...],
    valid: tuple[torch.Tensor, ...],
    *,
    max_epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 10,
    seed: int = 0,
    schedule: str = "constant",
) -> nn.Module:
    """Train `module` with AdamW and return it holding the weights of the best validation epoch.

    `train`/`valid` are tensors whose last element is the target; the others are passed to
    `module(*inputs)`. Early stopping watches the validation loss. Mixed precision only on
    CUDA; deterministic algorithms on CPU; no checkpoints or logs are written to the cwd.
    `schedule`: "constant" learning rate, or "one_cycle" (warm up to `learning_rate`, then
    anneal to ~0 over `max_epochs`: converges in far fewer epochs on small nets).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} is not one of {SCHEDULES}")
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    seed_everything(seed)
    torch.manual_seed(seed)
    task = _lightning_task_class()(module, loss, learning_rate, weight_decay, schedule)
    loader = DataLoader(
        TensorDataset(*train), batch_size=batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    valid_loader = DataLoader(TensorDataset(*valid), batch_size=max(len(valid[0]), 1))
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Threads: torch's choice unless VERTICALS_TORCH_THREADS says otherwise (convolutions
    # on images do use the cores; see core.device.cpu_threads).
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings(), cpu_threads(None):
        # Tiny tabular loaders trip Lightning's "few workers" and "small batch" advice.
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # torch 2.13 deprecates an API lightning 2.6 still calls on every batch.
        warnings.filterwarnings("ignore", message=".*treespec.*", category=FutureWarning)
        trainer = pl.Trainer(
            accelerator="auto", devices=1, precision=precision(), max_epochs=max_epochs,
            callbacks=[pl.callbacks.EarlyStopping("val_loss", patience=patience, mode="min")],
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, deterministic=True, default_root_dir=root,
            num_sanity_val_steps=0,
        )
        trainer.fit(task, loader, valid_loader)
    module.load_state_dict(task.best_state)
    module.epochs_ = trainer.current_epoch  # for reporting; plain attribute, not saved
    return module.cpu().eval()


def _lightning_task_class() -> type:  # built lazily: importing this module never imports torch
    import lightning.pytorch as pl
    import torch

    class _LightningTask(pl.LightningModule):
        def __init__(self, module, loss, learning_rate, weight_decay, schedule="constant"):
            super().__init__()
            self.module = module
            self.loss = loss
            self.learning_rate = learning_rate
            self.weight_decay = weight_decay
            self.schedule = schedule
            self.best_loss = float("inf")
            self.best_state = copy.deepcopy(module.state_dict())

        def training_step(self, batch, _):
            *inputs, target = batch
            return self.loss(self.module(*inputs), target)

        def validation_step(self, batch, _):
            *inputs, target = batch
            value = self.loss(self.module(*inputs), target)
            self.log("val_loss", value, prog_bar=False)
            return value

        def on_validation_epoch_end(self):
            value = float(self.trainer.callback_metrics["val_loss"])
            if value < self.best_loss:  # keep the best epoch, not the last one
                self.best_loss = value
                self.best_state = {k: v.detach().cpu().clone()
                                   for k, v in self.module.state_dict().items()}

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.parameters(), lr=self.learning_rate,
                                          weight_decay=self.weight_decay)
            if self.schedule == "constant":
                return optimizer
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.learning_rate,
                total_steps=max(int(self.trainer.estimated_stepping_batches), 1))
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return _LightningTask

