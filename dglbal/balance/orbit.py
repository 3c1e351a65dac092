"""The squared norm along a symmetry orbit and its minimization (numpy / scipy only).

With t = log lambda per group, the parameters' squared norm along the orbit is
``N(t) = sum_k theta_k^2 exp(2 (E t)_k)``: convex, with gradient 2 c(t) (c_g = I_g - O_g) and
Hessian 4 E^T diag(mass) E. Preserve-mode balancing minimizes it by Newton steps. The Hessian
is sparse (groups sharing a weight), block-tridiagonal for a chain of layers: it is assembled
and factorized when that is cheap, else the steps are solved by conjugate gradients on
Hessian-vector products (:func:`newton_direction`).

A weight used as a linear map has exponents of outer form, ``E[o, j] = A[o] - B[j]``: every
group touching it covers whole rows (its output channels) or whole columns (its input
channels). For such a block everything N needs is a dense matrix-vector product with
``S = theta^2``: the row masses ``e^{2A} * (S e^{-2B})``, the column masses, and the Hessian
products. That is BLAS work linear in the parameter count, with no index traffic. Every other
parameter (attention vectors, biases, irregular exponents) goes through one sparse matrix.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from dglbal.symmetry.core.groups import OuterEntries, SparseEntries

__all__ = ["OrbitNorm", "Triplets", "minimize", "newton_direction", "outer_form"]

Triplets = Tuple[np.ndarray, np.ndarray, np.ndarray]


def outer_form(triplets: Triplets, shape: Tuple[int, int], num_groups: int
               ) -> Optional[Tuple[sp.csr_matrix, sp.csr_matrix]]:
    """(U, W) with E[o, j] = (U t)[o] - (W t)[j] for a 2-D parameter, or None when its
    exponents are not of that form (a group covering neither whole rows nor whole columns
    with one value per row or column)."""
    flat, group, value = triplets
    rows, cols = shape
    key = group * (rows * cols) + flat
    if len(key) > 1 and not np.all(key[1:] > key[:-1]):  # the table's order: (group, entry)
        order = np.argsort(key)
        flat, group, value = flat[order], group[order], value[order]
    simple = _one_row_or_column(flat, group, value, shape, num_groups)
    if simple is not None:
        return simple
    o, j = flat // cols, flat % cols
    whole_row = _whole_runs(group * rows + o, value, cols)
    not_row = np.bincount(group, weights=~whole_row, minlength=num_groups) > 0
    rest = np.flatnonzero(not_row[group])
    if len(rest):
        # Whole columns: every (group, column) pair seen exactly `rows` times, one value.
        present = np.bincount(group[rest], minlength=num_groups) > 0
        local = (np.cumsum(present) - 1)[group[rest]]
        pair = local * cols + j[rest]
        size = (int(local.max()) + 1) * cols
        count = np.bincount(pair, minlength=size)
        total = np.bincount(pair, weights=value[rest], minlength=size)
        squares = np.bincount(pair, weights=value[rest] ** 2, minlength=size)
        seen = count > 0
        if not np.all(count[seen] == rows) or \
                not np.allclose(rows * squares[seen], total[seen] ** 2, rtol=1e-12, atol=0):
            return None
    pick = ~not_row[group] & (j == 0)
    u = sp.csr_matrix((value[pick], (o[pick], group[pick])), shape=(rows, num_groups))
    pick = rest[o[rest] == 0]
    w = sp.csr_matrix((-value[pick], (j[pick], group[pick])), shape=(cols, num_groups))
    return u, w


def _stored_outer_form(entries: OuterEntries, num_groups: int
                       ) -> Tuple[sp.csr_matrix, sp.csr_matrix]:
    """(U, W) of :func:`outer_form` read from a weight's outer form, over its stored axes
    (a weight stored (in, out) has its input channels first)."""
    first, second = (entries.cols, entries.rows) if entries.transposed else \
        (entries.rows, entries.cols)
    sizes = (entries.n_in, entries.n_out) if entries.transposed else (entries.n_out,
                                                                      entries.n_in)
    (p0, g0, v0), (p1, g1, v1) = first, second
    return (sp.csr_matrix((v0, (p0, g0)), shape=(sizes[0], num_groups)),
            sp.csr_matrix((-v1, (p1, g1)), shape=(sizes[1], num_groups)))


def _one_row_or_column(flat, group, value, shape, num_groups):
    """The common case, checked per group rather than per entry: every group holds exactly
    one whole row (an output channel) or one whole column (an input channel) of the weight,
    with one value. Triplets sorted by (group, entry). None when that is not the case."""
    rows, cols = shape
    if len(flat) == 0:
        return None
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(flat)] - 1
    length, first, last = ends - starts + 1, flat[starts], flat[ends]
    constant = np.minimum.reduceat(value, starts) == np.maximum.reduceat(value, starts)
    # Sorted distinct entries: `cols` of them from a row start to its end are that row.
    is_row = (length == cols) & (first % cols == 0) & (last - first == cols - 1)
    is_col = ~is_row & (length == rows) & (first < cols)
    if not np.all(constant & (is_row | is_col)):
        return None
    in_column = np.repeat(is_col, length)
    if not np.all(flat[in_column] % cols == np.repeat(first[is_col], rows)):
        return None
    ids, values = group[starts], value[starts]
    u = sp.csr_matrix((values[is_row], (first[is_row] // cols, ids[is_row])),
                      shape=(rows, num_groups))
    w = sp.csr_matrix((-values[is_col], (first[is_col], ids[is_col])), shape=(cols, num_groups))
    return u, w


def _whole_runs(key: np.ndarray, value: np.ndarray, length: int) -> np.ndarray:
    """For triplets sorted by ``key``: True where the key occurs exactly ``length`` times,
    always with the same value."""
    if len(key) == 0:
        return np.ones(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    return np.repeat(counts == length, counts) & (value == np.repeat(value[starts], counts))


def _used(matrix: sp.csr_matrix) -> int:
    """The number of groups (columns) a sparse matrix touches."""
    return len(np.unique(matrix.indices))


class _OuterBlock:
    def __init__(self, slot: slice, shape, u: sp.csr_matrix, w: sp.csr_matrix) -> None:
        self.slot, self.shape, self.u, self.w = slot, shape, u, w
        self.square = np.empty(shape)
        self.ut, self.wt = u.T.tocsr(), w.T.tocsr()
        self.abs_ut, self.abs_wt = abs(self.ut), abs(self.wt)
        self.sq_ut = self.ut.multiply(self.ut).tocsr()
        self.sq_wt = self.wt.multiply(self.wt).tocsr()

    def load(self, theta: np.ndarray) -> None:
        np.square(theta[self.slot].reshape(self.shape), out=self.square)

    def at(self, t: np.ndarray):
        self.ea, self.eb = np.exp(2.0 * (self.u @ t)), np.exp(-2.0 * (self.w @ t))
        self.row = self.ea * (self.square @ self.eb)
        # Without column groups (a first layer), the column masses are never used.
        self.col = self.eb * (self.square.T @ self.ea) if self.w.nnz else np.zeros(self.shape[1])
        return (self.row.sum(), self.ut @ self.row - self.wt @ self.col,
                self.abs_ut @ self.row + self.abs_wt @ self.col,
                self.sq_ut @ self.row + self.sq_wt @ self.col)

    def hessian_product(self, v: np.ndarray) -> np.ndarray:
        alpha, beta = self.u @ v, self.w @ v
        # sum_j mass_oj (alpha_o - beta_j) per row, sum_o mass_oj (alpha_o - beta_j) per column;
        # a side without groups (first or last layer) has alpha or beta 0 and needs no product.
        out = np.zeros(self.u.shape[1])
        if self.u.nnz:
            per_row = alpha * self.row
            if self.w.nnz:
                per_row -= self.ea * (self.square @ (self.eb * beta))
            out += self.ut @ per_row
        if self.w.nnz:
            per_col = -beta * self.col
            if self.u.nnz:
                per_col += self.eb * (self.square.T @ (self.ea * alpha))
            out -= self.wt @ per_col
        return out

    def masses(self) -> np.ndarray:
        """theta^2 exp(2 (E t)) of every entry at the last evaluated t, flat."""
        return (self.ea[:, None] * self.square * self.eb[None, :]).reshape(-1)

    def exponents(self) -> sp.coo_matrix:
        """E of this weight's entries (row-major): E[(o, j)] = U[o] - W[j]."""
        rows, cols = self.shape
        u, w = self.u.tocoo(), self.w.tocoo()
        entry = np.concatenate([(u.row[:, None] * cols + np.arange(cols)).reshape(-1),
                                (np.arange(rows)[:, None] * cols + w.row).reshape(-1)])
        group = np.concatenate([np.repeat(u.col, cols), np.tile(w.col, rows)])
        value = np.concatenate([np.repeat(u.data, cols), -np.tile(w.data, rows)])
        return sp.coo_matrix((value, (entry, group)), shape=(rows * cols, self.u.shape[1]))

    def log_factor(self, t: np.ndarray) -> np.ndarray:
        return (np.add.outer(self.u @ t, -(self.w @ t))).reshape(-1)


class _SparseBlock:
    def __init__(self, entries: np.ndarray, matrix: sp.csr_matrix) -> None:
        self.entries, self.matrix = entries, matrix
        self.mt = matrix.T.tocsr()
        self.abs_mt, self.sq_mt = abs(self.mt), self.mt.multiply(self.mt).tocsr()

    def load(self, theta: np.ndarray) -> None:
        self.square = theta[self.entries] ** 2

    def at(self, t: np.ndarray):
        self.mass = self.square * np.exp(2.0 * (self.matrix @ t))
        return (self.mass.sum(), self.mt @ self.mass, self.abs_mt @ self.mass,
                self.sq_mt @ self.mass)

    def hessian_product(self, v: np.ndarray) -> np.ndarray:
        return self.mt @ (self.mass * (self.matrix @ v))


class OrbitNorm:
    """N(t) over the parameters of a report, split into outer-form blocks and the rest.

    ``parameters`` lists (flat offset, shape, exponents) per parameter, exponents as in
    :class:`dglbal.symmetry.core.groups.ExponentTable`: its compact form (``params[name]``,
    a weight's outer form read directly) or triplets (``entries[name]``, the outer form
    recognized).
    """

    def __init__(self, parameters: Sequence[Tuple[int, Tuple[int, ...], Tuple[np.ndarray, ...]]],
                 num_groups: int) -> None:
        self.num_groups = num_groups
        self.outer: List[_OuterBlock] = []
        rest = []
        for offset, shape, exponents in parameters:
            size = int(np.prod(shape, dtype=np.int64))
            if isinstance(exponents, OuterEntries):
                form = _stored_outer_form(exponents, num_groups)
            elif isinstance(exponents, SparseEntries):
                exponents, form = exponents.triplets(), None
            else:
                form = outer_form(exponents, shape, num_groups) if len(shape) == 2 else None
            if form is not None:
                self.outer.append(_OuterBlock(slice(offset, offset + size), shape, *form))
            else:
                flat, group, value = exponents
                rest.append((flat + offset, group, value))
        entry, group, value = (np.concatenate(c) if rest else np.zeros(0, dtype=d)
                               for c, d in zip(zip(*rest) if rest else ((), (), ()),
                                               (np.int64, np.int64, float)))
        entries, local = np.unique(entry, return_inverse=True)
        self.sparse = _SparseBlock(entries, sp.csr_matrix(
            (value, (local.reshape(-1), group)), shape=(len(entries), num_groups)))
        self._exponents: Optional[sp.csr_matrix] = None
        self.prefer_direct = self._direct_is_cheaper()

    def _direct_is_cheaper(self) -> bool:
        """Is a Newton step cheaper by sparse LU than by conjugate gradients (estimated
        seconds, constants measured on one core)?

        A weight couples the groups of its rows with those of its columns densely, so
        factorizing costs about |row groups| |column groups| min(both) flops per weight
        (at about 5e8 flop/s), and assembling costs about 3e-8 s per exponent entry. CG
        needs of the order of 10 + 0.4 depth iterations on a chain of layers, each a pass
        over the parameters (about 2e-9 s per entry) and 1e-4 s of overhead per weight.
        """
        factor = sum(_used(b.u) * _used(b.w) * min(_used(b.u), _used(b.w)) for b in self.outer)
        factor += float(self.sparse.matrix.nnz) ** 1.5
        entries = sum(2 * b.shape[0] * b.shape[1] for b in self.outer) + self.sparse.matrix.nnz
        direct = factor / 5e8 + 3e-8 * entries
        depth = len(self.outer)
        iterative = (10 + 0.4 * depth) * (2e-9 * entries + 1e-4 * (depth + 1))
        return direct < iterative

    @property
    def blocks(self):
        return [*self.outer, self.sparse]

    def evaluate(self, theta: np.ndarray, t: np.ndarray
                 ) -> Tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """(N, c, sum |e| mass, sum e^2 mass) per group at t; remembers theta and t for
        :meth:`at` and the products."""
        for block in self.blocks:
            block.load(theta)
        return self.at(t)

    def at(self, t: np.ndarray):
        """:meth:`evaluate` at another t, for the theta last evaluated (its squares kept)."""
        total, c, scale, diagonal = 0.0, 0.0, 0.0, 0.0
        for block in self.blocks:
            n, cb, sb, db = block.at(t)
            total, c, scale, diagonal = total + n, c + cb, scale + sb, diagonal + db
        zero = np.zeros(self.num_groups)
        return total, c + zero, scale + zero, diagonal + zero

    def hessian_product(self, v: np.ndarray) -> np.ndarray:
        """(E^T diag(mass) E) v at the last evaluated t (the Hessian of N over 4)."""
        return sum(block.hessian_product(v) for block in self.blocks)

    def hessian(self) -> sp.csr_matrix:
        """E^T diag(mass) E at the last evaluated t, assembled (sparse: it couples the groups
        that share an entry). E over all blocks' entries is made on first use."""
        if self._exponents is None:
            self._exponents = sp.vstack([b.exponents() for b in self.outer]
                                        + [self.sparse.matrix]).tocsr()
        mass = np.concatenate([b.masses() for b in self.outer] + [self.sparse.mass])
        return (self._exponents.T @ sp.diags(mass) @ self._exponents).tocsr()

    def rescale(self, theta: np.ndarray, t: np.ndarray) -> None:
        """``theta_k *= exp((E t)_k)``, in place."""
        for block in self.outer:
            theta[block.slot] *= np.exp(block.log_factor(t))
        theta[self.sparse.entries] *= np.exp(self.sparse.matrix @ t)


def minimize(norm: OrbitNorm, theta: np.ndarray, live: np.ndarray, tol: float,
             max_steps: int, direct: Optional[bool] = None) -> Tuple[np.ndarray, int, float]:
    """Damped Newton on N over the live groups (the others stay at t = 0), each step solved by
    :func:`newton_direction` (``direct``: by sparse LU; None: whichever
    ``OrbitNorm.prefer_direct`` estimates cheaper). Returns (t, steps, max relative
    |c_g|)."""
    direct = norm.prefer_direct if direct is None else direct
    t = np.zeros(norm.num_groups)
    total, c, scale, diagonal = norm.evaluate(theta, t)
    stalled = False
    for step in range(max_steps + 1):
        relative = np.abs(c[live]) / np.maximum(scale[live], 1e-300)
        worst = float(relative.max(initial=0.0))
        if worst < tol or step == max_steps or stalled:  # stalled: rounding, no descent left
            return t, step, worst
        direction = newton_direction(norm, c, diagonal, live, worst, direct)
        alpha, new = _line_search(norm, t, direction, total, c, live)
        stalled = alpha < 1e-10
        t = t + alpha * direction
        total, c, scale, diagonal = new
    return t, max_steps, worst


# N's own rounding: a decrease of N smaller than this (relative) cannot be seen in N.
_RESOLVED = 64 * np.finfo(float).eps


def _line_search(norm: OrbitNorm, t: np.ndarray, direction: np.ndarray,
                 total: float, c: np.ndarray, live: np.ndarray) -> tuple:
    """Step length along the Newton direction: halved until N decreases enough (Armijo), or
    doubled while the full step still points downhill. Far from the minimum, where a group
    must move by a large log factor, N grows like exp(2 t) and a Newton step covers only about
    half a unit of t; doubling then saves most of the steps. Near the minimum the decrease a
    step promises (2 c . direction) falls below N's rounding, where Armijo's test on N is
    noise (it took steps of 1e-9 of the Newton step and stayed put for 1000 steps): there
    the step is halved until the live groups' |c| decreases instead. Returns (alpha,
    evaluation)."""
    slope = float(2.0 * c @ direction)
    alpha, new = 1.0, norm.at(t + direction)
    if -slope <= _RESOLVED * total:
        residual = float(np.linalg.norm(c[live]))
        while float(np.linalg.norm(new[1][live])) >= (1 - 1e-4 * alpha) * residual \
                and alpha >= 1e-10:
            alpha /= 2
            new = norm.at(t + alpha * direction)
        return alpha, new
    while new[0] > total + 0.25 * alpha * slope and alpha >= 1e-10:
        alpha /= 2
        new = norm.at(t + alpha * direction)
    while alpha >= 1.0 and alpha < 64 and 2.0 * float(new[1] @ direction) < 0.1 * slope:
        longer = norm.at(t + 2 * alpha * direction)
        if longer[0] >= new[0]:
            norm.at(t + alpha * direction)  # back to the accepted point
            break
        alpha, new = 2 * alpha, longer
    return alpha, new


def newton_direction(norm: OrbitNorm, c: np.ndarray, diagonal: np.ndarray, live: np.ndarray,
                     worst: float, direct: bool) -> np.ndarray:
    """The Newton step -(4 H)^-1 2 c of N (gradient 2 c, Hessian 4 H) over the live groups, 0
    on the others, at the last evaluated t.

    ``direct``: H is assembled and solved by sparse LU. It couples only groups that share a
    weight, so for a chain of layers it is block-tridiagonal and the solve costs depth x
    width^3 however ill-conditioned a deep chain is (conjugate gradients need of the order of
    depth iterations). Otherwise (wide, shallow layers, or a singular H: redundant groups),
    matrix-free Jacobi-preconditioned conjugate gradients, solved more tightly as c shrinks
    (inexact Newton).
    """
    direction = np.zeros(norm.num_groups)
    ids = np.flatnonzero(live)
    if not len(ids):
        return direction
    if direct:
        hessian = norm.hessian()[ids][:, ids].tocsc()
        try:
            step = spla.splu(hessian, permc_spec="MMD_AT_PLUS_A").solve(-0.5 * c[ids])
        except RuntimeError:  # singular (redundant groups): CG handles semi-definite systems
            step = None
        if step is not None and np.isfinite(step).all():
            direction[ids] = step
            return direction
    mask = live.astype(float)
    precondition = np.where(live, 1.0 / np.maximum(diagonal, 1e-300), 1.0)
    operator = spla.LinearOperator(
        (norm.num_groups,) * 2, dtype=float,
        matvec=lambda v: mask * norm.hessian_product(mask * v) + (1 - mask) * v)
    direction, _ = spla.cg(operator, -0.5 * mask * c, rtol=max(min(0.1, worst), 1e-10),
                           maxiter=500, M=spla.LinearOperator(operator.shape, dtype=float,
                                                             matvec=lambda v: precondition * v))
    return direction
