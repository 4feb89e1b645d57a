// Squared Euclidean distances between points and centers, for k-means (z = 2) and k-median
// (z = 1) costs: the Gram form ||x||^2 + ||c||^2 - 2 x.c on blocks of points (the n*k*d
// multiply-adds at GEMM speed: a register-tiled product in the nearest-center search,
// Eigen's matrix product in pairwise_squared_distances), and the exact direct form
// sum_t (x_t - c_t)^2.
//
// When each form is used (and why):
//  * The Gram form loses accuracy by cancellation when a distance is small relative to the
//    norms: its absolute error is about eps * (||x||^2 + ||c||^2) (eps of T), so a point 1e4
//    from the origin and 1 from its center gets no correct digit in float. It is used only
//    to FIND the nearest center (a wrong choice is possible only between centers whose
//    distances differ by less than that error) and clamped at 0.
//  * Every distance that enters a cost, a sampling probability or a sensitivity is then
//    recomputed exactly in double by the direct form for the chosen center (d extra
//    multiply-adds per point, against k*d for the search): costs and sensitivities have
//    full relative accuracy whatever the offset of the data.
//  * A caller that keeps a new center only if it is strictly closer than the current one
//    may skip that recomputation when the Gram-form distance exceeds the current one by
//    more than the form's error bound (nearest_search::assign_if_closer, given ||x||^2): the
//    result is the same as with the recomputation. The bicriteria seeding does not use it:
//    at n = 10^6, d = 16 on 2 threads the extra ||x||^2 stream cost what the skipped
//    distances saved (measured under load, 2026-12-02).
//  * pairwise_squared_distances(..., distance_form::exact) gives the direct form for every
//    pair (for a user who needs every distance accurate).
//
// Points are an n x d row-major matrix_view (float or double, any row stride); point weights
// are an optional vector_view (empty = every weight 1). k-median costs take sqrt of the
// squared distance.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace sensitivity {

/// Which formula pairwise_squared_distances uses.
enum class distance_form {
    gram,   ///< ||x||^2 + ||c||^2 - 2 x.c by matrix product, clamped at 0 (fast; see header)
    exact,  ///< sum_t (x_t - c_t)^2 accumulated in double (no cancellation)
};

namespace detail {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using const_rows_map = Eigen::Map<const row_matrix<T>, 0, Eigen::OuterStride<>>;
template <class T>
using const_row_map = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

/// Rows [r0, r1) of X as an Eigen map (no copy).
template <class T>
const_rows_map<T> rows_map(const_matrix_view<T> X, std::size_t r0, std::size_t r1) {
    return const_rows_map<T>(X.row_data(r0), static_cast<Eigen::Index>(r1 - r0), static_cast<Eigen::Index>(X.cols()),
                             Eigen::OuterStride<>(static_cast<Eigen::Index>(X.row_stride())));
}

template <class T>
const_row_map<T> row_map(const T* p, std::size_t d) {
    return const_row_map<T>(p, static_cast<Eigen::Index>(d));
}

/// Exact squared distance in double (direct form): eight independent double accumulators
/// over blocks of eight coordinates (the compiler turns each block into one widening SIMD
/// step; Eigen's cast expression measured 1.7x slower for the whole float search at d = 64),
/// summed pairwise, then the tail.
template <class T>
inline double exact_squared_distance(const T* x, const T* c, std::size_t d) noexcept {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t t = 0;
    for (; t + 8 <= d; t += 8)
        for (std::size_t l = 0; l < 8; ++l) {
            const double v = static_cast<double>(x[t + l]) - static_cast<double>(c[t + l]);
            acc[l] += v * v;
        }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; t < d; ++t) {
        const double v = static_cast<double>(x[t]) - static_cast<double>(c[t]);
        s += v * v;
    }
    return s;
}

/// ||x||^2 in double, accumulated as exact_squared_distance does.
template <class T>
inline double exact_squared_norm(const T* x, std::size_t d) noexcept {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t t = 0;
    for (; t + 8 <= d; t += 8)
        for (std::size_t l = 0; l < 8; ++l) acc[l] += static_cast<double>(x[t + l]) * static_cast<double>(x[t + l]);
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; t < d; ++t) s += static_cast<double>(x[t]) * static_cast<double>(x[t]);
    return s;
}

/// Direct-form squared distance in T (no cancellation: relative error at most about
/// (d + 2) eps of T), vectorized by Eigen; the seeding's per-center pass uses it.
template <class T>
inline double direct_squared_distance(const T* x, const T* c, std::size_t d) noexcept {
    return static_cast<double>((row_map(x, d) - row_map(c, d)).squaredNorm());
}

/// d^z from a squared distance (z = 1: sqrt, z = 2: itself).
inline double power_from_squared(double d2, int z) noexcept { return z == 2 ? d2 : std::sqrt(d2); }

/// Keeps Eigen's matrix product single-threaded on the calling thread while it lives: the
/// products here run inside Kestrel's own parallel loops, and Eigen built with OpenMP would
/// otherwise open an OpenMP team per call (oversubscription). Eigen reads
/// omp_get_max_threads() per product unless the user fixed Eigen::setNbThreads; the setting
/// is per thread and restored on exit.
class eigen_single_thread_guard {
public:
#if KESTREL_HAS_OPENMP
    eigen_single_thread_guard() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
    ~eigen_single_thread_guard() { omp_set_num_threads(saved_); }

private:
    int saved_;

public:
#else
    eigen_single_thread_guard() {}  // user-provided: no unused-variable warning at the call sites
#endif
    eigen_single_thread_guard(const eigen_single_thread_guard&) = delete;
    eigen_single_thread_guard& operator=(const eigen_single_thread_guard&) = delete;
};

/// Rows per Gram block: the block of points (and the block x k product) stays in cache.
inline constexpr std::size_t gram_block_rows = 256;
/// Points per block of every fixed-order reduction (block boundaries depend on n only).
inline constexpr std::size_t reduce_block = 4096;

inline void require_z(int z, const char* function) {
    require(z == 1 || z == 2, function, "z", "must be 1 (k-median) or 2 (k-means), got ", z);
}

/// Throws for the first non-finite coordinate in row order, searching only the blocks of
/// reduce_block rows flagged in bad (bad[b] != 0: block b holds one).
template <class T>
void report_bad_coordinate(const_matrix_view<T> X, const std::vector<char>& bad, const char* function) {
    const std::size_t n = X.rows(), d = X.cols();
    for (std::size_t b = 0; b < bad.size(); ++b) {
        if (!bad[b]) continue;
        for (std::size_t i = b * reduce_block; i < std::min(n, (b + 1) * reduce_block); ++i) {
            const T* x = X.row_data(i);
            for (std::size_t t = 0; t < d; ++t)
                if (!std::isfinite(x[t]))
                    fail_argument(function, "points", "coordinate (", i, ", ", t, ") is ", x[t], " (must be finite)");
        }
    }
}

/// Checks the shape of a points matrix (n >= 1, d >= 1) and the optional weights (empty, or
/// n finite entries >= 0 with a positive finite total), not the coordinates. Returns the
/// total weight.
template <class T>
double validate_shape_and_weights(const_matrix_view<T> X, vector_view<const T> w, const char* function) {
    require(X.rows() >= 1, function, "points", "has no rows (n = 0)");
    require(X.cols() >= 1, function, "points", "has no columns (d = 0)");
    const std::size_t n = X.rows();
    if (w.empty()) return static_cast<double>(n);
    require_size(w.size(), n, function, "weights", "points.rows()");
    double total = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!(w[i] >= T(0)) || !std::isfinite(w[i]))
            fail_argument(function, "weights", "entry ", i, " is ", w[i], " (weights must be finite and >= 0)");
        total += static_cast<double>(w[i]);
    }
    require(total > 0.0 && std::isfinite(total), function, "weights", "total weight is ", total,
            " (must be finite and > 0)");
    return total;
}

/// Checks a points matrix (n >= 1, d >= 1, every coordinate finite) and the optional weights
/// (empty, or n finite entries >= 0 with a positive finite total). Returns the total weight.
/// The coordinates are checked on `policy`'s threads (callers validate the policy first).
template <class T>
double validate_points(const_matrix_view<T> X, vector_view<const T> w, const char* function,
                       exec_policy policy = exec_policy::serial()) {
    require(X.rows() >= 1, function, "points", "has no rows (n = 0)");
    require(X.cols() >= 1, function, "points", "has no columns (d = 0)");
    const std::size_t n = X.rows(), d = X.cols();
    // Blocks of rows checked in parallel without branches (|x| <= max is false for inf and
    // NaN); the first bad block is then searched serially for the message.
    const std::size_t blocks = (n + reduce_block - 1) / reduce_block;
    std::vector<char> bad(blocks, 0);
    parallel_for(blocks, policy, [&](std::size_t b) {
        const std::size_t e = std::min(n, (b + 1) * reduce_block);
        bool ok = true;
        for (std::size_t i = b * reduce_block; i < e; ++i) {
            const T* x = X.row_data(i);
            for (std::size_t t = 0; t < d; ++t) ok &= std::abs(x[t]) <= std::numeric_limits<T>::max();
        }
        bad[b] = ok ? 0 : 1;
    });
    report_bad_coordinate(X, bad, function);
    return validate_shape_and_weights(X, w, function);
}

/// Checks centers against points (same d, k >= 1, finite).
template <class T>
void validate_centers(const_matrix_view<T> C, std::size_t d, const char* function) {
    require(C.rows() >= 1, function, "centers", "has no rows (k = 0)");
    require(C.cols() == d, function, "centers", "has ", C.cols(), " columns, points have ", d);
    for (std::size_t j = 0; j < C.rows(); ++j)
        for (std::size_t t = 0; t < d; ++t)
            if (!std::isfinite(C(j, t)))
                fail_argument(function, "centers", "coordinate (", j, ", ", t, ") is ", C(j, t), " (must be finite)");
}

/// True if every row equals row 0 exactly.
template <class T>
bool all_rows_identical(const_matrix_view<T> X) {
    const std::size_t d = X.cols();
    for (std::size_t i = 1; i < X.rows(); ++i)
        for (std::size_t t = 0; t < d; ++t)
            if (X(i, t) != X(0, t)) return false;
    return true;
}

/// Weight of point i (1 when the weights are empty).
template <class T>
inline double weight_of(vector_view<const T> w, std::size_t i) noexcept {
    return w.empty() ? 1.0 : static_cast<double>(w[i]);
}

/// Nearest-center search for blocks of points against fixed centers. Construct once per
/// center set (precomputes ||c||^2 and -2 C transposed), then call assign() on row ranges
/// from any thread with one scratch matrix per thread slot / chunk.
///
/// Per block of gram_block_rows points: G(i, j) = -2 x_i.c_j by a register-tiled product
/// (6 points x 2 SIMD batches of centers per tile; each coordinate of a point is broadcast
/// from the user's rows, the centers are stored transposed and padded, so the points are
/// never copied or repacked), then per point a SIMD pass takes the minimum of
/// ||c_j||^2 + G(i, j) over j (||x||^2 is common to every center) and a second SIMD pass
/// finds the lowest j reaching it. The centers are padded to a multiple of the SIMD width
/// with ||c||^2 = +inf, so the padding never wins. Only the winner's distance is then
/// recomputed exactly in double (d multiply-adds against the k d of the product).
template <class T>
class nearest_search {
public:
    nearest_search(const_matrix_view<T> C)
        : C_(C), k_(C.rows()), d_(C.cols()), kp_(padded(C.rows())), norms_(kp_, std::numeric_limits<T>::infinity()),
          ct_(kp_ * C.cols(), T(0)) {
        for (std::size_t j = 0; j < k_; ++j) {
            norms_[j] = row_map(C.row_data(j), d_).squaredNorm();
            for (std::size_t t = 0; t < d_; ++t) ct_[t * kp_ + j] = T(-2) * C(j, t);
        }
    }

    std::size_t k() const noexcept { return k_; }

    /// For rows [r0, r1) of X: label[i - r0] = nearest center by the Gram form (ties to the
    /// lowest index), d2[i - r0] = its exact squared distance in double. scratch is resized
    /// to gram_block_rows x (k rounded up to the SIMD width).
    void assign(const_matrix_view<T> X, std::size_t r0, std::size_t r1, std::size_t* label, double* d2,
                row_matrix<T>& scratch, const double* xnorm = nullptr, const double* current = nullptr) const {
        if (k_ == 1) {
            for (std::size_t i = r0; i < r1; ++i) {
                label[i - r0] = 0;
                d2[i - r0] = exact_squared_distance(X.row_data(i), C_.row_data(0), d_);
            }
            return;
        }
        scratch.resize(static_cast<Eigen::Index>(gram_block_rows), static_cast<Eigen::Index>(kp_));
        T* G = scratch.data();
        for (std::size_t b0 = r0; b0 < r1; b0 += gram_block_rows) {
            const std::size_t b1 = std::min(r1, b0 + gram_block_rows);
            std::size_t i = b0;
            for (; i + tile_rows <= b1; i += tile_rows) gram_rows<tile_rows>(X, i, G + (i - b0) * kp_);
            for (; i < b1; ++i) gram_rows<1>(X, i, G + (i - b0) * kp_);
            for (i = b0; i < b1; ++i) {
                const T* g = G + (i - b0) * kp_;
                const std::size_t best = argmin_row(g);
                label[i - r0] = best;
                if (current && cannot_beat(xnorm[i - r0], norms_[best], norms_[best] + g[best], current[i - r0])) {
                    d2[i - r0] = std::numeric_limits<double>::infinity();
                    continue;
                }
                d2[i - r0] = exact_squared_distance(X.row_data(i), C_.row_data(best), d_);
            }
        }
    }

    /// As assign(), for a caller that keeps only a strictly closer center: given xnorm[i - r0]
    /// = ||x_i||^2 (in double) and the current squared distance current[i - r0], a row whose
    /// Gram-form distance to its nearest center exceeds the current one by more than the
    /// form's error bound gets d2 = +infinity (its exact distance, which could not be smaller
    /// than the current one, is not computed); every other row gets what assign() gives.
    void assign_if_closer(const_matrix_view<T> X, std::size_t r0, std::size_t r1, const double* xnorm,
                          const double* current, std::size_t* label, double* d2, row_matrix<T>& scratch) const {
        assign(X, r0, r1, label, d2, scratch, xnorm, current);
    }

private:
    // Tiles of 6 points x 2 batches of centers: 12 accumulators (the FMA latency needs about
    // 8 in flight), which fit 16 vector registers; 8 x 3 measured slower with AVX-512.
    static constexpr std::size_t tile_rows = 6;

    static std::size_t padded(std::size_t k) noexcept {
        constexpr std::size_t W = simd::detail::width<T>;
        return (k + W - 1) / W * W;
    }

    /// Rows G[p * kp_ + j] = -2 x_{i + p}.c_j for p < P and every padded j: tiles of P points x
    /// NB batches of centers, accumulated over the coordinates in order (fused multiply-adds).
    template <std::size_t P>
    void gram_rows(const_matrix_view<T> X, std::size_t i, T* G) const noexcept {
        constexpr std::size_t W = simd::detail::width<T>;
        const T* x[P];
        for (std::size_t p = 0; p < P; ++p) x[p] = X.row_data(i + p);
        std::size_t j0 = 0;
        for (; j0 + 2 * W <= kp_; j0 += 2 * W) gram_tile<P, 2>(x, j0, G);
        if (j0 < kp_) gram_tile<P, 1>(x, j0, G);
    }

    template <std::size_t P, std::size_t NB>
    void gram_tile(const T* const* x, std::size_t j0, T* G) const noexcept {
        namespace sd = simd::detail;
        constexpr std::size_t W = sd::width<T>;
        // The tile's loops unrolled fully so that acc stays in registers at -O2 as well (without
        // the pragmas GCC 12 -O2 kept it in memory: the clustering cost 2x slower than at -O3).
        sd::batch<T> acc[P][NB];
        KESTREL_UNROLL_FULLY
        for (std::size_t p = 0; p < P; ++p) {
            KESTREL_UNROLL_FULLY
            for (std::size_t q = 0; q < NB; ++q) acc[p][q] = sd::splat(T(0));
        }
        const T* c = ct_.data() + j0;
        for (std::size_t t = 0; t < d_; ++t, c += kp_) {
            sd::batch<T> cv[NB];
            KESTREL_UNROLL_FULLY
            for (std::size_t q = 0; q < NB; ++q) cv[q] = sd::load(c + q * W);
            KESTREL_UNROLL_FULLY
            for (std::size_t p = 0; p < P; ++p) {
                const sd::batch<T> xb = sd::splat(x[p][t]);
                KESTREL_UNROLL_FULLY
                for (std::size_t q = 0; q < NB; ++q) acc[p][q] = sd::fmadd(xb, cv[q], acc[p][q]);
            }
        }
        KESTREL_UNROLL_FULLY
        for (std::size_t p = 0; p < P; ++p) {
            KESTREL_UNROLL_FULLY
            for (std::size_t q = 0; q < NB; ++q) sd::store(G + p * kp_ + j0 + q * W, acc[p][q]);
        }
    }

    /// True if the exact squared distance from x to center j is certainly >= current, from
    /// the Gram form m = fl(||c_j||^2 - 2 x.c_j) (accumulated in T over d terms) and
    /// xn = ||x||^2. The form's error is at most 2 gamma_{d+1} (xn + ||c_j||^2) (Higham,
    /// Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. (3.5) for the dot
    /// product, with 2 |x.c| <= ||x||^2 + ||c||^2), about (d + 1) eps of T times
    /// (xn + ||c_j||^2); the test allows 4 (d + 2) eps of T times that, plus an absolute
    /// (2 d + 4) x the smallest normal of T for underflow. NaN or infinite values (overflow)
    /// never pass the test.
    bool cannot_beat(double xn, T cn, T m, double current) const noexcept {
        const double eps = static_cast<double>(std::numeric_limits<T>::epsilon());
        const double slack = 4.0 * static_cast<double>(d_ + 2) * eps * (xn + static_cast<double>(cn)) +
                             static_cast<double>(2 * d_ + 4) * static_cast<double>(std::numeric_limits<T>::min());
        return xn + static_cast<double>(m) - slack > current;
    }

    /// std::nextafter(m, +inf) for m finite or -inf, without the library call (one per point
    /// in the search): the next bit pattern away from or toward zero.
    static T next_up(T m) noexcept {
        using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
        static_assert(sizeof(U) == sizeof(T), "float or double");
        if (m == T(0)) return std::numeric_limits<T>::denorm_min();
        U bits;
        std::memcpy(&bits, &m, sizeof bits);
        bits = m > T(0) ? bits + 1 : bits - 1;
        std::memcpy(&m, &bits, sizeof bits);
        return m;
    }

    /// Lowest j < k with norms_[j] + g[j] minimal (0 if every value is NaN).
    std::size_t argmin_row(const T* g) const noexcept {
        namespace sd = simd::detail;
        constexpr std::size_t W = sd::width<T>;
        const T* cn = norms_.data();
        sd::batch<T> mn = sd::load(cn) + sd::load(g);
        for (std::size_t q = W; q < kp_; q += W) mn = sd::vmin(mn, sd::load(cn + q) + sd::load(g + q));
        alignas(64) T lanes[W];
        sd::store(lanes, mn);
        T m = std::numeric_limits<T>::infinity();
        for (std::size_t l = 0; l < W; ++l)
            if (lanes[l] < m) m = lanes[l];
        if (m < std::numeric_limits<T>::infinity()) {
            // v <= m, i.e. v == m, is v < next(m); NaN lanes never compare.
            const sd::batch<T> above = sd::splat(next_up(m));
            for (std::size_t q = 0; q < kp_; q += W) {
                const unsigned hit = sd::less_mask(sd::load(cn + q) + sd::load(g + q), above);
                if (hit) return q + sd::lowest_bit(hit);
            }
        }
        for (std::size_t j = 0; j < k_; ++j)  // every value +inf or NaN (overflow): first equal to m
            if (cn[j] + g[j] == m) return j;
        return 0;
    }

    const_matrix_view<T> C_;
    std::size_t k_, d_, kp_;
    std::vector<T> norms_;  // ||c_j||^2, then +inf up to kp_
    std::vector<T> ct_;     // ct_[t * kp_ + j] = -2 c_j[t] (0 for the padding j >= k)
};

/// Nearest center of every point (label, exact squared distance), in parallel.
template <class T>
void assign_all(const_matrix_view<T> X, const_matrix_view<T> C, std::size_t* label, double* d2, exec_policy policy) {
    const nearest_search<T> search(C);
    const std::size_t n = X.rows();
    parallel_chunks(
        n, gram_block_rows, policy,
        [&](std::size_t r0, std::size_t r1) {
            row_matrix<T> scratch;
            search.assign(X, r0, r1, label + r0, d2 + r0, scratch);
        },
        std::size_t(8192));
}

/// sum_i w_i d_i^z over fixed blocks, combined in block order (thread-count invariant).
template <class T>
double weighted_power_sum(const std::vector<double>& d2, vector_view<const T> w, int z, exec_policy policy) {
    const std::size_t n = d2.size();
    const std::size_t blocks = (n + reduce_block - 1) / reduce_block;
    return deterministic_reduce(
        blocks, policy, 0.0,
        [&](std::size_t b) {
            double s = 0.0;
            const std::size_t e = std::min(n, (b + 1) * reduce_block);
            for (std::size_t i = b * reduce_block; i < e; ++i) s += weight_of(w, i) * power_from_squared(d2[i], z);
            return s;
        },
        [](double a, double b) { return a + b; });
}

}  // namespace detail

/// out(i, j) = ||points_i - centers_j||^2 for every point i and center j (out: n x k).
/// distance_form::gram runs the n*k*d multiply-adds as a matrix product per block of 256
/// points and clamps at 0 (see the header comment for its error); distance_form::exact sums
/// (x_t - c_t)^2 in double. Validates: d >= 1, equal dimensions, finite coordinates, out's
/// shape, and that out does not overlap the inputs.
template <class T>
void pairwise_squared_distances(const_matrix_view<T> points, const_matrix_view<T> centers, matrix_view<T> out,
                                distance_form form = distance_form::gram, exec_policy policy = {}) {
    const char* fn = "pairwise_squared_distances";
    require_valid_policy(policy, fn);
    detail::validate_points(points, vector_view<const T>(), fn);
    detail::validate_centers(centers, points.cols(), fn);
    require(out.rows() == points.rows() && out.cols() == centers.rows(), fn, "out", "is ", out.rows(), " x ",
            out.cols(), ", expected ", points.rows(), " x ", centers.rows());
    const auto overlaps = [&](const_matrix_view<T> a) {
        const auto lo = reinterpret_cast<std::uintptr_t>(a.row_data(0));
        const auto hi = reinterpret_cast<std::uintptr_t>(a.row_data(a.rows() - 1) + a.cols());
        const auto olo = reinterpret_cast<std::uintptr_t>(out.row_data(0));
        const auto ohi = reinterpret_cast<std::uintptr_t>(out.row_data(out.rows() - 1) + out.cols());
        return olo < hi && lo < ohi;
    };
    require(!overlaps(points) && !overlaps(centers), fn, "out", "overlaps points or centers");
    const std::size_t n = points.rows(), k = centers.rows(), d = points.cols();
    if (form == distance_form::exact) {
        parallel_chunks(n, 1, policy, [&](std::size_t r0, std::size_t r1) {
            for (std::size_t i = r0; i < r1; ++i)
                for (std::size_t j = 0; j < k; ++j)
                    out(i, j) = static_cast<T>(detail::exact_squared_distance(points.row_data(i), centers.row_data(j), d));
        }, std::size_t(1024));
        return;
    }
    std::vector<T> cn(k);
    for (std::size_t j = 0; j < k; ++j) cn[j] = detail::row_map(centers.row_data(j), d).squaredNorm();
    const auto Cm = detail::rows_map(centers, 0, k);
    parallel_chunks(n, detail::gram_block_rows, policy, [&](std::size_t r0, std::size_t r1) {
        const detail::eigen_single_thread_guard single;
        for (std::size_t b0 = r0; b0 < r1; b0 += detail::gram_block_rows) {
            const std::size_t b1 = std::min(r1, b0 + detail::gram_block_rows);
            Eigen::Map<detail::row_matrix<T>, 0, Eigen::OuterStride<>> O(
                out.row_data(b0), static_cast<Eigen::Index>(b1 - b0), static_cast<Eigen::Index>(k),
                Eigen::OuterStride<>(static_cast<Eigen::Index>(out.row_stride())));
            O.noalias() = T(-2) * (detail::rows_map(points, b0, b1) * Cm.transpose());
            for (std::size_t i = b0; i < b1; ++i) {
                const T xn = detail::row_map(points.row_data(i), d).squaredNorm();
                for (std::size_t j = 0; j < k; ++j) out(i, j) = std::max(T(0), out(i, j) + xn + cn[j]);
            }
        }
    }, std::size_t(8192));
}

}  // namespace sensitivity
}  // namespace kestrel
