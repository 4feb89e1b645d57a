// Internals shared by the matrix part of the sensitivity family (leverage scores, Lewis
// weights, l_p sampling, least squares from few samples, distortion). Not public API.
//
// A is any Eigen dense expression with float or double coefficients (Matrix, Map, Ref, a
// block), read in fixed blocks of rows that are converted to double in a per-thread scratch
// matrix: no n x d copy of A is made except where a function says so (exact QR). Block
// boundaries depend on n only, and every reduction combines its block partials in block order,
// so results are identical at any thread count.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../../core/config.hpp"
#include "../../core/error.hpp"
#include "../../core/parallel.hpp"

#if KESTREL_HAS_OPENMP
#include <omp.h>
#endif

namespace kestrel::sensitivity::detail {

/// Rows per block of every pass over A (the block in double, len x d, stays in cache for d <= 64).
inline constexpr Eigen::Index matrix_block_rows = 1024;

inline std::size_t matrix_block_count(Eigen::Index n) noexcept {
    return static_cast<std::size_t>((n + matrix_block_rows - 1) / matrix_block_rows);
}

/// Keeps Eigen's products single-threaded on this thread while it lives (they run inside
/// Kestrel's loops; Eigen built with OpenMP would otherwise open a team per product), or at
/// `threads` threads for a top-level Eigen decomposition. The OpenMP thread-count setting is
/// per thread and restored on exit.
class eigen_serial_scope {
public:
#if KESTREL_HAS_OPENMP
    explicit eigen_serial_scope(int threads = 1) : saved_(omp_get_max_threads()) {
        omp_set_num_threads(std::max(1, threads));
    }
    ~eigen_serial_scope() { omp_set_num_threads(saved_); }

private:
    int saved_;

public:
#else
    explicit eigen_serial_scope(int threads = 1) { (void)threads; }
#endif
    eigen_serial_scope(const eigen_serial_scope&) = delete;
    eigen_serial_scope& operator=(const eigen_serial_scope&) = delete;
};

template <class Derived>
constexpr void static_check_scalar() {
    using S = typename Derived::Scalar;
    static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                  "kestrel::sensitivity: the matrix must hold float or double");
}

/// Checks the shape (n >= 1, d >= 1, and n >= d when `tall`) and that every entry is finite;
/// names the first non-finite entry (row-major order of blocks, column-major inside a block).
template <class Derived>
void check_matrix_shape(const Eigen::MatrixBase<Derived>& A, const char* function, const char* argument, bool tall,
                        exec_policy policy) {
    static_check_scalar<Derived>();
    require_valid_policy(policy, function);
    const Eigen::Index n = A.rows(), d = A.cols();
    require(n >= 1 && d >= 1, function, argument, "is empty (", n, " x ", d, ")");
    if (tall) require(n >= d, function, argument, "has fewer rows than columns (", n, " x ", d, "); need n >= d");
    checked_product(static_cast<std::size_t>(n), static_cast<std::size_t>(d), function, argument);
}

/// The finiteness part of check_matrix (one pass over A).
template <class Derived>
void check_matrix_finite(const Eigen::MatrixBase<Derived>& A, const char* function, const char* argument,
                         exec_policy policy) {
    const Eigen::Index n = A.rows(), d = A.cols();
    const std::size_t nb = matrix_block_count(n);
    const std::size_t none = SIZE_MAX;
    const std::size_t bad = deterministic_reduce(
        nb, policy, none,
        [&](std::size_t b) -> std::size_t {
            const Eigen::Index r0 = static_cast<Eigen::Index>(b) * matrix_block_rows;
            const Eigen::Index len = std::min(matrix_block_rows, n - r0);
            const auto blk = A.middleRows(r0, len);
            // x * 0 is 0 for a finite x and NaN otherwise: sums of it in 8 independent
            // accumulators decide the block (vectorizable without reassociation; allFinite
            // tests entry by entry and took as long as the sketch pass it guards).
            using S = typename Derived::Scalar;
            S acc[8] = {};
            for (Eigen::Index j = 0; j < d; ++j) {
                const auto c = blk.col(j);
                Eigen::Index i = 0;
                for (; i + 8 <= len; i += 8)
                    for (int l = 0; l < 8; ++l) acc[l] += c.coeff(i + l) * S(0);
                for (; i < len; ++i) acc[0] += c.coeff(i) * S(0);
            }
            S total = S(0);
            for (int l = 0; l < 8; ++l) total += acc[l];
            if (total == S(0)) return none;
            for (Eigen::Index i = 0; i < len; ++i)
                for (Eigen::Index j = 0; j < d; ++j)
                    if (!std::isfinite(blk(i, j))) return static_cast<std::size_t>((r0 + i) * d + j);
            return none;
        },
        [](std::size_t a, std::size_t b) { return std::min(a, b); });
    if (bad != none) {
        const std::size_t i = bad / static_cast<std::size_t>(d), j = bad % static_cast<std::size_t>(d);
        fail_argument(function, argument, "entry (", i, ", ", j, ") is ",
                      static_cast<double>(A(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j))),
                      " (entries must be finite)");
    }
}

template <class Derived>
void check_matrix(const Eigen::MatrixBase<Derived>& A, const char* function, const char* argument, bool tall,
                  exec_policy policy) {
    check_matrix_shape(A, function, argument, tall, policy);
    check_matrix_finite(A, function, argument, policy);
}

/// Rows [r0, r0 + len) of A in double, in `out` (resized; reused across blocks by a thread).
template <class Derived>
void load_rows(const Eigen::MatrixBase<Derived>& A, Eigen::Index r0, Eigen::Index len, Eigen::MatrixXd& out) {
    out.resize(len, A.cols());
    out.noalias() = A.middleRows(r0, len).template cast<double>();
}

/// One scratch matrix per thread slot of a loop run with `policy`.
inline std::vector<Eigen::MatrixXd> slot_scratch(exec_policy policy) {
    return std::vector<Eigen::MatrixXd>(static_cast<std::size_t>(std::max(1, effective_threads(policy))));
}

/// Calls body(r0, len, Ablock_in_double) for every row block, in parallel.
template <class Derived, class Body>
void for_row_blocks(const Eigen::MatrixBase<Derived>& A, exec_policy policy, Body&& body) {
    const Eigen::Index n = A.rows();
    auto scratch = slot_scratch(policy);
    parallel_for(matrix_block_count(n), policy, [&](std::size_t b) {
        eigen_serial_scope serial;
        Eigen::MatrixXd& buf = scratch[static_cast<std::size_t>(current_loop_slot())];
        const Eigen::Index r0 = static_cast<Eigen::Index>(b) * matrix_block_rows;
        const Eigen::Index len = std::min(matrix_block_rows, n - r0);
        load_rows(A, r0, len, buf);
        body(r0, len, buf);
    });
}

/// G = sum_i c_i a_i a_i^T (c = nullptr: all ones; c_i >= 0), in double, blocks combined in
/// order. Lower and upper triangles both filled.
template <class Derived>
Eigen::MatrixXd weighted_gram(const Eigen::MatrixBase<Derived>& A, const double* c, exec_policy policy) {
    const Eigen::Index n = A.rows(), d = A.cols();
    auto scratch = slot_scratch(policy);
    Eigen::MatrixXd G = deterministic_reduce(
        matrix_block_count(n), policy, Eigen::MatrixXd(Eigen::MatrixXd::Zero(d, d)),
        [&](std::size_t b) -> Eigen::MatrixXd {
            eigen_serial_scope serial;
            Eigen::MatrixXd& buf = scratch[static_cast<std::size_t>(current_loop_slot())];
            const Eigen::Index r0 = static_cast<Eigen::Index>(b) * matrix_block_rows;
            const Eigen::Index len = std::min(matrix_block_rows, n - r0);
            load_rows(A, r0, len, buf);
            if (c != nullptr)
                for (Eigen::Index i = 0; i < len; ++i) buf.row(i) *= std::sqrt(c[r0 + i]);
            Eigen::MatrixXd g(d, d);
            g.noalias() = buf.transpose() * buf;
            return g;
        },
        [](Eigen::MatrixXd acc, const Eigen::MatrixXd& g) {
            acc += g;
            return acc;
        });
    return G;
}

/// Writes out[i] = || a_i^T L^{-T} ||^2 = a_i^T (L L^T)^{-1} a_i for every row (L lower
/// triangular d x d, invertible), then applies `transform` to each value.
template <class Derived, class Transform>
void quadratic_form_scores(const Eigen::MatrixBase<Derived>& A, const Eigen::MatrixXd& L, double* out,
                           exec_policy policy, Transform&& transform) {
    for_row_blocks(A, policy, [&](Eigen::Index r0, Eigen::Index len, Eigen::MatrixXd& blk) {
        // blk * U^{-1} with U = L^T upper triangular: the rows become L^{-1} a_i.
        L.transpose().triangularView<Eigen::Upper>().template solveInPlace<Eigen::OnTheRight>(blk);
        for (Eigen::Index i = 0; i < len; ++i) out[r0 + i] = transform(blk.row(i).squaredNorm(), r0 + i);
    });
}

/// Cholesky factor L of a symmetric positive definite d x d matrix M, or false when M is not
/// numerically positive definite. The test is scale-invariant: the smallest squared pivot of
/// the unit-diagonal matrix D^{-1/2} M D^{-1/2} (D = diag M) must exceed `rel` (a zero
/// diagonal entry fails). That scaled matrix has condition number about cond(A)^2 / column
/// scaling, so rel = 1e-13 refuses A with cond(A) beyond ~3e6 after column equilibration.
inline bool safe_cholesky(const Eigen::MatrixXd& M, Eigen::MatrixXd& L, double rel = 1e-13) {
    const Eigen::Index d = M.rows();
    if (!M.allFinite()) return false;
    Eigen::VectorXd s(d);
    for (Eigen::Index j = 0; j < d; ++j) {
        if (!(M(j, j) > 0.0)) return false;
        s(j) = 1.0 / std::sqrt(M(j, j));
    }
    const Eigen::MatrixXd S = s.asDiagonal() * M * s.asDiagonal();
    Eigen::LLT<Eigen::MatrixXd> scaled(S);
    if (scaled.info() != Eigen::Success) return false;
    const Eigen::VectorXd piv = Eigen::MatrixXd(scaled.matrixL()).diagonal();
    if (!(piv.minCoeff() * piv.minCoeff() > rel)) return false;
    Eigen::LLT<Eigen::MatrixXd> llt(M);
    if (llt.info() != Eigen::Success) return false;
    L = llt.matrixL();
    return true;
}

}  // namespace kestrel::sensitivity::detail
