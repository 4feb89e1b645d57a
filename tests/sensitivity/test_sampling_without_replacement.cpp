// sample_without_replacement against a plain scalar reference (the exponential key of every
// positive item, a full sort, the first m), bit for bit in indices and keys, at 1, 2 and 3
// threads, on weight patterns that stress the chunked filter (uniform, heavy-tailed, mostly
// zeros; float and double; n not a multiple of the chunk; m from 1 to a few thousand); and the
// SIMD pieces of its loop (open_uniforms, key_candidates) against their scalar definitions on
// whatever path this build selects (native, AVX2 or scalar).
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/without_replacement.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace ks = kestrel::sensitivity;
using kestrel::counter_rng;
using kestrel::exec_policy;
using kestrel::vector_view;

namespace {

enum class wor_pattern { uniform, heavy, mostly_zero };

template <class T>
std::vector<T> wor_weights(std::size_t n, wor_pattern p, std::uint64_t seed) {
    const counter_rng rng(seed, 5);
    std::vector<T> w(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double u = rng.uniform_double(i);
        switch (p) {
            case wor_pattern::uniform: w[i] = static_cast<T>(0.5 + u); break;
            case wor_pattern::heavy: w[i] = static_cast<T>(std::pow(u + 1e-4, -1.3)); break;
            case wor_pattern::mostly_zero: w[i] = u < 0.9 ? T(0) : static_cast<T>(std::pow(u - 0.9 + 1e-3, -0.8)); break;
        }
    }
    return w;
}

// The definition: key_i = exponential(i) / w_i for w_i > 0, the m smallest (key, index) pairs.
template <class T>
std::vector<ks::keyed_item> wor_reference(const std::vector<T>& w, std::size_t m, const counter_rng& rng) {
    std::vector<ks::keyed_item> all;
    for (std::size_t i = 0; i < w.size(); ++i)
        if (w[i] > T(0)) all.push_back({rng.exponential(i) / static_cast<double>(w[i]), i});
    std::sort(all.begin(), all.end());
    all.resize(m);
    return all;
}

template <class T>
void wor_check_against_reference(std::size_t n, wor_pattern p, std::uint64_t seed) {
    const std::vector<T> w = wor_weights<T>(n, p, seed);
    std::size_t positive = 0;
    for (T v : w) positive += v > T(0);
    for (std::size_t m : {std::size_t(1), std::size_t(2), std::size_t(17), std::size_t(256), std::size_t(1000),
                          std::size_t(3000)}) {
        if (m > positive) continue;
        const counter_rng rng(seed, m);
        const auto ref = wor_reference(w, m, rng);
        ks::without_replacement_workspace ws;
        for (int threads : {1, 2, 3}) {
            INFO("n = " << n << ", pattern " << int(p) << ", m = " << m << ", threads = " << threads);
            std::vector<std::size_t> idx(m);
            std::vector<double> keys(m);
            ks::sample_without_replacement(vector_view<const T>(w), m, rng, vector_view<std::size_t>(idx),
                                           exec_policy::with_threads(threads), ws, vector_view<double>(keys));
            std::size_t bad = m;
            for (std::size_t j = 0; j < m && bad == m; ++j)
                if (idx[j] != ref[j].index || keys[j] != ref[j].key) bad = j;
            INFO("first difference at rank " << bad);
            CHECK(bad == m);
        }
    }
}

}  // namespace

TEST_CASE("sensitivity: without replacement equals the scalar sort-all reference bit for bit", "[sampling]") {
    for (wor_pattern p : {wor_pattern::uniform, wor_pattern::heavy, wor_pattern::mostly_zero}) {
        // 100003: several blocks, parallel, a ragged last chunk; 70001: just above the serial
        // threshold; 1000 + 7: one short block (serial), m up to every positive item.
        for (std::size_t n : {std::size_t(100003), std::size_t(70001), std::size_t(1007)}) {
            wor_check_against_reference<float>(n, p, 11 + n);
            wor_check_against_reference<double>(n, p, 23 + n);
        }
    }
}

TEST_CASE("sensitivity: the open uniforms of a chunk are counter_rng's, on this build's SIMD path", "[sampling]") {
    namespace kd = ks::detail;
    alignas(64) double u[kd::draw_chunk];
    for (std::uint64_t seed : {std::uint64_t(0), std::uint64_t(0x123456789abcdefULL)})
        for (std::uint64_t stream : {std::uint64_t(0), std::uint64_t(7), std::uint64_t(1) << 40})
            for (std::uint64_t first : {std::uint64_t(0), std::uint64_t(33), (std::uint64_t(1) << 32) - 5, ~std::uint64_t(0) - 20}) {
                const counter_rng rng(seed, stream);
                kd::open_uniforms(rng, first, u);
                for (std::size_t k = 0; k < kd::draw_chunk; ++k) {
                    INFO("seed " << seed << " stream " << stream << " draw " << first + k);
                    CHECK(u[k] == rng.uniform_double_open(first + k));
                }
            }
}

namespace {
template <class T>
void wor_check_candidates() {
    namespace kd = ks::detail;
    const counter_rng rng(5, 3);
    alignas(64) double u[kd::draw_chunk];
    T w[kd::draw_chunk];
    const double inf = std::numeric_limits<double>::infinity();
    for (std::uint64_t c = 0; c < 400; ++c) {
        kd::open_uniforms(rng, c * kd::draw_chunk, u);
        for (std::size_t k = 0; k < kd::draw_chunk; ++k) {
            const double r = rng.uniform_double(1000000 + c * kd::draw_chunk + k);
            w[k] = r < 0.2 ? T(0) : static_cast<T>(std::ldexp(r, int(k % 9) - 4));
        }
        // Thresholds near where 1 - u and t w cross, infinity (with zero weights: NaN) and 0.
        for (double t : {0.0, 1e-3, 0.05, 0.7, 3.0, inf}) {
            std::uint32_t expect = 0;
            for (std::size_t k = 0; k < kd::draw_chunk; ++k)
                expect |= std::uint32_t(!((1.0 - u[k]) > t * static_cast<double>(w[k]) * (1.0 + 1e-12))) << k;
            INFO("chunk " << c << " t " << t);
            CHECK(kd::key_candidates(u, w, t) == expect);
        }
        // Exactly at the boundary: t w (1 + 1e-12) rounded equal to 1 - u passes, the next double above fails.
        for (std::size_t k = 0; k < kd::draw_chunk; ++k) w[k] = T(1);
        const double t = (1.0 - u[5]) / (1.0 + 1e-12);
        std::uint32_t expect = 0;
        for (std::size_t k = 0; k < kd::draw_chunk; ++k) expect |= std::uint32_t(!((1.0 - u[k]) > t * 1.0 * (1.0 + 1e-12))) << k;
        CHECK(kd::key_candidates(u, w, t) == expect);
    }
}
}  // namespace

TEST_CASE("sensitivity: the chunk filter of without replacement is the scalar test lane by lane", "[sampling]") {
    wor_check_candidates<float>();
    wor_check_candidates<double>();
}
