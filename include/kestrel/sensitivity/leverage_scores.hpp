// Statistical leverage scores of the rows of a tall matrix A (n x d, float or double):
//
//   exact_leverage_scores        tau_i = ||Q_i||^2 for a thin QR A P = Q R (Householder; column
//                                pivoting when A is rank-deficient); sum_i tau_i = rank(A), and
//                                tau_i = a_i^T (A^T A)^+ a_i.
//   ridge_leverage_scores        tau_i(lambda) = a_i^T (A^T A + lambda I)^{-1} a_i, lambda >= 0.
//   approximate_leverage_scores  Drineas, Magdon-Ismail, Mahoney, Woodruff, "Fast approximation
//                                of matrix coherence and statistical leverage" (JMLR 2012),
//                                Algorithm 1 with a sparse embedding (Clarkson-Woodruff
//                                CountSketch / OSNAP with s nonzeros per row of A) as the first
//                                sketch: R from a QR of S A, then tau~_i = ||a_i R^{-1} Pi||^2
//                                with Pi a d x r Gaussian Johnson-Lindenstrauss matrix scaled by
//                                1/sqrt(r). If S is a (1 +/- e) l_2 subspace embedding of A,
//                                ||a_i R^{-1}||^2 lies in [tau_i / (1 + e)^2, tau_i / (1 - e)^2]
//                                (Lemma 6 of the paper); the projection adds a (1 +/- e') JL factor
//                                with r = O(log n / e'^2).
//
// Scores are written in double (coefficient arithmetic is double for float input too).
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/error.hpp"
#include "../core/large_buffer.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "detail/alias_draws.hpp"
#include "detail/matrix_common.hpp"

namespace kestrel::sensitivity {

/// What an exact leverage computation found.
struct leverage_info {
    std::size_t rank = 0;   ///< numerical rank of A (the scores sum to it)
    bool pivoted = false;   ///< true when the column-pivoting QR was used (rank-deficient A)
};

namespace detail {

template <class Derived>
void check_scores_out(const Eigen::MatrixBase<Derived>& A, vector_view<double> scores, const char* f) {
    require_not_null(scores.data(), scores.size(), f, "scores");
    require_size(scores.size(), static_cast<std::size_t>(A.rows()), f, "scores", "A.rows()");
}

/// Thin orthonormal basis Q (n x rank) of range(A): a copy of A in double, QR'd in place.
/// Blocked Householder QR first; its Q is a basis of range(A) whenever R is invertible. A
/// pivot |R_jj| <= 1e-8 max |R_ii| means A may be (numerically) rank-deficient: the
/// column-pivoting QR (unblocked, slower) then decides the rank with Eigen's default threshold.
template <class Derived>
Eigen::MatrixXd orthonormal_basis(const Eigen::MatrixBase<Derived>& A, exec_policy policy, bool* pivoted = nullptr) {
    const Eigen::Index n = A.rows(), d = A.cols(), k = std::min(n, d);
    eigen_serial_scope threads(effective_threads(policy));
    Eigen::MatrixXd work = A.template cast<double>();
    Eigen::HouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(work);
    const Eigen::VectorXd diag = qr.matrixQR().diagonal().head(k).cwiseAbs();
    const double big = diag.maxCoeff();
    Eigen::MatrixXd Q;
    if (big > 0.0 && diag.minCoeff() > 1e-8 * big) {
        Q = Eigen::MatrixXd::Identity(n, k);
        qr.householderQ().applyThisOnTheLeft(Q);
        if (pivoted) *pivoted = false;
    } else {
        work = A.template cast<double>();
        Eigen::ColPivHouseholderQR<Eigen::Ref<Eigen::MatrixXd>> cqr(work);
        const Eigen::Index r = cqr.rank();
        Q = Eigen::MatrixXd::Identity(n, r);
        if (r > 0) cqr.householderQ().setLength(r).applyThisOnTheLeft(Q);
        if (pivoted) *pivoted = true;
    }
    return Q;
}

/// Rows per block of the tall-skinny QR: at least 1024 and 8 d (the stacked R factors are then
/// at most n / 8 rows; a block of 1024 x 50 doubles, 400 KB, stays in L2).
inline Eigen::Index tsqr_block_rows(Eigen::Index d) noexcept { return std::max<Eigen::Index>(1024, 8 * d); }

/// Leverage scores by a tall-skinny QR (Demmel, Grigori, Hoemmen and Langou, "Communication-
/// optimal parallel and sequential QR and LU factorizations", SIAM J. Sci. Comput. 2012): each
/// block of rows is QR'd on its own in cache (A_i = Q_i R_i, Householder), the stacked R_i are
/// QR'd again ([R_1; ...; R_B] = Q' R), and Q = diag(Q_i) Q' is a thin Q of A, orthonormal to
/// the working precision like a Householder QR of the whole of A. Row r of block i has
/// leverage ||(Q_i Q'_i)_r||^2, Q'_i the d rows of Q' for block i; Q is never stored. Blocks
/// are fixed by n and d (the last takes the remainder), so the scores are the same at any thread
/// count. Needs n >= 2 tsqr_block_rows(d). Returns false (out untouched) when R has a pivot
/// |R_jj| <= 1e-8 max |R_ii| (A may be rank-deficient: the caller pivots). Memory: the blocks'
/// factors (n x d doubles) and Q' (about n / 8 x d).
template <class Derived>
bool tsqr_leverage(const Eigen::MatrixBase<Derived>& A, double* out, exec_policy policy) {
    using Eigen::Index;
    const Index n = A.rows(), d = A.cols(), rows = tsqr_block_rows(d), nb = n / rows;
    auto block_start = [&](Index i) { return i * rows; };
    auto block_len = [&](Index i) { return i + 1 < nb ? rows : n - i * rows; };
    // One array for the blocks' factors (block i at rows * d * i, len x d) and one for the
    // stacked R_i and then Q': fresh arrays this large on 4 KiB pages cost a fault each (about
    // 12 us on a VM), more than the QR itself; large_buffer takes 2 MiB pages.
    kestrel::detail::large_buffer<double> factor_buf, stacked_buf, top_buf;
    double* const factor_mem = factor_buf.get(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
    using map_t = Eigen::Map<Eigen::MatrixXd>;
    auto factor = [&](Index i) { return map_t(factor_mem + i * rows * d, block_len(i), d); };
    Eigen::MatrixXd hcoeffs(d, nb);
    map_t stacked(stacked_buf.get(static_cast<std::size_t>(nb * d * d)), nb * d, d);
    parallel_for(static_cast<std::size_t>(nb), policy, [&](std::size_t b) {
        eigen_serial_scope serial;
        const Index i = static_cast<Index>(b);
        map_t f = factor(i);
        f = A.middleRows(block_start(i), block_len(i)).template cast<double>();
        Eigen::HouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(f);
        hcoeffs.col(i) = qr.hCoeffs();
        stacked.middleRows(i * d, d) = f.topRows(d).template triangularView<Eigen::Upper>();
    });
    map_t top(top_buf.get(static_cast<std::size_t>(nb * d * d)), nb * d, d);  // Q'
    {
        eigen_serial_scope threads(effective_threads(policy));
        Eigen::HouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(stacked);
        const Eigen::VectorXd diag = qr.matrixQR().diagonal().cwiseAbs();
        const double big = diag.maxCoeff();
        if (!(big > 0.0 && diag.minCoeff() > 1e-8 * big)) return false;
        top.setIdentity();
        qr.householderQ().applyThisOnTheLeft(top);
    }
    auto scratch = slot_scratch(policy);
    parallel_for(static_cast<std::size_t>(nb), policy, [&](std::size_t b) {
        eigen_serial_scope serial;
        const Index i = static_cast<Index>(b), r0 = block_start(i), len = block_len(i);
        Eigen::MatrixXd& q = scratch[static_cast<std::size_t>(current_loop_slot())];
        q.setZero(len, d);
        q.topRows(d) = top.middleRows(i * d, d);
        const map_t f = factor(i);
        Eigen::householderSequence(f, hcoeffs.col(i)).applyThisOnTheLeft(q);  // Q_i [Q'_i; 0]
        for (Index r = 0; r < len; ++r) out[r0 + r] = q.row(r).squaredNorm();
    });
    return true;
}

/// Exact leverage scores into `out` (n doubles): tau_i = ||Q_i||^2. Tall A (n >= 2
/// tsqr_block_rows(d)) of full rank: the tall-skinny QR, memory about 1.1 n x d doubles;
/// otherwise one n x d and one n x rank matrix of doubles.
template <class Derived>
leverage_info exact_leverage_unchecked(const Eigen::MatrixBase<Derived>& A, double* out, exec_policy policy) {
    const Eigen::Index n = A.rows();
    leverage_info info;
    if (n >= 2 * tsqr_block_rows(A.cols()) && tsqr_leverage(A, out, policy)) {
        info.rank = static_cast<std::size_t>(A.cols());
        return info;
    }
    const Eigen::MatrixXd Q = orthonormal_basis(A, policy, &info.pivoted);
    info.rank = static_cast<std::size_t>(Q.cols());
    parallel_for(matrix_block_count(n), policy, [&](std::size_t b) {
        const Eigen::Index r0 = static_cast<Eigen::Index>(b) * matrix_block_rows;
        const Eigen::Index r1 = std::min(n, r0 + matrix_block_rows);
        for (Eigen::Index i = r0; i < r1; ++i) out[i] = Q.row(i).squaredNorm();
    });
    return info;
}

}  // namespace detail

/// Exact leverage scores: scores[i] = ||Q_i||^2 for a thin Householder QR of A (column
/// pivoting when A is rank-deficient). They equal a_i^T (A^T A)^+ a_i and sum to rank(A).
/// A: n x d (any n, d >= 1), finite. Memory: one n x d and one n x rank matrix of doubles.
template <class Derived>
leverage_info exact_leverage_scores(const Eigen::MatrixBase<Derived>& A, vector_view<double> scores,
                                    exec_policy policy = {}) {
    const char* f = "exact_leverage_scores";
    detail::check_matrix(A, f, "A", false, policy);
    detail::check_scores_out(A, scores, f);
    // Scores go to scratch first (scores may share memory with A) on 2 MiB pages (a fresh
    // n-double vector costs a 4 KiB page fault per 512 scores, about 12 us each on a VM).
    kestrel::detail::large_buffer<double> out;
    const leverage_info info = detail::exact_leverage_unchecked(A, out.get(scores.size()), policy);
    std::copy(out.data(), out.data() + scores.size(), scores.data());
    return info;
}

/// Ridge leverage scores tau_i(lambda) = a_i^T (A^T A + lambda I)^{-1} a_i, lambda >= 0 finite
/// (lambda = 0 gives exact_leverage_scores). Computed from the Cholesky factor of the Gram
/// matrix A^T A + lambda I (one pass over A for the Gram, one for the scores; no copy of A),
/// so the relative accuracy is about 1e-16 * cond(A^T A + lambda I). Refuses a lambda so small
/// against ||A||^2 that A^T A + lambda I is not numerically positive definite.
template <class Derived>
void ridge_leverage_scores(const Eigen::MatrixBase<Derived>& A, double lambda, vector_view<double> scores,
                           exec_policy policy = {}) {
    const char* f = "ridge_leverage_scores";
    require(std::isfinite(lambda) && lambda >= 0.0, f, "lambda", "must be finite and >= 0, got ", lambda);
    detail::check_matrix(A, f, "A", false, policy);
    detail::check_scores_out(A, scores, f);
    if (lambda == 0.0) {
        std::vector<double> out(static_cast<std::size_t>(A.rows()));
        detail::exact_leverage_unchecked(A, out.data(), policy);
        std::copy(out.begin(), out.end(), scores.data());
        return;
    }
    Eigen::MatrixXd G = detail::weighted_gram(A, nullptr, policy);
    G.diagonal().array() += lambda;
    Eigen::MatrixXd L;
    require(detail::safe_cholesky(G, L, 1e-15), f, "lambda", lambda,
            " is too small against ||A||^2: A^T A + lambda I is not numerically positive definite");
    std::vector<double> out(static_cast<std::size_t>(A.rows()));
    detail::quadratic_form_scores(A, L, out.data(), policy, [](double v, Eigen::Index) { return v; });
    std::copy(out.begin(), out.end(), scores.data());
}

/// Settings of approximate_leverage_scores.
struct approximate_leverage_options {
    /// Target relative accuracy; sets the defaults of sketch_rows and jl_dimension.
    double epsilon = 0.5;
    /// Rows k of the sparse embedding S; 0: ceil(8 d / epsilon^2), at least d + 1 (the sketch
    /// costs n s d operations whatever k is; k enters only the small QR of S A).
    std::size_t sketch_rows = 0;
    /// Nonzeros of S per row of A, 1..4 (1 is CountSketch; s > 1 splits the k rows into s
    /// groups and hashes each row of A into one row per group, OSNAP-style), values +-1/sqrt(s).
    int sketch_nonzeros = 4;
    /// Columns r of the Gaussian JL projection; 0: ceil(8 ln(n) / epsilon^2), and the projection
    /// is skipped (scores ||a_i R^{-1}||^2 computed exactly) when that r is >= rank, where it
    /// would cost more and be less accurate. A value > 0 always projects with that r.
    std::size_t jl_dimension = 0;
    /// Seed of the counter-based randomness (hashes, signs, Gaussian entries).
    std::uint64_t seed = 0;
};

/// What an approximate leverage computation used.
struct approximate_leverage_info {
    std::size_t rank = 0;          ///< rank of S A (the estimates sum to about rank(A))
    std::size_t sketch_rows = 0;   ///< k
    std::size_t jl_dimension = 0;  ///< r, 0 when no projection was applied
    std::size_t passes = 0;        ///< passes over A (the sketch, which also checks finiteness, and the scores)
};

namespace detail {

/// Row i of A goes to row g * (k / s) + (h_g(i) mod (k / s)) of S A in each group g < s, with
/// sign bit g of a second word; all from one Philox block of stream 0 and one of stream 1.
template <class Derived>
Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> sparse_sketch(
    const Eigen::MatrixBase<Derived>& A, std::size_t k, int s, const counter_rng& hash_rng,
    const counter_rng& sign_rng, exec_policy policy) {
    using rowmat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Index n = A.rows(), d = A.cols();
    const std::size_t group = k / static_cast<std::size_t>(s);
    const double val = 1.0 / std::sqrt(static_cast<double>(s));
    // Partials per part; the part layout depends on n only (at most 16 parts).
    const std::size_t nblocks = matrix_block_count(n);
    const std::size_t parts = std::min<std::size_t>(16, nblocks);
    // Rows of a block are read as rows (a row-major copy of the block, so each row is 50
    // contiguous doubles rather than 50 loads 8 KB apart), and their hash and sign words come
    // from the word-sliced Philox of `philox_rows` rows at a time (the bits of counter_rng::block).
    constexpr std::size_t philox_rows = 64;
    std::vector<rowmat> scratch(static_cast<std::size_t>(std::max(1, effective_threads(policy))));
    auto col_scratch = slot_scratch(policy);
    // The parts' sketches side by side in one array on 2 MiB pages, added in part order at the
    // end (a fresh k x d matrix per part and per addition faulted in 4 KiB pages, about 12 us
    // each on a VM: 30 ms a call at k = 800, d = 50).
    const std::size_t part_size = k * static_cast<std::size_t>(d);
    kestrel::detail::large_buffer<double> part_buf;
    double* const part_mem = part_buf.get(parts * part_size);
    using rowmap = Eigen::Map<rowmat>;
    parallel_for(parts, policy, [&](std::size_t part) {
        eigen_serial_scope serial;
        rowmat& buf = scratch[static_cast<std::size_t>(current_loop_slot())];
        Eigen::MatrixXd& cm = col_scratch[static_cast<std::size_t>(current_loop_slot())];
        rowmap SA(part_mem + part * part_size, static_cast<Eigen::Index>(k), d);
        SA.setZero();
        const block_range br = block_bounds(nblocks, parts, part);
        std::uint32_t hw[4][philox_rows], sw[4][philox_rows];
        for (std::size_t b = br.begin; b < br.end; ++b) {
            const Eigen::Index r0 = static_cast<Eigen::Index>(b) * matrix_block_rows;
            const Eigen::Index len = std::min(matrix_block_rows, n - r0);
            // Columns copied as columns (contiguous reads of a column-major A; a direct
            // row-major copy read A entry by entry 8 MB apart), then transposed in cache.
            // The copy's columns are len + 8 doubles apart: at len (8 KB, a multiple of
            // 4 KB) a row's d entries all fall in one L1 set and evict each other.
            cm.resize(len + 8, d);
            Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>> cols(cm.data(), len, d, Eigen::OuterStride<>(len + 8));
            cols = A.middleRows(r0, len).template cast<double>();
            buf.resize(len, d);
            buf.noalias() = cols;
            for (Eigen::Index c0 = 0; c0 < len; c0 += static_cast<Eigen::Index>(philox_rows)) {
                const std::uint64_t first = static_cast<std::uint64_t>(r0 + c0);
                philox_words(hash_rng, first, hw);
                philox_words(sign_rng, first, sw);
                const Eigen::Index c1 = std::min(len, c0 + static_cast<Eigen::Index>(philox_rows));
                for (Eigen::Index i = c0; i < c1; ++i) {
                    const std::size_t j = static_cast<std::size_t>(i - c0);
                    const std::uint32_t sg = sw[0][j];
                    for (int g = 0; g < s; ++g) {
                        const std::size_t row = static_cast<std::size_t>(g) * group + hw[g][j] % group;
                        const double v = ((sg >> g) & 1u) ? val : -val;
                        SA.row(static_cast<Eigen::Index>(row)) += v * buf.row(i);
                    }
                }
            }
        }
    });
    rowmat total = rowmat::Zero(static_cast<Eigen::Index>(k), d);
    for (std::size_t part = 0; part < parts; ++part)
        total += rowmap(part_mem + part * part_size, static_cast<Eigen::Index>(k), d);
    return total;
}

}  // namespace detail

/// Approximate leverage scores (Drineas et al. 2012, Algorithm 1, with a sparse embedding as
/// the first sketch; see the header comment). Reads A in two passes (the sketch, which also
/// decides that A is finite, and the scores), in parallel over fixed row blocks; no copy of A. The same scores at any
/// thread count for a given seed.
template <class Derived>
approximate_leverage_info approximate_leverage_scores(const Eigen::MatrixBase<Derived>& A, vector_view<double> scores,
                                                      const approximate_leverage_options& options = {},
                                                      exec_policy policy = {}) {
    const char* f = "approximate_leverage_scores";
    require(std::isfinite(options.epsilon) && options.epsilon > 0.0 && options.epsilon < 1.0, f, "options.epsilon",
            "must lie in (0, 1), got ", options.epsilon);
    require(options.sketch_nonzeros >= 1 && options.sketch_nonzeros <= 4, f, "options.sketch_nonzeros",
            "must lie in [1, 4], got ", options.sketch_nonzeros);
    detail::check_matrix_shape(A, f, "A", false, policy);
    detail::check_scores_out(A, scores, f);
    const Eigen::Index n = A.rows(), d = A.cols();
    const int s = options.sketch_nonzeros;
    std::size_t k = options.sketch_rows;
    if (k == 0)
        k = std::max<std::size_t>(static_cast<std::size_t>(d) + 1,
                                  static_cast<std::size_t>(std::ceil(8.0 * static_cast<double>(d) /
                                                                     (options.epsilon * options.epsilon))));
    require(k >= static_cast<std::size_t>(s), f, "options.sketch_rows", "must be >= sketch_nonzeros (", s, "), got ", k);
    require(k <= (std::size_t(1) << 26), f, "options.sketch_rows", "must be <= 2^26, got ", k);
    checked_product(k, static_cast<std::size_t>(d), f, "options.sketch_rows");
    k = k / static_cast<std::size_t>(s) * static_cast<std::size_t>(s);
    require(options.jl_dimension <= (std::size_t(1) << 20), f, "options.jl_dimension", "must be <= 2^20, got ",
            options.jl_dimension);

    const counter_rng rng(options.seed);
    auto SA = detail::sparse_sketch(A, k, s, rng.substream(0), rng.substream(1), policy);
    // The sketch is A's finiteness check: a NaN or infinite entry of A leaves a NaN or infinity
    // in S A (no sum of it is finite again), so a finite S A means a finite A, and only then
    // is A scanned, to name the entry (or to refuse entries so large that S A overflowed).
    if (!SA.allFinite()) {
        detail::check_matrix_finite(A, f, "A", policy);
        fail_argument(f, "A", "has entries so large that the sketch S A overflowed (max |entry| ",
                      A.cwiseAbs().maxCoeff(), ")");
    }

    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Eigen::MatrixXd(SA.template cast<double>()));
    const Eigen::Index r = qr.rank();
    approximate_leverage_info info;
    info.rank = static_cast<std::size_t>(r);
    info.sketch_rows = k;
    info.passes = 2;
    if (r == 0) {  // A == 0
        std::fill(scores.data(), scores.data() + scores.size(), 0.0);
        return info;
    }
    kestrel::detail::large_buffer<double> out_buf;  // as in exact_leverage_scores
    double* const out = out_buf.get(static_cast<std::size_t>(n));
    const Eigen::MatrixXd R11 = qr.matrixR().topLeftCorner(r, r).template triangularView<Eigen::Upper>();
    const auto& perm = qr.colsPermutation().indices();

    std::size_t q = options.jl_dimension;
    if (q == 0) {
        q = static_cast<std::size_t>(std::ceil(8.0 * std::log(std::max<double>(2.0, static_cast<double>(n))) /
                                               (options.epsilon * options.epsilon)));
        if (q >= static_cast<std::size_t>(r)) q = 0;
    }
    info.jl_dimension = q;
    // Z = P_{:, 1:r} R11^{-1} Pi / sqrt(q) (d x q), or P_{:, 1:r} R11^{-1} (d x r) without the
    // projection, so that the score of row i is ||a_i Z||^2: one matrix product per block.
    Eigen::MatrixXd T;  // R11^{-1} Pi / sqrt(q), or R11^{-1}
    if (q > 0) {
        const counter_rng g = rng.substream(2);
        T.resize(r, static_cast<Eigen::Index>(q));
        for (Eigen::Index a = 0; a < r; ++a)
            for (Eigen::Index b = 0; b < static_cast<Eigen::Index>(q); ++b) {
                const std::uint64_t idx = static_cast<std::uint64_t>(a) * q + static_cast<std::uint64_t>(b);
                const auto z = g.normal_pair(idx / 2);
                T(a, b) = (idx % 2 == 0 ? z.first : z.second);
            }
        T /= std::sqrt(static_cast<double>(q));
    } else {
        T = Eigen::MatrixXd::Identity(r, r);
    }
    R11.triangularView<Eigen::Upper>().solveInPlace(T);
    Eigen::MatrixXd Z = Eigen::MatrixXd::Zero(d, T.cols());
    for (Eigen::Index j = 0; j < r; ++j) Z.row(perm[j]) = T.row(j);
    std::vector<Eigen::MatrixXd> yp(static_cast<std::size_t>(std::max(1, effective_threads(policy))));
    detail::for_row_blocks(A, policy, [&](Eigen::Index r0, Eigen::Index len, Eigen::MatrixXd& blk) {
        Eigen::MatrixXd& Y = yp[static_cast<std::size_t>(current_loop_slot())];
        Y.resize(len, Z.cols());
        Y.noalias() = blk * Z;
        // Row norms of the column-major Y column by column (no strided row reads).
        Eigen::Map<Eigen::VectorXd>(out + r0, len) = Y.array().square().rowwise().sum();
    });
    std::copy(out, out + n, scores.data());
    return info;
}

}  // namespace kestrel::sensitivity
