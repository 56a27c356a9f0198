"""The one Lightning training helper for torch nets: auto device, seeded, budgeted, quiet."""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from core import progress
from core.device import cpu_threads, device, precision, seed_everything

if TYPE_CHECKING:
    import torch
    from torch import nn

SCHEDULES = ("constant", "one_cycle")  # learning-rate schedules fit_module knows
# Automatic batch size: about ROWS_PER_BATCH rows per step's worth of data, i.e. an epoch is
# about 64 steps whatever the table's size, as a power of two within MIN_BATCH..MAX_BATCH.
ROWS_PER_BATCH, MIN_BATCH, MAX_BATCH = 64, 128, 4096
GPU_MEMORY_PER_MAX_BATCH = 16 * 2**30  # on CUDA the ceiling grows by MAX_BATCH per 16 GiB
VALID_CHUNK = 65536  # validation rows per forward pass: one pass for all but huge tables
# Lightning's banners ("GPU available: False", tips about workers) are noise in pipelines.
_QUIET_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")


def auto_batch_size(rows: int, memory_bytes: int | None = None) -> int:
    """The batch size for `rows` training rows: rows / 64 rounded to a power of two, clamped
    to 128..4096; `memory_bytes` (a GPU's) raises the ceiling by 4096 per 16 GiB.

    Why: a fixed batch of 128 chosen for 1,000 rows means 8,000 optimiser steps per epoch on
    a million rows; steps, not rows, are what a small net's fit costs.
    """
    ceiling = MAX_BATCH
    if memory_bytes is not None:
        ceiling = MAX_BATCH * max(1, memory_bytes // GPU_MEMORY_PER_MAX_BATCH)
    wanted = 2 ** round(math.log2(max(rows, 1) / ROWS_PER_BATCH)) if rows > 0 else MIN_BATCH
    return int(min(max(wanted, MIN_BATCH), ceiling))


def fit_module(
    module: nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train: tuple[torch.Tensor, ...],
    valid: tuple[torch.Tensor, ...],
    *,
    max_epochs: int = 100,
    batch_size: int | None = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 10,
    seed: int = 0,
    schedule: str = "constant",
    max_minutes: float | None = None,
    max_steps: int | None = None,
    threads: int | None = None,
    min_delta: float = 0.0,
) -> nn.Module:
    """Train `module` with AdamW and return it holding the weights of the best validation epoch.

    `train`/`valid` are tensors whose last element is the target; the others are passed to
    `module(*inputs)`. Early stopping watches the validation loss. Mixed precision only on
    CUDA; deterministic algorithms on CPU; no checkpoints or logs are written to the cwd.
    `schedule`: "constant" learning rate, or "one_cycle" (warm up to `learning_rate`, then
    anneal to ~0 over `max_epochs`, or `max_steps` when set: converges in far fewer epochs on
    small nets). Budget: `batch_size=None` picks `auto_batch_size` for the rows (and the GPU's
    memory); training stops at the first of `max_epochs`, `max_steps` optimiser steps,
    `max_minutes` of wall time (which makes the result depend on the machine's speed) and
    `patience` epochs without a better validation loss; an epoch counts as better only when
    it lowers the loss of the last one that did by more than the fraction `min_delta` (0: any
    lower loss; the weights kept are the lowest-loss epoch's either way). `threads`: torch's
    intra-op CPU threads (None: torch's choice; $VERTICALS_TORCH_THREADS overrides either).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} is not one of {SCHEDULES}")
    if max_minutes is not None and max_minutes <= 0:
        raise ValueError(f"max_minutes={max_minutes!r} must be positive (or None: no limit)")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r} must be at least 1 (or None: no limit)")
    if not 0 <= min_delta < 1:
        raise ValueError(f"min_delta={min_delta!r} must be a fraction in [0, 1)")
    import lightning.pytorch as pl
    import torch

    seed_everything(seed)
    torch.manual_seed(seed)
    where = device()
    if batch_size is None:
        memory = torch.cuda.get_device_properties(0).total_memory if where == "cuda" else None
        batch_size = auto_batch_size(len(train[0]), memory)
    task = _lightning_task_class()(module, loss, learning_rate, weight_decay, schedule, patience,
                                   min_delta)
    resident = _resident(train, where), _resident(valid, where)
    loader = Batches(resident[0], batch_size, torch.Generator().manual_seed(seed))
    valid_loader = Batches(resident[1], max(min(len(valid[0]), VALID_CHUNK), 1), None)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Threads: the caller's (None: torch's) unless VERTICALS_TORCH_THREADS says otherwise;
    # convolutions on images use the cores, small MLPs only spin on them (core.device).
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings(), \
            cpu_threads(threads):
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        # torch 2.13 deprecates an API lightning 2.6 still calls on every batch.
        warnings.filterwarnings("ignore", message=".*treespec.*", category=FutureWarning)
        # barebones: no logger, progress bar, summary, checkpoints or per-step hooks for them;
        # early stopping and the best epoch are the task's own (it cannot self.log here).
        trainer = pl.Trainer(
            accelerator="auto", devices=1, precision=precision(), max_epochs=max_epochs,
            max_steps=-1 if max_steps is None else max_steps,
            max_time=None if max_minutes is None else timedelta(minutes=max_minutes),
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, deterministic=True, default_root_dir=root,
            num_sanity_val_steps=0, barebones=True,
        )
        trainer.fit(task, loader, valid_loader)
    module.load_state_dict(task.best_state)
    module.epochs_ = trainer.current_epoch  # for reporting; plain attribute, not saved
    return module.cpu().eval()


class Batches:
    """Mini-batches sliced from tensors already on the training device: no DataLoader, no
    workers, no per-row collate. Shuffled by an index permutation when given a generator.

    The random draws are the ones DataLoader(TensorDataset, shuffle=True, generator=g) makes
    (per epoch a base seed, the permutation and, when the last batch is partial, one more;
    without a generator one draw from torch's global generator), so fits made before this
    class existed repeat bit for bit.
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int,
                 generator: torch.Generator | None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be at least 1")
        self.tensors = tensors
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        import torch

        rows, size = len(self.tensors[0]), self.batch_size
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the base seed
        if self.generator is None:
            for start in range(0, rows, size):
                yield tuple(t[start:start + size] for t in self.tensors)
            return
        order = torch.randperm(rows, generator=self.generator).to(self.tensors[0].device)
        if rows % size:  # RandomSampler's draw for its empty remainder: the DataLoader made
            # it filling the last, partial batch (Lightning stops at len(), never asking for
            # one batch more, so with no partial batch it never happened).
            torch.randperm(rows, generator=self.generator)
        for start in range(0, rows, size):
            index = order[start:start + size]
            # index_select: the same rows as t[index] at a third of its time on CPU (0.07 ms
            # against 0.22 ms for 4,096 rows of 13 codes), which was a tenth of a small step.
            yield tuple(t.index_select(0, index) for t in self.tensors)


def _resident(tensors: tuple[torch.Tensor, ...], where: str) -> tuple[torch.Tensor, ...]:
    """The tensors on the training device when they fit in half its free memory (else left on
    the CPU: Lightning then moves each batch)."""
    if where != "cuda":
        return tensors  # CPU, and MPS whose unified memory gains nothing from a copy
    import torch

    free, _ = torch.cuda.mem_get_info()
    if sum(t.numel() * t.element_size() for t in tensors) > free // 2:
        return tensors
    return tuple(t.to(where) for t in tensors)


def _lightning_task_class() -> type:  # built lazily: importing this module never imports torch
    import lightning.pytorch as pl
    import torch

    class _LightningTask(pl.LightningModule):
        def __init__(self, module, loss, learning_rate, weight_decay, schedule="constant",
                     patience=10, min_delta=0.0):
            super().__init__()
            self.module = module
            self.loss = loss
            self.learning_rate = learning_rate
            self.weight_decay = weight_decay
            self.schedule = schedule
            self.patience = patience
            self.min_delta = min_delta
            self.best_loss = float("inf")
            self.mark = float("inf")  # the loss of the last epoch that counted as better
            self.bad_epochs = 0
            self.best_state = copy.deepcopy(module.state_dict())
            self.valid_sum, self.valid_rows = 0.0, 0
            self.automatic_optimization = False

        def training_step(self, batch, _):
            # Manual optimisation: Lightning's automatic closure and the hooks around it cost
            # about a small net's whole step (the credit net: 1.7-1.8x a bare torch loop's
            # time with them, 1.2-1.3x without).
            *inputs, target = batch
            optimizer = self.optimizers()
            optimizer.zero_grad()
            value = self.loss(self.module(*inputs), target)
            self.manual_backward(value)  # through the precision plugin (the scaler on CUDA)
            optimizer.step()
            if self.schedule != "constant":
                self.lr_schedulers().step()

        def on_validation_epoch_start(self):
            self.valid_sum, self.valid_rows = 0.0, 0

        def validation_step(self, batch, _):
            *inputs, target = batch
            value = self.loss(self.module(*inputs), target)
            self.valid_sum += float(value) * len(target)  # mean over rows, as logging did
            self.valid_rows += len(target)
            return value

        def on_validation_epoch_end(self):
            progress.update(epoch=f"{self.current_epoch + 1}/{self.trainer.max_epochs}")
            value = self.valid_sum / max(self.valid_rows, 1)
            if not math.isfinite(value):  # a diverged net: stop, keep the best epoch so far
                self.trainer.should_stop = True
                return
            if value < self.best_loss:  # keep the best epoch, not the last one
                self.best_loss = value
                self.best_state = {k: v.detach().cpu().clone()
                                   for k, v in self.module.state_dict().items()}
            # Patience: on a million credit rows the loss crept down ~1e-5 an epoch for 50
            # epochs after AUC had settled, each creep resetting it; gains under min_delta do not.
            threshold = (self.mark - self.min_delta * abs(self.mark)
                         if math.isfinite(self.mark) else math.inf)
            if value < threshold:
                self.mark, self.bad_epochs = value, 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs >= self.patience:
                    self.trainer.should_stop = True

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
