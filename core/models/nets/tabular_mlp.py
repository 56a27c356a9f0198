"""Tabular neural net: embeddings for categories + an MLP; artifact = safetensors + JSON config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.evaluate import stratified_split
from core.models.encoding import category_maps, to_array
from core.models.protocol import Hyperparameters
from core.models.training import fit_module

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "tabular_mlp.json"
CHUNK = 65536  # rows per forward pass when scoring: bounds memory on million-row batches
# One intra-op thread: a 32-wide MLP has nothing to split, and with a second busy process on
# 2 cores torch's two threads took 57 ms a step at batch 4,096 against 9 ms on one.
THREADS = 1


class TabularNet(nn.Module):
    """Embeds each category code (0 = unknown or missing), adds scaled numbers, MLP -> logit."""

    def __init__(self, cardinalities: list[int], n_numeric: int, hidden: list[int],
                 dropout: float) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(card + 1, min(8, (card + 2) // 2)) for card in cardinalities
        )
        # Where each feature's codes start in one multi-hot row (not saved: it follows from
        # the cardinalities, and artifacts written before it existed still load).
        starts = [0, *np.cumsum([card + 1 for card in cardinalities])[:-1].tolist()]
        self.register_buffer("starts", torch.tensor(starts[:len(cardinalities)],
                                                    dtype=torch.int64), persistent=False)
        self.width_in = sum(card + 1 for card in cardinalities)
        width = sum(e.embedding_dim for e in self.embeddings) + n_numeric
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.head = nn.Sequential(*layers, nn.Linear(width, 1))
        # Mean embedding per categorical feature on the training rows: the "typical applicant"
        # that contributions are measured against (set after training, saved with the weights).
        self.register_buffer(
            "baselines", torch.zeros(sum(e.embedding_dim for e in self.embeddings)))

    def embed_all(self, codes: torch.Tensor) -> torch.Tensor:
        """Every feature's embedding side by side: (rows, sum of embedding dims).

        The lookups are one multi-hot row times the block-diagonal of the embedding tables:
        the same numbers as nn.Embedding's lookups, but its backward (a sort and scatter per
        table) was half a step's time on CPU (4.6 ms against 1.7 ms at 4,096 rows, 13 tables).
        """
        if not len(self.embeddings):
            return codes.new_zeros((len(codes), 0), dtype=torch.float32)
        hot = torch.zeros(len(codes), self.width_in, device=codes.device)
        hot.scatter_(1, codes + self.starts, 1.0)
        return hot @ torch.block_diag(*[e.weight for e in self.embeddings])

    def embed(self, codes: torch.Tensor) -> list[torch.Tensor]:
        dims = [e.embedding_dim for e in self.embeddings]
        return list(torch.split(self.embed_all(codes), dims, dim=1)) if dims else []

    def forward(self, codes: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.embed_all(codes), numbers], dim=1)).squeeze(1)


class TabularMLP(Hyperparameters):
    """scikit-learn style wrapper: category maps, scaling, Lightning training, contributions.

    Defaults are small and strongly regularised (one layer of 32, dropout, weight decay):
    credit tables have few rows and a bigger net only memorises them. The budget follows the
    data: `batch_size=None` grows the batch with the rows (core.models.training
    .auto_batch_size: 128 up to about 11,000 training rows, doubling to 4,096 from about
    185,000), so an epoch is about 64 steps at any size; `max_steps` / `max_minutes` cap a
    fit (None: only `max_epochs` and early stopping do). Early stopping counts an epoch as
    better only when it lowers the validation loss by `min_delta` (a fraction, 0.1%): on a
    million rows the loss keeps creeping down by ~0.002% an epoch long after AUC settles, which
    kept a fit going to its step cap (52 epochs, AUC 0.784) where 19 epochs reach 0.784.
    """

    format = "tabular_mlp"

    def __init__(
        self, *, hidden: tuple[int, ...] = (32,), dropout: float = 0.3,
        max_epochs: int = 200, batch_size: int | None = None, learning_rate: float = 2e-3,
        weight_decay: float = 1e-2, patience: int = 15, valid_fraction: float = 0.2,
        max_steps: int | None = None, max_minutes: float | None = None,
        min_delta: float = 1e-3, seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.max_steps = max_steps
        self.max_minutes = max_minutes
        self.min_delta = min_delta
        self.seed = seed

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, *,
        X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
    ) -> Self:
        y = np.asarray(y, dtype=float)
        self.features_ = list(X.columns)
        self.categories_ = category_maps(X)
        A = self.to_array(X)
        numeric = A[:, self._numeric_index()]
        self.mean_ = np.nanmean(numeric, axis=0).tolist() if numeric.size else []
        self.std_ = (np.nanstd(numeric, axis=0) + 1e-9).tolist() if numeric.size else []
        if X_valid is None:
            fit_rows, valid_rows = stratified_split(
                y, (1 - self.valid_fraction, self.valid_fraction), self.seed)
            A_valid, y_valid = A[valid_rows], y[valid_rows]
            A, y = A[fit_rows], y[fit_rows]
        else:
            A_valid, y_valid = self.to_array(X_valid), np.asarray(y_valid, dtype=float)
        torch.manual_seed(self.seed)
        self.net_ = TabularNet(self._cardinalities(), len(self.mean_), list(self.hidden),
                               self.dropout)
        fit_module(
            self.net_, nn.BCEWithLogitsLoss(), (*self._tensors(A), torch.tensor(y).float()),
            (*self._tensors(A_valid), torch.tensor(y_valid).float()),
            max_epochs=self.max_epochs, batch_size=self.batch_size,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            patience=self.patience, seed=self.seed, max_steps=self.max_steps,
            max_minutes=self.max_minutes, threads=THREADS, min_delta=self.min_delta,
        )
        if self._categorical_index():
            with torch.no_grad():  # in chunks: a million rows' multi-hot is ~0.25 GB
                total = sum(self.net_.embed_all(self._tensors(A[start:start + CHUNK])[0])
                            .double().sum(dim=0) for start in range(0, len(A), CHUNK))
                self.net_.baselines.copy_((total / len(A)).float())
        return self

    def _numeric_index(self) -> list[int]:
        return [j for j, f in enumerate(self.features_) if f not in self.categories_]

    def _categorical_index(self) -> list[int]:
        return [j for j, f in enumerate(self.features_) if f in self.categories_]

    def _cardinalities(self) -> list[int]:
        return [len(self.categories_[self.features_[j]]) for j in self._categorical_index()]

    def _tensors(self, A: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        codes = A[:, self._categorical_index()]
        codes = np.where(np.isnan(codes) | (codes < 0), 0, codes + 1).astype(np.int64)
        numbers = (A[:, self._numeric_index()] - np.asarray(self.mean_)) / np.asarray(self.std_)
        numbers = np.nan_to_num(numbers, nan=0.0)  # missing -> the training mean
        return torch.from_numpy(codes), torch.from_numpy(numbers.astype(np.float32))

    def to_array(self, X: pd.DataFrame) -> np.ndarray:
        return to_array(X, self.features_, self.categories_)

    def explain_array(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, log-odds contribution per feature by gradient x (input - baseline)).

        One forward and one backward pass: categorical effects sum over their embedding
        dimensions against the mean training embedding; numbers against the training mean.
        """
        p = np.empty(len(A))
        contributions = np.empty(A.shape)
        cat_index, num_index = self._categorical_index(), self._numeric_index()
        dims = [e.embedding_dim for e in self.net_.embeddings]
        bounds = np.cumsum([0, *dims])
        for start in range(0, len(A), CHUNK):
            codes, numbers = self._tensors(A[start:start + CHUNK])
            with torch.no_grad():
                embedded = self.net_.embed_all(codes)
            embedded.requires_grad_(True)
            numbers.requires_grad_(True)
            z = self.net_.head(torch.cat([embedded, numbers], dim=1)).squeeze(1)
            grad_embedded, grad_numbers = torch.autograd.grad(z.sum(), [embedded, numbers])
            rows = slice(start, start + len(codes))
            p[rows] = torch.sigmoid(z).detach().numpy()
            effect = (grad_embedded * (embedded - self.net_.baselines)).detach().numpy()
            for k, j in enumerate(cat_index):
                contributions[rows, j] = effect[:, bounds[k]:bounds[k + 1]].sum(axis=1)
            contributions[rows, num_index] = (grad_numbers * numbers).detach().numpy()
        return p, contributions

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        A = self.to_array(X)
        p = np.empty(len(A))
        with torch.no_grad():
            for start in range(0, len(A), CHUNK):
                logits = self.net_(*self._tensors(A[start:start + CHUNK]))
                p[start:start + len(logits)] = torch.sigmoid(logits).numpy()
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        _, contrib = self.explain_array(self.to_array(X))
        return pd.DataFrame(contrib, columns=self.features_, index=X.index)

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(Path(directory, WEIGHTS_FILE)))
        config = {"params": {**self.get_params(), "hidden": list(self.hidden)},
                  "features": self.features_, "categories": self.categories_,
                  "mean": self.mean_, "std": self.std_}
        Path(directory, CONFIG_FILE).write_text(json.dumps(config, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        from safetensors.torch import load_file

        config = json.loads(Path(directory, CONFIG_FILE).read_text())
        params = {**config["params"], "hidden": tuple(config["params"]["hidden"])}
        model = cls(**params)
        model.features_ = config["features"]
        model.categories_ = config["categories"]
        model.mean_, model.std_ = config["mean"], config["std"]
        state = load_file(str(Path(directory, WEIGHTS_FILE)))
        model.net_ = TabularNet(model._cardinalities(), len(model.mean_), list(model.hidden),
                                model.dropout)
        model.net_.load_state_dict(state)
        model.net_.eval()
        return model
