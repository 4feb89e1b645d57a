// Relaxation sweeps and solvers for sparse linear systems A x = b in compressed row storage.
//
//   csr_view<T, I>                    rows, cols, row_ptr[rows+1], col_index[nnz], values[nnz]
//                                     of user memory (no copy); make_csr_view(Eigen row-major
//                                     compressed SparseMatrix).
//   relaxation_matrix<T, I>           a csr_view validated once (one pass): square, row_ptr
//                                     non-decreasing from 0, column indices in range, values
//                                     finite, exactly one non-zero diagonal entry per row. Every
//                                     sweep and solver takes one, so sweeps check only shapes.
//   jacobi_sweep(A, b, x_in, x_out, ws, weight)   x_out = x_in + weight D^-1 (b - A x_in);
//                                     returns ||b - A x_in||^2 (fused: the same pass). Parallel
//                                     over rows, bit-identical at any thread count.
//   sor_sweep(A, b, x, omega, dir)    one in-place SOR sweep, forward or backward (omega = 1:
//                                     Gauss-Seidel). Sequential by nature: row i needs the x of
//                                     the row before; that chain is kept to one multiply-add per
//                                     row (sor_row_chained), so the sweep streams the matrix at
//                                     memory speed instead of waiting on the chain.
//   gauss_seidel_sweep, ssor_sweep    forward GS; forward then backward SOR.
//   residual_norm_squared(A, b, x, ws) ||b - A x||^2, parallel, deterministic.
//   jacobi_solve / gauss_seidel_solve / sor_solve / ssor_solve (A, b, x, options[, ws])
//                                     iterate from the x given until ||b - A x|| <=
//                                     max(abs_tol, rel_tol ||b||) or max_sweeps; the result says
//                                     which (converged is never true on hitting the limit).
//
// Cost of the convergence check. Jacobi gets the residual of its input iterate from the sweep
// itself, so it checks every sweep for free; when that residual is small enough it returns that
// iterate (the sweep that measured it is counted in `passes`, not in `sweeps`). GS, SOR and
// SSOR update x in place with a mixture of old and new values, so the residual of the new
// iterate costs one more pass over A, x and b (about the bytes of a sweep) every
// `check_every` sweeps: overhead 1 / check_every of a sweep (SSOR: 1 / (2 check_every)).
//
// Row kernels (detail/relaxation_rows.hpp): each row's operations are fixed in the source
// (mul_add, not the compiler's contraction); where the build targets AVX-512, groups of rows
// sharing a stencil (a grid operator away from its boundary) run in SIMD lanes with the same
// operations, so a sweep gives the same bits whichever rows ran as groups.
//
// Bytes a sweep must move (benchmarks): the CSR arrays (nnz values and column indices, rows + 1
// row pointers), x read, b read, x written. The diagonal is found in the row as it is read
// (no separate inverse-diagonal vector).
//
// Validation: relaxation_matrix's constructor checks the matrix; sweeps and solvers check
// sizes of b and x (and that Jacobi's x_in, x_out do not overlap), omega in (0, 2), weight in
// (0, 1], tolerances finite and >= 0; solvers also check b and x for NaN/inf (sweeps do not:
// a NaN propagates). Every check happens before anything is written.
#pragma once

#include <Eigen/SparseCore>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"
#include "detail/relaxation_rows.hpp"

namespace kestrel {
namespace fixed_point {

namespace relaxation_detail {
template <class T>
struct nondeduced {
    using type = T;
};
template <class T>
using nondeduced_t = typename nondeduced<T>::type;
}  // namespace relaxation_detail

/// Compressed sparse rows of user memory.
template <class T, class I = int>
struct csr_view {
    std::size_t rows = 0, cols = 0;
    const I* row_ptr = nullptr;    // rows + 1 entries
    const I* col_index = nullptr;  // row_ptr[rows] entries
    const T* values = nullptr;     // row_ptr[rows] entries
    std::size_t nnz() const noexcept { return rows == 0 ? 0 : static_cast<std::size_t>(row_ptr[rows]); }
};

/// A view of a compressed row-major Eigen matrix (call makeCompressed() first if needed).
template <class T, class I>
csr_view<T, I> make_csr_view(const Eigen::SparseMatrix<T, Eigen::RowMajor, I>& A) {
    require(A.isCompressed(), "make_csr_view", "A", "must be compressed (call makeCompressed())");
    csr_view<T, I> v;
    v.rows = static_cast<std::size_t>(A.rows());
    v.cols = static_cast<std::size_t>(A.cols());
    v.row_ptr = A.outerIndexPtr();
    v.col_index = A.innerIndexPtr();
    v.values = A.valuePtr();
    return v;
}

/// A csr_view checked once for the relaxations (see the header comment). Holds no copy.
template <class T, class I = int>
class relaxation_matrix {
public:
    static_assert(std::is_floating_point_v<T>, "relaxation_matrix: T must be float or double");
    static_assert(std::is_integral_v<I>, "relaxation_matrix: I must be an integer type");

    explicit relaxation_matrix(const csr_view<T, I>& v, bool symmetric_check = false) : v_(v) { validate(symmetric_check); }
    explicit relaxation_matrix(const Eigen::SparseMatrix<T, Eigen::RowMajor, I>& A, bool symmetric_check = false)
        : v_(view_of(A)) {
        validate(symmetric_check);
    }

    const csr_view<T, I>& csr() const noexcept { return v_; }
    std::size_t size() const noexcept { return v_.rows; }
    std::size_t nnz() const noexcept { return v_.nnz(); }
    /// True when constructed with symmetric_check and the pattern and values are symmetric.
    bool symmetric() const noexcept { return symmetric_; }

private:
    static csr_view<T, I> view_of(const Eigen::SparseMatrix<T, Eigen::RowMajor, I>& A) {
        require(A.isCompressed(), "relaxation_matrix", "A", "must be compressed (call makeCompressed())");
        return make_csr_view(A);
    }

    void validate(bool symmetric_check) {
        const char* f = "relaxation_matrix";
        require(v_.rows == v_.cols, f, "A", "must be square, got ", v_.rows, " x ", v_.cols);
        require(v_.rows >= 1, f, "A", "must have at least one row");
        require(v_.row_ptr != nullptr, f, "A.row_ptr", "null pointer");
        require(v_.row_ptr[0] == 0, f, "A.row_ptr", "must start at 0, got ", v_.row_ptr[0]);
        for (std::size_t i = 0; i < v_.rows; ++i)
            require(v_.row_ptr[i + 1] >= v_.row_ptr[i], f, "A.row_ptr", "decreases at row ", i);
        const std::size_t nnz = v_.nnz();
        require_not_null(v_.col_index, nnz, f, "A.col_index");
        require_not_null(v_.values, nnz, f, "A.values");
        const std::size_t n = v_.rows;
        for (std::size_t i = 0; i < n; ++i) {
            int diagonals = 0;
            T d = T(0);
            for (auto k = static_cast<std::size_t>(v_.row_ptr[i]); k < static_cast<std::size_t>(v_.row_ptr[i + 1]); ++k) {
                const I c = v_.col_index[k];
                require(c >= 0 && static_cast<std::size_t>(c) < n, f, "A.col_index", "column ", c, " in row ", i,
                        " out of range [0, ", n, ")");
                require(std::isfinite(v_.values[k]), f, "A.values", "non-finite value ", v_.values[k], " in row ", i);
                if (static_cast<std::size_t>(c) == i) {
                    ++diagonals;
                    d = v_.values[k];
                }
            }
            require(diagonals == 1, f, "A", "row ", i, diagonals == 0 ? " has no diagonal entry" : " has a repeated diagonal entry");
            require(d != T(0), f, "A", "zero diagonal entry in row ", i);
        }
        if (symmetric_check) {
            // a_ij == a_ji for every stored entry: a binary search in row j (sorted or not,
            // fall back to a scan).
            for (std::size_t i = 0; i < n; ++i)
                for (auto k = static_cast<std::size_t>(v_.row_ptr[i]); k < static_cast<std::size_t>(v_.row_ptr[i + 1]); ++k) {
                    const auto j = static_cast<std::size_t>(v_.col_index[k]);
                    bool found = false;
                    for (auto q = static_cast<std::size_t>(v_.row_ptr[j]); q < static_cast<std::size_t>(v_.row_ptr[j + 1]); ++q)
                        if (static_cast<std::size_t>(v_.col_index[q]) == i && v_.values[q] == v_.values[k]) {
                            found = true;
                            break;
                        }
                    require(found, f, "A", "not symmetric: entry (", i, ", ", j, ") has no equal (", j, ", ", i, ")");
                }
            symmetric_ = true;
        }
    }

    csr_view<T, I> v_;
    bool symmetric_ = false;
};

template <class T, class I>
relaxation_matrix(const Eigen::SparseMatrix<T, Eigen::RowMajor, I>&) -> relaxation_matrix<T, I>;
template <class T, class I>
relaxation_matrix(const Eigen::SparseMatrix<T, Eigen::RowMajor, I>&, bool) -> relaxation_matrix<T, I>;

/// Scratch kept across calls: a second iterate (Jacobi, Chebyshev), a direction vector
/// (Chebyshev, polynomial preconditioner) and per-block partial sums. Sized on first use.
template <class T>
struct relaxation_workspace {
    std::vector<T> x2, d, r, z;
    std::vector<double> partial;
};

/// When a solver stops, and what it records.
struct relaxation_options {
    std::size_t max_sweeps = 10000;  ///< sweeps (iterations) at most; 0 = only measure the residual
    double abs_tol = 0.0;            ///< stop when ||b - A x|| <= max(abs_tol, rel_tol ||b||)
    double rel_tol = 1e-8;
    std::size_t check_every = 1;     ///< GS/SOR/SSOR: residual pass every k sweeps (see header)
    bool record_history = false;     ///< residual norms at every check, starting with the initial x
    exec_policy policy{};
};

struct relaxation_result {
    std::size_t sweeps = 0;          ///< sweeps whose result is in x
    std::size_t passes = 0;          ///< passes over A made (sweeps + residual-only passes)
    double residual_norm = 0.0;      ///< ||b - A x|| of the returned x
    double relative_residual = 0.0;  ///< residual_norm / ||b|| (residual_norm when b = 0)
    bool converged = false;          ///< residual met the tolerance (never set on hitting the limit)
    std::vector<double> history;     ///< residual norms at each check (record_history)
};

enum class sweep_direction { forward, backward };

namespace relaxation_detail {

/// Rows per reduction block: partial sums are per block of this many rows, combined in order.
inline constexpr std::size_t reduction_block = 4096;

inline std::size_t reduction_blocks(std::size_t n) noexcept { return (n + reduction_block - 1) / reduction_block; }

/// Sum over row i of a_ij x_j, and the diagonal a_ii. Two accumulators (columns below and
/// above the diagonal) halve the chain of dependent additions.
template <class T, class I>
KESTREL_ALWAYS_INLINE T row_dot(const csr_view<T, I>& A, std::size_t i, const T* x, T& diag) noexcept {
    T lo = T(0), hi = T(0), d = T(0);
    const I* col = A.col_index;
    const T* val = A.values;
    const auto end = static_cast<std::size_t>(A.row_ptr[i + 1]);
    for (auto k = static_cast<std::size_t>(A.row_ptr[i]); k < end; ++k) {
        const auto c = static_cast<std::size_t>(col[k]);
        const T v = val[k];
        if (c < i)
            lo += v * x[c];
        else if (c > i)
            hi += v * x[c];
        else
            d = v;
    }
    diag = d;
    return (lo + d * x[i]) + hi;
}

/// Runs body(begin, end) over rows [0, n) in chunks aligned to reduction blocks, then sums the
/// per-block doubles in block order: the same bits at any thread count. body returns the sum
/// for rows [begin, end) of one reduction block.
template <class Body>
double blocked_row_reduce(std::size_t n, std::vector<double>& partial, exec_policy policy, Body&& body) {
    const std::size_t nb = reduction_blocks(n);
    if (partial.size() < nb) partial.resize(nb);
    double* p = partial.data();
    parallel_chunks(
        n, reduction_block, policy,
        [&](std::size_t begin, std::size_t end) {
            for (std::size_t b0 = begin; b0 < end; b0 += reduction_block)
                p[b0 / reduction_block] = body(b0, std::min(end, b0 + reduction_block));
        },
        std::size_t(1) << 14);
    double s = 0.0;
    for (std::size_t b = 0; b < nb; ++b) s += p[b];
    return s;
}

template <class T>
void require_finite_vector(const T* p, std::size_t n, const char* f, const char* arg) {
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i])) fail_argument(f, arg, "non-finite value ", p[i], " at index ", i);
}

inline void require_omega(double omega, const char* f) {
    require(omega > 0.0 && omega < 2.0, f, "omega", "must lie in (0, 2), got ", omega);
}

inline void require_options(const relaxation_options& o, const char* f) {
    require(std::isfinite(o.abs_tol) && o.abs_tol >= 0.0, f, "options.abs_tol", "must be finite and >= 0, got ", o.abs_tol);
    require(std::isfinite(o.rel_tol) && o.rel_tol >= 0.0, f, "options.rel_tol", "must be finite and >= 0, got ", o.rel_tol);
    require(o.check_every >= 1, f, "options.check_every", "must be >= 1, got ", o.check_every);
    require_valid_policy(o.policy, f);
}

template <class T, class I>
void require_system(const relaxation_matrix<T, I>& A, std::size_t nb, std::size_t nx, const char* f) {
    require_size(nb, A.size(), f, "b", "the rows of A");
    require_size(nx, A.size(), f, "x", "the rows of A");
}

inline bool overlaps(const void* a, std::size_t abytes, const void* b, std::size_t bbytes) noexcept {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    return pa < pb + bbytes && pb < pa + abytes;
}

/// A solver's right-hand side and iterate: separate memory, both finite (checked before x is
/// written).
template <class T>
void require_distinct_finite(const T* b, std::size_t nb, const T* x, std::size_t nx, const char* f) {
    require(!overlaps(b, nb * sizeof(T), x, nx * sizeof(T)), f, "x", "must not overlap b");
    require_finite_vector(b, nb, f, "b");
    require_finite_vector(x, nx, f, "x");
}

// ---- unchecked kernels -------------------------------------------------------------------

template <class T, class I>
double jacobi_sweep_unchecked(const csr_view<T, I>& A, const T* b, const T* xin, T* xout, T weight,
                              std::vector<double>& partial, exec_policy policy) {
    // Blocks start at multiples of reduction_block, so the rows of every group and residual
    // lane are the same at any thread count (detail/relaxation_rows.hpp).
    const std::size_t nnz = A.nnz();
    return blocked_row_reduce(A.rows, partial, policy, [&](std::size_t begin, std::size_t end) {
        return jacobi_block(A.row_ptr, A.col_index, A.values, nnz, begin, end, b, xin, weight, xout);
    });
}

template <class T, class I>
double residual_unchecked(const csr_view<T, I>& A, const T* b, const T* x, std::vector<double>& partial,
                          exec_policy policy) {
    // The rows' residuals as the Jacobi sweep computes them (residual_row).
    return blocked_row_reduce(A.rows, partial, policy, [&](std::size_t begin, std::size_t end) {
        double acc = 0.0;
        for (std::size_t i = begin; i < end; ++i) {
            T d;
            const auto r = static_cast<double>(residual_row(A.row_ptr, A.col_index, A.values, i, b, x, d));
            acc = mul_add(r, r, acc);
        }
        return acc;
    });
}

/// r = b - A x (written), returns ||r||^2.
template <class T, class I>
double residual_vector_unchecked(const csr_view<T, I>& A, const T* b, const T* x, T* r, std::vector<double>& partial,
                                 exec_policy policy) {
    return blocked_row_reduce(A.rows, partial, policy, [&](std::size_t begin, std::size_t end) {
        double acc = 0.0;
        for (std::size_t i = begin; i < end; ++i) {
            T d;
            const T ri = b[i] - row_dot(A, i, x, d);
            r[i] = ri;
            acc += static_cast<double>(ri) * static_cast<double>(ri);
        }
        return acc;
    });
}

/// One row of an in-place SOR sweep, x_i += omega (b_i - sum_j a_ij x_j) / a_ii, where `prev`
/// is the value the sweep has just written to the neighbour row nb = i - 1 (forward) or i + 1
/// (backward). Returns the new x_i.
///
/// Where the time goes: a sweep is a chain of rows, row i needing the x_nb written by the row
/// before. Read back from memory (a store-to-load forward, ~7 cycles) and then summed with the
/// row's other terms, subtracted and scaled, that chain cost ~20 cycles per row (measured:
/// ~6 ns/row in cache), above the ~4.4 ns per row (double) that 70% of one core's triad
/// bandwidth allows. Here the entry a_{i,nb} is set aside as m, everything else of the row
/// (its other terms, the division, the old x_i) is folded into c0 and g, which do not depend
/// on the previous row:
///     x_i_new = c0 - g prev,  c0 = x_i + (omega / a_ii) (b_i - sum_{j != i, nb} a_ij x_j - a_ii x_i),
///                             g  = (omega / a_ii) m,
/// and prev stays in a register: the chain is one multiply-add per row, and the loads and
/// arithmetic of the next rows overlap it (out-of-order execution runs ahead over the rows'
/// independent work). x_nb itself is never loaded. Duplicate entries of a column are summed.
template <bool Forward, class T, class I>
KESTREL_ALWAYS_INLINE T sor_row_chained(const csr_view<T, I>& A, std::size_t i, const T* b, T* x, T omega,
                                        T prev) noexcept {
    // i - 1 wraps around at i = 0 and i + 1 equals n at the last row: no column matches.
    const std::size_t nb = Forward ? i - 1 : i + 1;
    const std::size_t lo = Forward ? nb : i;
    T s = T(0), d = T(1), m = T(0);
    bool linked = false;
    const I* col = A.col_index;
    const T* val = A.values;
    const auto end = static_cast<std::size_t>(A.row_ptr[i + 1]);
    for (auto k = static_cast<std::size_t>(A.row_ptr[i]); k < end; ++k) {
        const auto c = static_cast<std::size_t>(col[k]);
        const T v = val[k];
        // One unsigned compare sends the common entries (neither nb nor i) to the sum:
        // (unsigned) c - lo <= 1 exactly for c in {lo, lo + 1} = {i - 1, i} forward, {i, i + 1}
        // backward (measured: 2.8 against 3.5 ns per row in cache, double).
        if (c - lo > 1) {
            s = mul_add(v, x[c], s);
        } else if (c == i) {
            d = v;
        } else {
            m += v;
            linked = true;
        }
    }
    // The same operations as a lane of sor_group (detail/relaxation_rows.hpp): same bits.
    const T xi = x[i];
    const T inv = omega / d;
    const T c0 = mul_add(inv, neg_mul_add(d, xi, b[i] - s), xi);
    // Without a stored a_{i,nb} the row does not read x_nb (not even as 0 * x_nb).
    const T xn = linked ? neg_mul_add(inv * m, prev, c0) : c0;
    x[i] = xn;
    return xn;
}

/// Software prefetch of the CSR values and column indices 2 KiB ahead of the row being swept
/// (clamped to the arrays): with the chain shortened, the sweep waits on memory, and the
/// hardware prefetcher alone keeps too few lines in flight for one core (measured at 10^6
/// unknowns, double, on a loaded machine: best 3.5-4.0 against 4.8 ns per row).
template <bool Forward, class T, class I>
KESTREL_ALWAYS_INLINE void prefetch_row_data(const csr_view<T, I>& A, std::size_t k, std::size_t nnz) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    constexpr std::size_t va = 2048 / sizeof(T), ca = 2048 / sizeof(I);
    if (Forward) {
        simd::detail::prefetch<3>(A.values + std::min(k + va, nnz - 1));
        simd::detail::prefetch<3>(A.col_index + std::min(k + ca, nnz - 1));
    } else {
        simd::detail::prefetch<3>(A.values + (k > va ? k - va : 0));
        simd::detail::prefetch<3>(A.col_index + (k > ca ? k - ca : 0));
    }
#else
    (void)A;
    (void)k;
    (void)nnz;
#endif
}

template <class T, class I>
void sor_sweep_unchecked(const csr_view<T, I>& A, const T* b, T* x, T omega, sweep_direction dir) noexcept {
    const std::size_t n = A.rows;
    const std::size_t nnz = A.nnz();
    if (nnz == 0) return;  // not reachable through relaxation_matrix (a diagonal per row)
    T prev = T(0);
    if (dir == sweep_direction::forward) {
        std::size_t i = 0;
#if KESTREL_RELAX_GROUPS
        // Groups of W rows sharing a stencil (detail/relaxation_rows.hpp): the rows' own work
        // in SIMD lanes, the one multiply-add chain lane by lane; same bits as the rows below.
        if constexpr (relax_groups<T, I>) {
            constexpr std::size_t W = static_cast<std::size_t>(vgroup<T>::W);
            for (; i + W <= n; i += W) {
                const std::size_t p0 = static_cast<std::size_t>(A.row_ptr[i]);
                prefetch_group<true>(A.values, A.col_index, p0, static_cast<std::size_t>(A.row_ptr[i + W]) - p0, nnz);
                const bool done = dispatch_length(A.row_ptr[i + 1] - A.row_ptr[i], [&](auto len) {
                    return sor_group<decltype(len)::value, true>(A.row_ptr, A.col_index, A.values, i, b, x, omega, prev);
                });
                if (!done)
                    for (std::size_t j = i; j < i + W; ++j) prev = sor_row_chained<true>(A, j, b, x, omega, prev);
            }
        }
#endif
        for (; i < n; ++i) {
            prefetch_row_data<true>(A, static_cast<std::size_t>(A.row_ptr[i]), nnz);
            prev = sor_row_chained<true>(A, i, b, x, omega, prev);
        }
    } else {
        std::size_t i = n;  // rows [0, i) remain
#if KESTREL_RELAX_GROUPS
        if constexpr (relax_groups<T, I>) {
            constexpr std::size_t W = static_cast<std::size_t>(vgroup<T>::W);
            // The last n % W rows first, one by one; then groups from the end down.
            for (; i % W != 0; --i) {
                prefetch_row_data<false>(A, static_cast<std::size_t>(A.row_ptr[i]), nnz);
                prev = sor_row_chained<false>(A, i - 1, b, x, omega, prev);
            }
            for (; i >= W; i -= W) {
                const std::size_t g = i - W;
                const std::size_t p0 = static_cast<std::size_t>(A.row_ptr[g]);
                const std::size_t cnt = static_cast<std::size_t>(A.row_ptr[i]) - p0;
                prefetch_group<false>(A.values, A.col_index, p0, cnt, nnz);
                const bool done = dispatch_length(A.row_ptr[g + 1] - A.row_ptr[g], [&](auto len) {
                    return sor_group<decltype(len)::value, false>(A.row_ptr, A.col_index, A.values, g, b, x, omega, prev);
                });
                if (!done)
                    for (std::size_t j = i; j-- > g;) prev = sor_row_chained<false>(A, j, b, x, omega, prev);
            }
        }
#endif
        for (; i-- > 0;) {
            prefetch_row_data<false>(A, static_cast<std::size_t>(A.row_ptr[i + 1]), nnz);
            prev = sor_row_chained<false>(A, i, b, x, omega, prev);
        }
    }
}

inline bool below(double rr, double threshold) noexcept { return std::sqrt(rr) <= threshold; }

/// The stopping threshold max(abs_tol, rel_tol ||b||) and ||b||.
template <class T>
std::pair<double, double> threshold_of(const T* b, std::size_t n, const relaxation_options& o) {
    double bb = 0.0;
    for (std::size_t i = 0; i < n; ++i) bb += static_cast<double>(b[i]) * static_cast<double>(b[i]);
    const double nb = std::sqrt(bb);
    return {std::max(o.abs_tol, o.rel_tol * nb), nb};
}

inline void finish(relaxation_result& res, double rr, double bnorm, bool converged) {
    res.residual_norm = std::sqrt(rr);
    res.relative_residual = bnorm > 0.0 ? res.residual_norm / bnorm : res.residual_norm;
    res.converged = converged;
}

/// The loop shared by solvers whose sweep yields the residual of its input iterate (Jacobi,
/// Chebyshev): sweep(k, in, out) returns ||b - A in||^2 and writes the next iterate to out.
template <class T, class I, class Sweep>
relaxation_result fused_residual_loop(const relaxation_matrix<T, I>& A, const T* b, T* x, const relaxation_options& o,
                                      relaxation_workspace<T>& ws, Sweep&& sweep) {
    const std::size_t n = A.size();
    const auto [thr, bnorm] = threshold_of(b, n, o);
    if (ws.x2.size() < n) ws.x2.resize(n);
    T* cur = x;
    T* nxt = ws.x2.data();
    relaxation_result res;
    for (std::size_t s = 0;; ++s) {
        double rr;
        const bool last = s >= o.max_sweeps;
        if (!last) {
            rr = sweep(s, cur, nxt);
            ++res.passes;
        } else {
            rr = residual_unchecked(A.csr(), b, cur, ws.partial, o.policy);
            ++res.passes;
        }
        if (o.record_history) res.history.push_back(std::sqrt(rr));
        const bool ok = std::isfinite(rr) && below(rr, thr);
        if (ok || last || !std::isfinite(rr)) {
            res.sweeps = s;
            finish(res, rr, bnorm, ok);
            break;
        }
        std::swap(cur, nxt);
    }
    if (cur != x) std::copy(cur, cur + n, x);
    return res;
}

/// The loop of the in-place sweeps (GS, SOR, SSOR, red-black): a residual pass every
/// check_every sweeps. residual() returns ||b - A x||^2 of the current iterate; b has n entries.
template <class T, class Residual, class Sweep>
relaxation_result inplace_loop_with(std::size_t n, const T* b, const relaxation_options& o, std::size_t passes_per_sweep,
                                    Residual&& residual, Sweep&& sweep) {
    const auto [thr, bnorm] = threshold_of(b, n, o);
    relaxation_result res;
    double rr = residual();
    ++res.passes;
    if (o.record_history) res.history.push_back(std::sqrt(rr));
    std::size_t s = 0;
    bool ok = std::isfinite(rr) && below(rr, thr);
    while (!ok && s < o.max_sweeps && std::isfinite(rr)) {
        sweep();
        ++s;
        res.passes += passes_per_sweep;
        if (s % o.check_every == 0 || s == o.max_sweeps) {
            rr = residual();
            ++res.passes;
            if (o.record_history) res.history.push_back(std::sqrt(rr));
            ok = std::isfinite(rr) && below(rr, thr);
        }
    }
    res.sweeps = s;
    finish(res, rr, bnorm, ok);
    return res;
}

template <class T, class I, class Sweep>
relaxation_result inplace_loop(const relaxation_matrix<T, I>& A, const T* b, T* x, const relaxation_options& o,
                               relaxation_workspace<T>& ws, std::size_t passes_per_sweep, Sweep&& sweep) {
    return inplace_loop_with(
        A.size(), b, o, passes_per_sweep, [&] { return residual_unchecked(A.csr(), b, x, ws.partial, o.policy); }, sweep);
}

}  // namespace relaxation_detail

// ---- single sweeps -----------------------------------------------------------------------------

/// ||b - A x||^2 (deterministic at any thread count).
template <class T, class I>
double residual_norm_squared(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                             vector_view<const relaxation_detail::nondeduced_t<T>> x, relaxation_workspace<T>& ws,
                             exec_policy policy = {}) {
    const char* f = "residual_norm_squared";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    require_valid_policy(policy, f);
    return relaxation_detail::residual_unchecked(A.csr(), b.data(), x.data(), ws.partial, policy);
}

/// x_out = x_in + weight D^-1 (b - A x_in); returns ||b - A x_in||^2 from the same pass.
/// weight in (0, 1] (1: Jacobi; < 1: damped Jacobi). x_in and x_out must not overlap.
template <class T, class I>
double jacobi_sweep(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                    vector_view<const relaxation_detail::nondeduced_t<T>> x_in, vector_view<relaxation_detail::nondeduced_t<T>> x_out,
                    relaxation_workspace<T>& ws, double weight = 1.0, exec_policy policy = {}) {
    const char* f = "jacobi_sweep";
    relaxation_detail::require_system(A, b.size(), x_in.size(), f);
    require_size(x_out.size(), A.size(), f, "x_out", "the rows of A");
    require(!relaxation_detail::overlaps(x_in.data(), x_in.size() * sizeof(T), x_out.data(), x_out.size() * sizeof(T)), f,
            "x_out", "must not overlap x_in");
    require(weight > 0.0 && weight <= 1.0, f, "weight", "must lie in (0, 1], got ", weight);
    require_valid_policy(policy, f);
    return relaxation_detail::jacobi_sweep_unchecked(A.csr(), b.data(), x_in.data(), x_out.data(), static_cast<T>(weight),
                                          ws.partial, policy);
}

/// One in-place SOR sweep in the given row order; omega = 1 is Gauss-Seidel.
template <class T, class I>
void sor_sweep(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
               vector_view<relaxation_detail::nondeduced_t<T>> x, double omega,
               sweep_direction direction = sweep_direction::forward) {
    const char* f = "sor_sweep";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_omega(omega, f);
    require(!relaxation_detail::overlaps(b.data(), b.size() * sizeof(T), x.data(), x.size() * sizeof(T)), f, "x",
            "must not overlap b");
    relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), static_cast<T>(omega), direction);
}

/// One forward Gauss-Seidel sweep, in place.
template <class T, class I>
void gauss_seidel_sweep(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                        vector_view<relaxation_detail::nondeduced_t<T>> x) {
    const char* f = "gauss_seidel_sweep";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    require(!relaxation_detail::overlaps(b.data(), b.size() * sizeof(T), x.data(), x.size() * sizeof(T)), f, "x",
            "must not overlap b");
    relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), T(1), sweep_direction::forward);
}

/// One symmetric SOR sweep (forward, then backward), in place.
template <class T, class I>
void ssor_sweep(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                vector_view<relaxation_detail::nondeduced_t<T>> x, double omega) {
    const char* f = "ssor_sweep";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_omega(omega, f);
    require(!relaxation_detail::overlaps(b.data(), b.size() * sizeof(T), x.data(), x.size() * sizeof(T)), f, "x",
            "must not overlap b");
    relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), static_cast<T>(omega), sweep_direction::forward);
    relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), static_cast<T>(omega), sweep_direction::backward);
}

// ---- solvers -----------------------------------------------------------------------------------

/// (Damped) Jacobi from the x given; weight in (0, 1]. Parallel, thread-count invariant.
template <class T, class I>
relaxation_result jacobi_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                               vector_view<relaxation_detail::nondeduced_t<T>> x, const relaxation_options& options,
                               relaxation_workspace<T>& ws, double weight = 1.0) {
    const char* f = "jacobi_solve";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_options(options, f);
    require(weight > 0.0 && weight <= 1.0, f, "weight", "must lie in (0, 1], got ", weight);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const T w = static_cast<T>(weight);
    return relaxation_detail::fused_residual_loop(A, b.data(), x.data(), options, ws, [&](std::size_t, const T* in, T* out) {
        return relaxation_detail::jacobi_sweep_unchecked(A.csr(), b.data(), in, out, w, ws.partial, options.policy);
    });
}

template <class T, class I>
relaxation_result jacobi_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                               vector_view<relaxation_detail::nondeduced_t<T>> x, const relaxation_options& options = {},
                               double weight = 1.0) {
    relaxation_workspace<T> ws;
    return jacobi_solve(A, b, x, options, ws, weight);
}

/// SOR (lexicographic, forward) from the x given; omega in (0, 2).
template <class T, class I>
relaxation_result sor_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                            vector_view<relaxation_detail::nondeduced_t<T>> x, double omega, const relaxation_options& options,
                            relaxation_workspace<T>& ws, const char* f = "sor_solve") {
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_omega(omega, f);
    relaxation_detail::require_options(options, f);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const T w = static_cast<T>(omega);
    return relaxation_detail::inplace_loop(A, b.data(), x.data(), options, ws, 1, [&] {
        relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), w, sweep_direction::forward);
    });
}

template <class T, class I>
relaxation_result sor_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                            vector_view<relaxation_detail::nondeduced_t<T>> x, double omega, const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return sor_solve(A, b, x, omega, options, ws);
}

/// Gauss-Seidel (SOR with omega = 1).
template <class T, class I>
relaxation_result gauss_seidel_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                     vector_view<relaxation_detail::nondeduced_t<T>> x, const relaxation_options& options,
                                     relaxation_workspace<T>& ws) {
    return sor_solve(A, b, x, 1.0, options, ws, "gauss_seidel_solve");
}

template <class T, class I>
relaxation_result gauss_seidel_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                                     vector_view<relaxation_detail::nondeduced_t<T>> x, const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return gauss_seidel_solve(A, b, x, options, ws);
}

/// Symmetric SOR: a forward then a backward sweep per iteration; omega in (0, 2). For SPD A
/// it converges for every such omega and its iteration matrix is similar to a symmetric one.
template <class T, class I>
relaxation_result ssor_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                             vector_view<relaxation_detail::nondeduced_t<T>> x, double omega, const relaxation_options& options,
                             relaxation_workspace<T>& ws) {
    const char* f = "ssor_solve";
    relaxation_detail::require_system(A, b.size(), x.size(), f);
    relaxation_detail::require_omega(omega, f);
    relaxation_detail::require_options(options, f);
    relaxation_detail::require_distinct_finite(b.data(), b.size(), x.data(), x.size(), f);
    const T w = static_cast<T>(omega);
    return relaxation_detail::inplace_loop(A, b.data(), x.data(), options, ws, 2, [&] {
        relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), w, sweep_direction::forward);
        relaxation_detail::sor_sweep_unchecked(A.csr(), b.data(), x.data(), w, sweep_direction::backward);
    });
}

template <class T, class I>
relaxation_result ssor_solve(const relaxation_matrix<T, I>& A, vector_view<const relaxation_detail::nondeduced_t<T>> b,
                             vector_view<relaxation_detail::nondeduced_t<T>> x, double omega, const relaxation_options& options = {}) {
    relaxation_workspace<T> ws;
    return ssor_solve(A, b, x, omega, options, ws);
}

}  // namespace fixed_point
}  // namespace kestrel
