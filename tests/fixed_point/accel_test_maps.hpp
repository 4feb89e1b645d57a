// Maps with known fixed points for the accelerated fixed-point solver tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace accel_test {

/// The Dottie number, the unique real solution of x = cos(x).
inline constexpr double dottie = 0.739085133215160641655312087673873404;

/// Jacobi map of the shifted 1-D Laplacian (2 + s) x_i - x_{i-1} - x_{i+1} = b_i, with b made
/// from a chosen solution x*: G(x)_i = (b_i + x_{i-1} + x_{i+1}) / (2 + s). A contraction with
/// factor 2 cos(pi/(n+1)) / (2 + s); its fixed point is x*.
struct shifted_laplacian_jacobi {
    std::size_t n;
    double s;
    std::vector<double> xstar, b;
    shifted_laplacian_jacobi(std::size_t n_, double s_) : n(n_), s(s_), xstar(n_), b(n_) {
        for (std::size_t i = 0; i < n; ++i) xstar[i] = std::sin(0.01 * double(i * i % 97)) + 0.5;
        for (std::size_t i = 0; i < n; ++i)
            b[i] = (2 + s) * xstar[i] - (i > 0 ? xstar[i - 1] : 0.0) - (i + 1 < n ? xstar[i + 1] : 0.0);
    }
    template <class T>
    void operator()(const T* x, T* g) const {
        for (std::size_t i = 0; i < n; ++i)
            g[i] = static_cast<T>((b[i] + (i > 0 ? double(x[i - 1]) : 0.0) + (i + 1 < n ? double(x[i + 1]) : 0.0)) /
                                  (2 + s));
    }
};

/// G(x)_i = cos(x_i): every component converges to the Dottie number (rate sin(dottie) = 0.674).
struct componentwise_cos {
    std::size_t n;
    template <class T>
    void operator()(const T* x, T* g) const {
        for (std::size_t i = 0; i < n; ++i) g[i] = std::cos(x[i]);
    }
};

/// Rotation of the plane by angle theta: nonexpansive, unique fixed point 0, and plain
/// iteration keeps ||x_k|| constant (it circles forever).
struct rotation {
    double theta;
    template <class T>
    void operator()(const T* x, T* g) const {
        const double c = std::cos(theta), s = std::sin(theta);
        g[0] = static_cast<T>(c * x[0] - s * x[1]);
        g[1] = static_cast<T>(s * x[0] + c * x[1]);
    }
};

}  // namespace accel_test
