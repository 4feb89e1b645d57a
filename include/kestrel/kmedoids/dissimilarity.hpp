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
#include <utility>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/view.hpp"

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
        require_size(values.size(), n * (n - (n > 0)) / 2, "condensed_dissimilarity", "values", "n(n-1)/2");
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
    T operator()(std::size_t i, std::size_t j) const noexcept {
        return i == j ? T(0) : metric_(p_.row_data(i), p_.row_data(j), p_.cols());
    }
    matrix_view<const T> points() const noexcept { return p_; }

private:
    matrix_view<const T> p_;
    Metric metric_;
};

/// Fills out (n x n) with metric(points[i], points[j]), in parallel over rows; each value is
/// computed once (for i < j) and mirrored, so the matrix is exactly symmetric.
template <class T, class Metric = euclidean>
void dissimilarity_matrix(matrix_view<const T> points, matrix_view<T> out, Metric metric = Metric(),
                          exec_policy policy = {}) {
    const std::size_t n = points.rows();
    require(out.rows() == n && out.cols() == n, "dissimilarity_matrix", "out", "must be ", n, " x ", n, ", got ",
            out.rows(), " x ", out.cols());
    const point_dissimilarity<T, Metric> src(points, metric);
    parallel_for_dynamic(n, policy, [&](std::size_t i) {
        out(i, i) = T(0);
        for (std::size_t j = i + 1; j < n; ++j) out(i, j) = src(i, j);
    });
    parallel_for(n, policy, [&](std::size_t i) {
        for (std::size_t j = 0; j < i; ++j) out(i, j) = out(j, i);
    });
}

/// Checks a dense matrix: finite, non-negative, zero diagonal, and (if check_symmetry)
/// |d(i,j) - d(j,i)| <= symmetry_tolerance * max(|d(i,j)|, |d(j,i)|). O(n^2); the SWAP
/// functions call it unless told the matrix was checked already.
template <class T>
void validate_dissimilarity(const dense_dissimilarity<T>& d, bool check_symmetry = true,
                            double symmetry_tolerance = 1e-6, const char* function = "validate_dissimilarity") {
    const std::size_t n = d.size();
    for (std::size_t i = 0; i < n; ++i) {
        const T* r = d.row(i);
        for (std::size_t j = 0; j < n; ++j) {
            const T v = r[j];
            if (!(v >= T(0)) || !std::isfinite(v))
                fail_argument(function, "dissimilarity", "entry (", i, ", ", j, ") is ", v,
                              " (must be finite and >= 0)");
        }
        if (r[i] != T(0)) fail_argument(function, "dissimilarity", "diagonal entry (", i, ", ", i, ") is ", r[i], ", not 0");
        if (check_symmetry) {
            for (std::size_t j = 0; j < i; ++j) {
                const double a = r[j], b = d(j, i);
                if (std::abs(a - b) > symmetry_tolerance * std::max(a, b))
                    fail_argument(function, "dissimilarity", "not symmetric: d(", i, ", ", j, ") = ", a, " but d(", j, ", ",
                                  i, ") = ", b);
            }
        }
    }
}

/// Generic validation for any source (finite, >= 0); symmetry is by construction for the
/// condensed and point sources.
template <class D>
void validate_dissimilarity(const D& d, bool /*check_symmetry*/ = true, double /*tolerance*/ = 0,
                            const char* function = "validate_dissimilarity") {
    const std::size_t n = d.size();
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) {
            const auto v = d(i, j);
            if (!(v >= 0) || !std::isfinite(v))
                fail_argument(function, "dissimilarity", "entry (", i, ", ", j, ") is ", v, " (must be finite and >= 0)");
        }
}

}  // namespace kmedoids
}  // namespace kestrel
