// Dissimilarity inputs for k-medoids.
//
// Every algorithm is a template on a "dissimilarity source" D with
//   std::size_t size() const;             number of objects n
//   value_type operator()(i, j) const;    d(i, j) >= 0, d(i, i) = 0, d(i, j) = d(j, i)
// Three sources are provided:
//   dense_dissimilarity<T>      a full n x n row-major matrix (a view of user memory)
//   condensed_dissimilarity<T>  the strict upper triangle, row by row (n(n-1)/2 values, as
//                               scipy.spatial.distance.pdist and R's dist store it)
//   point_dissimilarity<T, M>   points (rows of a matrix) and a metric, computed on demand
// and metrics euclidean, squared_euclidean, manhattan and cosine, plus
// dissimilarity_matrix() to fill a dense matrix from points in parallel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"
#include "detail/checks.hpp"

namespace kestrel {
namespace kmedoids {

/// A full n x n matrix. Rows are contiguous, so d(i, .) is a streaming read.
template <class T>
class dense_dissimilarity {
public:
    using value_type = T;
    dense_dissimilarity() = default;
    explicit dense_dissimilarity(matrix_view<const T> m) : m_(m) {
        require(m.rows() == m.cols(), "dense_dissimilarity", "matrix", "must be square, got ", m.rows(), " x ",
                m.cols());
    }
    std::size_t size() const noexcept { return m_.rows(); }
    T operator()(std::size_t i, std::size_t j) const noexcept { return m_(i, j); }
    /// Pointer to row i (n contiguous values).
    const T* row(std::size_t i) const noexcept { return m_.row_data(i); }
    matrix_view<const T> matrix() const noexcept { return m_; }

private:
    matrix_view<const T> m_;
};

/// The strict upper triangle in row order: d(i, j), i < j, at i*n - i*(i+1)/2 + (j - i - 1).
template <class T>
class condensed_dissimilarity {
public:
    using value_type = T;
    condensed_dissimilarity(vector_view<const T> values, std::size_t n) : v_(values), n_(n) {
        // n <= max_points keeps n * n (the largest index product) below 2^64.
        detail::check_size(n, "condensed_dissimilarity", "n");
        require_size(values.size(), n % 2 == 0 ? n / 2 * (n - (n > 0)) : n * ((n - 1) / 2), "condensed_dissimilarity",
                     "values", "n(n-1)/2");
    }
    std::size_t size() const noexcept { return n_; }
    T operator()(std::size_t i, std::size_t j) const noexcept {
        if (i == j) return T(0);
        if (i > j) std::swap(i, j);
        return v_[i * n_ - i * (i + 1) / 2 + (j - i - 1)];
    }

private:
    vector_view<const T> v_;
    std::size_t n_;
};

// ---- metrics on rows of a point matrix ------------------------------------------------

struct euclidean {
    template <class T>
    T operator()(const T* a, const T* b, std::size_t d) const noexcept {
        double s = 0;
        for (std::size_t k = 0; k < d; ++k) {
            const double t = double(a[k]) - double(b[k]);
            s += t * t;
        }
        return static_cast<T>(std::sqrt(s));
    }
};
struct squared_euclidean {
    template <class T>
    T operator()(const T* a, const T* b, std::size_t d) const noexcept {
        double s = 0;
        for (std::size_t k = 0; k < d; ++k) {
            const double t = double(a[k]) - double(b[k]);
            s += t * t;
        }
        return static_cast<T>(s);
    }
};
struct manhattan {
    template <class T>
    T operator()(const T* a, const T* b, std::size_t d) const noexcept {
        double s = 0;
        for (std::size_t k = 0; k < d; ++k) s += std::abs(double(a[k]) - double(b[k]));
        return static_cast<T>(s);
    }
};
/// 1 - cos(angle); zero vectors are at dissimilarity 1 from everything but themselves.
struct cosine {
    template <class T>
    T operator()(const T* a, const T* b, std::size_t d) const noexcept {
        if (a == b) return T(0);
        double ab = 0, aa = 0, bb = 0;
        for (std::size_t k = 0; k < d; ++k) {
            ab += double(a[k]) * double(b[k]);
            aa += double(a[k]) * double(a[k]);
            bb += double(b[k]) * double(b[k]);
        }
        if (aa == 0 || bb == 0) return T(1);
        const double c = ab / std::sqrt(aa * bb);
        const double r = 1.0 - (c > 1 ? 1 : (c < -1 ? -1 : c));
        return static_cast<T>(r);
    }
};

/// Points (one per row) and a metric, evaluated on demand: no n x n storage.
template <class T, class Metric = euclidean>
class point_dissimilarity {
public:
    using value_type = T;
    explicit point_dissimilarity(matrix_view<const T> points, Metric metric = Metric()) : p_(points), metric_(metric) {
        for (std::size_t i = 0; i < p_.rows(); ++i)
            for (std::size_t k = 0; k < p_.cols(); ++k)
                if (!std::isfinite(p_(i, k)))
                    fail_argument("point_dissimilarity", "points", "entry (", i, ", ", k, ") is not finite: ", p_(i, k));
    }
    std::size_t size() const noexcept { return p_.rows(); }
    /// Calls the metric, which may throw (not noexcept).
    T operator()(std::size_t i, std::size_t j) const {
        return i == j ? T(0) : metric_(p_.row_data(i), p_.row_data(j), p_.cols());
    }
    matrix_view<const T> points() const noexcept { return p_; }

private:
    matrix_view<const T> p_;
    Metric metric_;
};

/// Fills out (n x n) with metric(points[i], points[j]), in parallel over rows; each value is
/// computed once (for i < j) and mirrored, so the matrix is exactly symmetric. `out` must not
/// overlap `points`. If the metric throws, the exception reaches the caller and `out` holds a
/// partial result.
template <class T, class Metric = euclidean>
void dissimilarity_matrix(matrix_view<const T> points, matrix_view<T> out, Metric metric = Metric(),
                          exec_policy policy = {}) {
    const char* fn = "dissimilarity_matrix";
    detail::check_policy(policy, fn);
    const std::size_t n = points.rows();
    detail::check_size(n, fn, "points");
    require(out.rows() == n && out.cols() == n, fn, "out", "must be ", n, " x ", n, ", got ", out.rows(), " x ",
            out.cols());
    if (n > 0 && !points.empty()) {
        // Byte ranges [first, last] of each view; any overlap is refused.
        const char* p0 = reinterpret_cast<const char*>(points.data());
        const char* p1 = reinterpret_cast<const char*>(points.row_data(n - 1) + points.cols());
        const char* o0 = reinterpret_cast<const char*>(out.data());
        const char* o1 = reinterpret_cast<const char*>(out.row_data(n - 1) + n);
        require(!(std::less<const char*>()(o0, p1) && std::less<const char*>()(p0, o1)), fn, "out",
                "overlaps 'points' (the output must be separate memory)");
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < points.cols(); ++k)
            if (!std::isfinite(points(i, k)))
                fail_argument(fn, "points", "entry (", i, ", ", k, ") is not finite: ", points(i, k));
    const point_dissimilarity<T, Metric> src(points, metric);
    parallel_for_dynamic(n, policy, [&](std::size_t i) {
        out(i, i) = T(0);
        for (std::size_t j = i + 1; j < n; ++j) out(i, j) = src(i, j);
    });
    parallel_for(n, policy, [&](std::size_t i) {
        for (std::size_t j = 0; j < i; ++j) out(i, j) = out(j, i);
    });
}

/// Checks a dense matrix completely: every entry finite and >= 0, zero diagonal, and (if
/// check_symmetry) |d(i,j) - d(j,i)| <= symmetry_tolerance * max(d(i,j), d(j,i)) for every
/// pair. One read of the matrix: tile pairs (64 x 64, block (I, J) against block (J, I)
/// transposed, both in cache), SIMD, in parallel over tile rows. Reports the first bad value
/// in row order, then a bad diagonal entry, then the first asymmetric pair. `function` names
/// the caller in the message. (The SWAP routines check the values inside their first pass and
/// sample symmetry instead, unless swap_options::full_symmetry_check: see result.hpp.)
template <class T>
void validate_dissimilarity(const dense_dissimilarity<T>& d, bool check_symmetry = true,
                            double symmetry_tolerance = 1e-6, const char* function = "validate_dissimilarity",
                            exec_policy policy = {}) {
    detail::check_policy(policy, function);
    detail::check_tolerance(symmetry_tolerance, function);
    const std::size_t n = d.size();
    auto row = [&](std::size_t i) { return d.row(i); };
    const detail::tile_findings f =
        detail::scan_tiles<T>(row, n, check_symmetry, symmetry_tolerance, true, true, policy);
    if (f.bad_row < n) {
        const std::size_t j = detail::first_bad_value(d.row(f.bad_row), n);
        detail::fail_entry(function, f.bad_row, j, static_cast<double>(d.row(f.bad_row)[j]));
    }
    for (std::size_t i = 0; i < n; ++i)
        if (d.row(i)[i] != T(0)) detail::fail_diagonal(function, i, static_cast<double>(d.row(i)[i]));
    if (f.asym.found) detail::fail_asymmetry(function, f.asym, symmetry_tolerance);
}

/// Generic validation for any source: every d(i, j), i != j, finite and >= 0, and d(i, i) = 0.
/// Symmetry is not checked (it holds by construction for the condensed and point sources;
/// every routine reads d(m, o) with m the medoid or candidate, so an asymmetric source gives
/// the well-defined result for that convention). The source may throw.
template <class D>
void validate_dissimilarity(const D& d, bool /*check_symmetry*/ = true, double symmetry_tolerance = 1e-6,
                            const char* function = "validate_dissimilarity", exec_policy policy = {}) {
    detail::check_policy(policy, function);
    detail::check_tolerance(symmetry_tolerance, function);
    const std::size_t n = d.size();
    std::vector<char> bad(n, 0);
    parallel_for_dynamic(n, policy, [&](std::size_t i) {
        for (std::size_t j = 0; j < n && !bad[i]; ++j) bad[i] = !(j == i ? d(i, j) == 0 : detail::valid_value(d(i, j)));
    });
    for (std::size_t i = 0; i < n; ++i)
        if (bad[i])
            for (std::size_t j = 0; j < n; ++j) {
                const auto v = d(i, j);
                if (j == i && v != 0) detail::fail_diagonal(function, i, static_cast<double>(v));
                if (j != i && !detail::valid_value(v)) detail::fail_entry(function, i, j, static_cast<double>(v));
            }
}

}  // namespace kmedoids
}  // namespace kestrel
