// The parallel sweeping build of alias_table (detail/alias_build.hpp): the table equals a serial
// textbook sweep written here in exact 128-bit integer arithmetic, bit for bit; it is the same
// for every cut into parts and at 1, 2 and 3 threads; and every item's mass implied by the
// table equals its scaled weight q_i = w_i n / W to a few ulps (the one heavy item the sweep
// never closes absorbs n - sum q_i, the rounding of the scaled weights' sum).
#include <catch2/catch.hpp>

#include <kestrel/sensitivity/alias_table.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace ks = kestrel::sensitivity;
using kestrel::counter_rng;
using kestrel::exec_policy;
using kestrel::vector_view;

namespace {

// Weight profiles that stress the split: random heavy-tailed with zeros; ascending (every light
// before every heavy: one heavy chain crosses every part); descending; equal; one positive.
std::vector<double> profile(int kind, std::size_t n) {
    const counter_rng rng(77, static_cast<std::uint64_t>(kind));
    std::vector<double> w(n);
    for (std::size_t i = 0; i < n; ++i)
        w[i] = rng.uniform_double(n + i) < 0.1 ? 0.0 : std::pow(rng.uniform_double_open(i), -0.8);
    switch (kind) {
        case 1: std::sort(w.begin(), w.end()); break;
        case 2: std::sort(w.rbegin(), w.rend()); break;
        case 3: std::fill(w.begin(), w.end(), 0.37); break;
        case 4:
            std::fill(w.begin(), w.end(), 0.0);
            w[n / 3] = 5.0;
            break;
        default: break;
    }
    w[n / 2] = std::max(w[n / 2], 1.0);
    if (kind == 4) w[n / 2] = 0.0;
    return w;
}

double scale_of(const std::vector<double>& w, const ks::alias_table& t) { return double(w.size()) / t.total(); }

#if defined(__SIZEOF_INT128__)
// The textbook sweep (Huebschle-Schneider and Sanders, ESA 2019, Section 4.2), serial, with
// explicit index scans, in unsigned __int128 units of 2^-64 (q truncated as the kernel does);
// the heavies in index order except the heaviest item (first index of the largest weight), which
// comes last.
std::vector<ks::alias_table::entry> reference_sweep(const std::vector<double>& w, double scale) {
    using u128 = unsigned __int128;
    const std::size_t n = w.size();
    const u128 one = u128(1) << 64;
    auto q = [&](std::size_t k) {
        volatile double v = w[k] * scale;  // rounded once, as the kernel's q
        return static_cast<double>(v);
    };
    auto fx = [&](double x) {
        const std::uint64_t h = static_cast<std::uint64_t>(x);
        return (u128(h) << 64) + static_cast<std::uint64_t>((x - double(h)) * 0x1p64);
    };
    std::size_t fallback = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (w[i] > w[fallback]) fallback = i;
    std::vector<ks::alias_table::entry> e(n);
    for (std::size_t i = 0; i < n; ++i) e[i] = w[i] > 0 ? ks::alias_table::entry{1.0, i} : ks::alias_table::entry{0.0, fallback};
    auto next_light = [&](std::size_t k) {
        while (k < n && !(q(k) < 1.0)) ++k;
        return k;
    };
    const bool largest_heavy = q(fallback) >= 1.0;
    bool largest_done = false;
    auto next_heavy = [&](std::size_t k) {
        while (k < n && (q(k) < 1.0 || (largest_heavy && k == fallback))) ++k;
        if (k >= n && largest_heavy && !largest_done) {
            largest_done = true;
            return fallback;
        }
        return k;
    };
    std::size_t i = next_light(0), j = next_heavy(0);
    if (j >= n) return e;
    u128 r = fx(q(j));
    for (;;) {
        if (r >= one) {
            if (i >= n) break;
            e[i] = {q(i), j};
            r -= one - fx(q(i));
            i = next_light(i + 1);
        } else {
            const std::size_t jn = j == fallback ? n : next_heavy(j + 1);
            if (jn >= n) break;
            e[j] = {double(std::uint64_t(r)) * 0x1p-64, jn};
            r = r + fx(q(jn)) - one;
            j = jn;
        }
    }
    return e;
}
#endif

bool same_entries(const ks::alias_table::entry* a, const ks::alias_table::entry* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (!(a[i].prob == b[i].prob && a[i].alias == b[i].alias)) return false;
    return true;
}

// Neumaier-compensated sum: the reconstruction below must not add rounding of its own.
struct exact_sum {
    double s = 0.0, c = 0.0;
    void add(double x) {
        const double t = s + x;
        c += std::fabs(s) >= std::fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
    }
    double value() const { return s + c; }
};

}  // namespace

TEST_CASE("sensitivity: parallel alias build is the same table for every cut into parts", "[sampling]") {
    const std::size_t n = 3 * ks::detail::alias_part + 123;
    for (int kind = 0; kind < 5; ++kind) {
        INFO("profile " << kind);
        const std::vector<double> w = profile(kind, n);
        const ks::alias_table t(w, exec_policy::with_threads(2));
        const double scale = scale_of(w, t);
        ks::detail::alias_build_workspace ws;
        std::vector<ks::alias_table::entry> one_part(n), parts(n);
        ks::detail::build_alias_entries(w.data(), n, scale, n, one_part.data(), ws, exec_policy::serial());
        CHECK(same_entries(one_part.data(), t.entries().data(), n));
        for (std::size_t part : {std::size_t(1), std::size_t(2), std::size_t(7), std::size_t(1000), n - 1}) {
            INFO("part " << part);
            std::fill(parts.begin(), parts.end(), ks::alias_table::entry{-1.0, 0});
            ks::detail::build_alias_entries(w.data(), n, scale, part, parts.data(), ws, exec_policy::with_threads(3));
            CHECK(same_entries(one_part.data(), parts.data(), n));
        }
#if defined(__SIZEOF_INT128__)
        const auto ref = reference_sweep(w, scale);
        CHECK(same_entries(ref.data(), t.entries().data(), n));
#endif
    }
}

TEST_CASE("sensitivity: alias table built at 1, 2 and 3 threads is bit for bit the same", "[sampling]") {
    const std::size_t n = 200000;  // above the parallel threshold: the parts run on the pool
    for (int kind : {0, 1}) {
        const std::vector<double> w = profile(kind, n);
        const ks::alias_table t1(w, exec_policy::with_threads(1)), t2(w, exec_policy::with_threads(2)),
            t3(w, exec_policy::with_threads(3));
        CHECK(same_entries(t1.entries().data(), t2.entries().data(), n));
        CHECK(same_entries(t1.entries().data(), t3.entries().data(), n));
        // A rebuild in place from other weights and back gives the same table again.
        ks::alias_table r(w, exec_policy::with_threads(2));
        r.assign(vector_view<const double>(profile(3, n)), exec_policy::with_threads(2));
        r.assign(vector_view<const double>(w), exec_policy::with_threads(3));
        CHECK(same_entries(t1.entries().data(), r.entries().data(), n));
    }
}

TEST_CASE("sensitivity: every item's mass in the alias table is its scaled weight to a few ulps", "[sampling]") {
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(5), std::size_t(1000), std::size_t(70001)}) {
        for (int kind = 0; kind < 5; ++kind) {
            if (n < 3 && kind == 4) continue;
            INFO("n = " << n << ", profile " << kind);
            const std::vector<double> w = profile(kind, n);
            const ks::alias_table t(w, exec_policy::with_threads(2));
            const double scale = scale_of(w, t);
            const auto& e = t.entries();
            // mass_i = prob_i + sum over columns c aliased to i of (1 - prob_c), in units of 1 / n.
            std::vector<exact_sum> mass(n);
            bool entries_valid = true;
            for (std::size_t c = 0; c < n; ++c) entries_valid &= e[c].prob >= 0.0 && e[c].prob <= 1.0 && e[c].alias < n;
            REQUIRE(entries_valid);
            for (std::size_t c = 0; c < n; ++c) {
                mass[c].add(e[c].prob);
                if (e[c].prob < 1.0) mass[e[c].alias].add(1.0 - e[c].prob);
            }
            exact_sum q_total, absorbed;
            std::size_t open_heavies = 0, bad = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const double q = w[i] * scale, m = mass[i].value();
                q_total.add(q);
                if (w[i] == 0.0) {
                    bad += m != 0.0;  // a zero weight is never drawn
                } else if (q < 1.0) {
                    bad += m != q;  // a light item's column keeps its q, and nobody gives it more
                } else if (e[i].prob == 1.0 && e[i].alias == i) {
                    ++open_heavies;  // never closed: takes what rounding left over
                    absorbed.add(m - q);
                } else {
                    // A closed heavy: its own residual and the next heavy's payment are rounded
                    // once each (2^-53 of at most 1), q truncated to 2^-64 per light it serves.
                    const bool ok = std::fabs(m - q) <= 2 * 0x1p-53 + 0x1p-52 * q;
                    if (!ok) UNSCOPED_INFO("item " << i << " q " << q << " mass " << m);
                    bad += !ok;
                }
            }
            CHECK(bad == 0);
            if (open_heavies > 0) {
                // The open heavies absorb what the scaled weights miss of n (the columns total n).
                CHECK(std::fabs(absorbed.value() - (double(n) - q_total.value())) <= 8 * 0x1p-53 * double(n) + 1e-15);
            }
        }
    }
}

// Every Philox path of the draws (detail/alias_draws.hpp) against counter_rng::block, the scalar
// generator of core/random.hpp: the word-sliced loop (all builds), the AVX2 and AVX-512 lanes
// (whichever this build compiles: the native test variant runs both on an AVX-512 machine), and
// the fused column and coin of each path against the scalar formulas of alias_table::draw, for
// table sizes up to 2^64 - 1 (the SIMD column needs n < 2^32; larger n take the 64-bit multiply).
TEST_CASE("sensitivity: the alias draws' Philox paths equal counter_rng::block word for word", "[sampling]") {
    constexpr std::size_t C = ks::detail::draw_chunk;
    std::size_t checked = 0, bad_words = 0, bad_columns = 0;
    std::vector<std::uint64_t> seeds{0, 0x0123456789abcdefULL, ~std::uint64_t(0)}, streams{0, 5, 0xfedcba9876543210ULL};
    const counter_rng pick(404);
    for (std::uint64_t k = 0; k < 6; ++k) {  // random keys as well
        seeds.push_back(pick.bits64(2 * k));
        streams.push_back(pick.bits64(2 * k + 1));
    }
    const std::uint64_t sizes[] = {1, 2, 3, 1000, (std::uint64_t(1) << 24) + 1, 0x7fffffffULL, 0xffffffffULL,
                                   0x100000000ULL, 0x123456789abULL, ~std::uint64_t(0)};
    for (const std::uint64_t seed : seeds) {
        for (const std::uint64_t stream : streams) {
            const counter_rng rng(seed, stream);
            // Counters crossing 2^32 and wrapping around 2^64 inside one chunk.
            for (const std::uint64_t first : {std::uint64_t(0), std::uint64_t(977), (std::uint64_t(1) << 32) - 13,
                                              ~std::uint64_t(0) - 20, pick.bits64(seed ^ stream)}) {
                std::uint32_t w[4][C];
                ks::detail::philox_words(rng, first, w);
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
                std::uint32_t w512[4][C];
                ks::detail::philox_words_avx512(rng, first, w512);
#endif
#if defined(KESTREL_ALIAS_DRAWS_AVX2)
                std::uint32_t w256[4][16];
                ks::detail::philox_words_avx2(rng, first, w256);
#endif
                for (std::size_t k = 0; k < C; ++k) {
                    const auto b = rng.block(first + k);
                    for (int i = 0; i < 4; ++i) {
                        bad_words += w[i][k] != b[i];
#if defined(KESTREL_ALIAS_DRAWS_AVX512)
                        bad_words += w512[i][k] != b[i];
#endif
#if defined(KESTREL_ALIAS_DRAWS_AVX2)
                        if (k < 16) bad_words += w256[i][k] != b[i];
#endif
                    }
                    ++checked;
                }
                for (const std::uint64_t n : sizes) {
                    std::uint64_t col[C], col_s[C];
                    double u[C], u_s[C];
                    ks::detail::alias_columns(rng, first, n, col, u);
                    ks::detail::alias_columns_scalar(rng, first, n, col_s, u_s);
                    for (std::size_t k = 0; k < C; ++k) {
                        const auto b = rng.block(first + k);
#if defined(__SIZEOF_INT128__)
                        const std::uint64_t c_ref = static_cast<std::uint64_t>(
                            (static_cast<unsigned __int128>(counter_rng::join(b[0], b[1])) * n) >> 64);
#else
                        const std::uint64_t c_ref = ks::detail::mulhi64(counter_rng::join(b[0], b[1]), n);
#endif
                        const double u_ref = double(counter_rng::join(b[2], b[3]) >> 11) * 0x1p-53;
                        bad_columns += col[k] != c_ref || u[k] != u_ref || col_s[k] != c_ref || u_s[k] != u_ref;
                    }
#if defined(KESTREL_ALIAS_DRAWS_AVX2)
                    if (n <= 0xffffffffULL) {
                        ks::detail::alias_columns_avx2(rng, first, n, col, u);
                        for (std::size_t k = 0; k < 16; ++k) bad_columns += col[k] != col_s[k] || u[k] != u_s[k];
                    }
#endif
                }
            }
        }
    }
    CHECK(checked == seeds.size() * streams.size() * 5 * C);
    CHECK(bad_words == 0);
    CHECK(bad_columns == 0);
}
