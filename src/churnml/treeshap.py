"""Exact path-dependent TreeSHAP for LightGBM, vectorised over accounts with per-leaf tables.

Algorithm: the values are those of path-dependent TreeSHAP (Lundberg, Erion & Lee, "Consistent
individualized feature attribution for tree ensembles", arXiv:1802.03888, 2018, Algorithm 2;
Lundberg et al., "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2, 56-67, 2020, where it is named "path-dependent"): a
feature left out of a coalition follows both children of a split, weighted by the training
cover. ``shap.TreeExplainer`` and LightGBM's ``pred_contrib`` compute the same values.

Why: LightGBM's ``pred_contrib`` (which ``shap.TreeExplainer`` calls for LightGBM) walks every
tree path for every row, O(leaves x depth^2) per row and tree. For the shallow trees churnml
trains, the same exact values come cheaper: a leaf's part of the SHAP values depends on the row
only through which of the leaf's path features the row "agrees with" (a bitmask over at most
``depth`` features). Each leaf's Shapley values are precomputed for every bitmask once per model
(2^d x d numbers, cached per model), and scoring becomes comparisons, bit operations and table
look-ups on whole columns. The tables of deep trees grow as 2^d: a model whose tables would
exceed ``MAX_TABLE_BYTES`` in total is refused with one error instead of exhausting memory. The result equals ``pred_contrib`` (tested to 1e-9) including missing values and
categorical splits.

The game of one leaf l with value v, unique path features P, cover fractions z_j (child count /
parent count, multiplied over repeated splits on j) and agreement o_j(x) in {0, 1} is
g(S) = v * prod_{j in S} o_j * prod_{j in P \\ S} z_j; the tree's SHAP values are the sum over
leaves of the Shapley values of these games (Shapley values are linear).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from math import factorial

import lightgbm as lgb
import numpy as np
import pandas as pd

ZERO_THRESHOLD = 1e-35
MAX_TABLE_BYTES = 1 << 30  # all leaf tables of one model together (float64 cells)


class TreeShapTooLarge(ValueError):
    """The model's trees are too deep for tabulated TreeSHAP within the memory limit."""


@dataclass
class _Node:
    feature: int
    categorical: bool
    threshold: float
    categories: np.ndarray
    default_left: bool
    missing_type: str


@dataclass
class _Leaf:
    features: np.ndarray  # unique path features (model column indices), order = bit order
    steps: list[tuple[int, bool, int]]  # (node id, went left, bit) along the path
    value: float
    z: np.ndarray  # cover fraction of each path feature, in bit order
    table: np.ndarray | None = None  # (2^d, d) Shapley values for every agreement bitmask


def _leaf_table(value: float, z: np.ndarray) -> np.ndarray:
    """Shapley values of the leaf game for every agreement mask A (rows) and feature (columns).

    With d players, weights w(k) = k! (d-k-1)! / d! and B = A minus {i}, the game
    g(S) = v [S subset of A] prod_{j not in S} z_j gives
    phi_i(A) = v ([i in A] - z_i) prod_{j not in A, j != i} z_j sum_k w(k) e_{|B|-k}(z_B),
    with e_r the elementary symmetric polynomials of the z of B: O(2^d d) time and memory.
    """
    d = len(z)
    if d == 0:
        return np.zeros((1, 0))
    n_masks = 1 << d
    # e_r(z_M) for every mask M, one bit at a time: e(M + j) = e(M) * (1 + z_j x)
    elementary = np.zeros((n_masks, d + 1))
    elementary[0, 0] = 1.0
    outside = np.ones(n_masks)  # prod_{j not in M} z_j
    size = np.zeros(n_masks, dtype=np.int64)
    for j in range(d):
        lo, hi = 1 << j, 1 << (j + 1)
        elementary[lo:hi] = elementary[:lo]
        elementary[lo:hi, 1:] += z[j] * elementary[:lo, :-1]
        size[lo:hi] = size[:lo] + 1
    masks = np.arange(n_masks)
    for j in range(d):
        outside[(masks >> j & 1) == 0] *= z[j]
    w = np.array([factorial(k) * factorial(d - k - 1) / factorial(d) for k in range(d)])
    # weighted[M] = sum_{k=0}^{|M|} w(k) e_{|M|-k}(z_M), for |M| <= d - 1
    weighted = np.zeros(n_masks)
    for k in range(d):
        r = size - k
        ok = (r >= 0) & (size <= d - 1)
        weighted[ok] += w[k] * elementary[np.flatnonzero(ok), r[ok]]
    table = np.empty((n_masks, d))
    for i in range(d):
        bit = 1 << i
        member = (masks & bit) > 0
        table[:, i] = (member - z[i]) * outside[masks | bit] * weighted[masks & ~bit]
    return value * table


def _table_bytes(depths: list[int]) -> int:
    return sum(8 * (1 << d) * max(d, 1) for d in depths)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def explainer(booster: lgb.Booster) -> FastTreeShap:
    """The tables of a booster, built once per model object and kept while it lives."""
    fast = _CACHE.get(booster)
    if fast is None:
        fast = _CACHE[booster] = FastTreeShap(booster)
    return fast


class FastTreeShap:
    """Precomputed TreeSHAP tables of a LightGBM booster (binary or regression, one output)."""

    def __init__(self, booster: lgb.Booster, max_bytes: int = MAX_TABLE_BYTES) -> None:
        dump = booster.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            raise ValueError("FastTreeShap supports single-output models only")
        self.feature_names: list[str] = dump["feature_names"]
        self.pandas_categorical = dump.get("pandas_categorical") or []
        self.trees = [self._compile(info["tree_structure"]) for info in dump["tree_info"]]
        depths = [len(leaf.features) for _, leaves, _ in self.trees for leaf in leaves]
        self.table_bytes = _table_bytes(depths)
        if self.table_bytes > max_bytes:
            raise TreeShapTooLarge(
                f"TreeSHAP tables of this model would take {self.table_bytes / 2**20:,.0f} MiB "
                f"(limit {max_bytes / 2**20:,.0f} MiB; the deepest path splits on {max(depths)} "
                "features): train shallower trees (training.max_depth, training.num_leaves)"
            )
        for _, leaves, _ in self.trees:
            for leaf in leaves:
                leaf.table = _leaf_table(leaf.value, leaf.z)
        # the raw score's mean under the training cover: pred_contrib's bias column
        self.expected_value = float(
            sum(
                c + sum(leaf.value * np.prod(leaf.z) for leaf in leaves)
                for _, leaves, c in self.trees
            )
        )
        self.supported = True  # every leaf has its table

    def _compile(self, root: dict) -> tuple[list[_Node], list[_Leaf], float]:
        nodes: list[_Node] = []
        leaves: list[_Leaf] = []
        constant = 0.0

        def walk(node: dict, path: list[tuple[int, bool, float]]) -> None:
            nonlocal constant
            if "leaf_index" in node or "split_index" not in node:
                value = float(node.get("leaf_value", 0.0))
                feats: dict[int, tuple[int, float]] = {}
                steps = []
                for node_id, left, frac in path:
                    f = nodes[node_id].feature
                    bit, z = feats.get(f, (len(feats), 1.0))
                    feats[f] = (bit, z * frac)
                    steps.append((node_id, left, bit))
                z = np.array([feats[f][1] for f in sorted(feats, key=lambda k: feats[k][0])])
                order = np.array(sorted(feats, key=lambda k: feats[k][0]), dtype=np.int64)
                if not path:
                    constant += value
                    return
                leaves.append(_Leaf(order, steps, value, z))
                return
            categorical = node["decision_type"] == "=="
            cats = (
                np.array([int(c) for c in str(node["threshold"]).split("||")], dtype=np.int64)
                if categorical
                else np.zeros(0, dtype=np.int64)
            )
            nodes.append(
                _Node(
                    feature=int(node["split_feature"]),
                    categorical=categorical,
                    threshold=0.0 if categorical else float(node["threshold"]),
                    categories=cats,
                    default_left=bool(node.get("default_left", True)),
                    missing_type=node.get("missing_type", "None"),
                )
            )
            node_id = len(nodes) - 1
            parent = float(node["internal_count"])
            for child, left in ((node["left_child"], True), (node["right_child"], False)):
                count = float(child.get("internal_count", child.get("leaf_count", 0.0)))
                walk(child, [*path, (node_id, left, count / parent if parent else 0.0)])

        walk(root, [])
        return nodes, leaves, constant

    def _columns(self, X: pd.DataFrame) -> np.ndarray:
        """Model input as float columns: categories as their codes, missing as NaN."""
        out = np.empty((X.shape[1], len(X)))
        for j, col in enumerate(X.columns):
            s = X[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                codes = s.cat.codes.to_numpy().astype(float)
                codes[codes < 0] = np.nan
                out[j] = codes
            else:
                out[j] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return out

    @staticmethod
    def _goes_left(node: _Node, x: np.ndarray) -> np.ndarray:
        if node.categorical:
            with np.errstate(invalid="ignore"):
                ok = ~np.isnan(x) & (x >= 0)
            return ok & np.isin(np.where(ok, x, -1).astype(np.int64), node.categories)
        missing = np.isnan(x)
        if node.missing_type == "NaN":
            return np.where(missing, node.default_left, x <= node.threshold)
        if node.missing_type == "Zero":
            zero = missing | (np.abs(np.nan_to_num(x)) <= ZERO_THRESHOLD)
            return np.where(zero, node.default_left, x <= node.threshold)
        return np.where(missing, 0.0, x) <= node.threshold

    def _shap_block(self, cols: np.ndarray) -> np.ndarray:
        n = cols.shape[1]
        out = np.zeros((len(self.feature_names), n))  # feature-major: contiguous adds
        for nodes, leaves, _ in self.trees:
            left = [self._goes_left(node, cols[node.feature]) for node in nodes]
            for leaf in leaves:
                d = len(leaf.features)
                agree = np.ones((d, n), dtype=bool)
                for node_id, went_left, bit in leaf.steps:
                    agree[bit] &= left[node_id] if went_left else ~left[node_id]
                mask = np.zeros(n, dtype=np.intp)
                for bit in range(d):
                    mask |= agree[bit].astype(np.intp) << bit
                values = leaf.table[mask]  # (n, d)
                for bit, f in enumerate(leaf.features):
                    out[f] += values[:, bit]
        return out

    def shap_values(self, X: pd.DataFrame, threads: int = 2, block_rows: int = 8192) -> np.ndarray:
        """SHAP values (n, p) in raw-score units, equal to pred_contrib without its bias column.

        Rows are processed in cache-sized blocks on a thread pool (numpy releases the GIL)."""
        if list(X.columns) != self.feature_names:
            raise ValueError("X must have the model's features in the model's order")
        cols = self._columns(X)
        n = cols.shape[1]
        out = np.empty((len(self.feature_names), n))
        starts = range(0, n, block_rows)

        def run(start: int) -> None:
            out[:, start : start + block_rows] = self._shap_block(
                cols[:, start : start + block_rows]
            )

        if threads > 1 and n > block_rows:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, starts))
        else:
            for start in starts:
                run(start)
        return out.T


def shap_values(booster: lgb.Booster, X: pd.DataFrame, threads: int = 1) -> np.ndarray:
    """Exact TreeSHAP values (n, p) with the booster's cached tables."""
    return explainer(booster).shap_values(X, threads=threads)


__all__ = ["FastTreeShap", "TreeShapTooLarge", "explainer", "shap_values"]
