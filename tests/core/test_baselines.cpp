// The benchmark baselines compute what the kernels compute (a fast wrong kernel cannot hide
// behind a slow baseline, nor the other way round).
#include <catch2/catch.hpp>

#include <kestrel/core/simd.hpp>

#include <cmath>
#include <vector>

#include "baselines/core.hpp"
#include "test_util.hpp"

TEST_CASE("the whole-array-operations baseline of lincomb agrees with the fused kernel") {
    for (std::size_t k : {2u, 4u, 6u}) {
        const std::size_t n = 1000 + k;
        std::vector<std::vector<double>> x(k, std::vector<double>(n));
        kestrel_test::fill_uniform(x, k);
        std::vector<double> c(k), y(n), yb(n), tmp(n);
        std::vector<const double*> px;
        std::vector<kestrel::vector_view<const double>> vx;
        for (std::size_t j = 0; j < k; ++j) {
            c[j] = 1.0 / (1.0 + j) - 0.4;
            px.push_back(x[j].data());
            vx.emplace_back(x[j]);
        }
        kestrel::simd::lincomb(kestrel::make_view(y), c.data(), vx.data(), k);
        kestrel_baseline::lincomb_whole_array_ops(yb.data(), px.data(), c.data(), k, n, tmp.data());
        for (std::size_t i = 0; i < n; ++i) REQUIRE(std::abs(y[i] - yb[i]) <= 1e-14);
    }
}
