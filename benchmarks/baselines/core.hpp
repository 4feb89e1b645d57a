// Honest baselines for the core kernels (used by benchmarks and checked by tests).
#pragma once

#include <cstddef>
#include <vector>

namespace kestrel_baseline {

/// y = sum_k c[k] * x[k] the way a tensor framework runs `c0*x0 + c1*x1 + ...`: one
/// whole-array operation at a time, each reading its operands from memory and writing a
/// temporary (framework allocators recycle memory, so `tmp` is caller-provided scratch).
template <class T>
void lincomb_whole_array_ops(T* y, const T* const* x, const double* c, std::size_t k, std::size_t n, T* tmp) {
    const T c0 = static_cast<T>(c[0]);
    for (std::size_t i = 0; i < n; ++i) y[i] = c0 * x[0][i];  // y = c0 * x0
    for (std::size_t j = 1; j < k; ++j) {
        const T cj = static_cast<T>(c[j]);
        for (std::size_t i = 0; i < n; ++i) tmp[i] = cj * x[j][i];  // tmp = cj * xj
        for (std::size_t i = 0; i < n; ++i) y[i] = y[i] + tmp[i];   // y = y + tmp
    }
}

}  // namespace kestrel_baseline
