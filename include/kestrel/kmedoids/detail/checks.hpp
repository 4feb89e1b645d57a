// Argument and input checks shared by the k-medoids entry points. Internal.
//
// The kernels here are exact: a row is reported bad only if it holds a value that is NaN,
// infinite or negative (-0 counts as 0), and an asymmetry only if the scalar double test
// |d(i,j) - d(j,i)| > tolerance * max(d(i,j), d(j,i)) holds; SIMD only filters.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {

/// Largest number of points the k-medoids routines accept: points and slots are held in
/// 32 bits (UINT32_MAX marks "none").
inline constexpr std::size_t max_points = std::size_t(std::numeric_limits<std::uint32_t>::max()) - 1;

inline void check_size(std::size_t n, const char* function, const char* argument = "dissimilarity") {
    require(n <= max_points, function, argument, "n = ", n, " exceeds the largest supported number of points (",
            max_points, ")");
}

/// Negative thread counts are refused (core's rule and message: argument 'policy.threads').
inline void check_policy(exec_policy policy, const char* function, const char* /*argument*/ = "policy") {
    require_valid_policy(policy, function);
}

inline void check_tolerance(double tolerance, const char* function, const char* argument = "symmetry_tolerance") {
    require(std::isfinite(tolerance) && tolerance >= 0.0, function, argument, "must be finite and >= 0, got ",
            tolerance);
}

/// True if v is a valid dissimilarity: finite and >= 0.
template <class T>
inline bool valid_value(T v) noexcept {
    return v >= T(0) && v < std::numeric_limits<T>::infinity();
}

/// True if all n values are finite and >= 0. Exact: v * 0 + acc stays 0 unless some v is NaN
/// or infinite, and the running minimum is exact when no NaN is present (when one is, the
/// first test fails anyway). Two accumulators each hide the add latency.
template <class T>
bool values_ok(const T* p, std::size_t n) noexcept {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const auto zero = sd::splat<T>(T(0));
    auto nf0 = zero, nf1 = zero, mn0 = zero, mn1 = zero;
    std::size_t o = 0;
    for (; o + 2 * W <= n; o += 2 * W) {
        const auto a = sd::load(p + o), b = sd::load(p + o + W);
        nf0 = sd::fmadd(a, zero, nf0);
        nf1 = sd::fmadd(b, zero, nf1);
        mn0 = sd::vmin(mn0, a);
        mn1 = sd::vmin(mn1, b);
    }
    bool ok = sd::hsum(nf0 + nf1) == T(0) && sd::less_mask(sd::vmin(mn0, mn1), zero) == 0u;
    for (; o < n; ++o) ok = ok && valid_value(p[o]);
    return ok;
}

/// First j with p[j] not finite or negative; n if none.
template <class T>
std::size_t first_bad_value(const T* p, std::size_t n) noexcept {
    for (std::size_t j = 0; j < n; ++j)
        if (!valid_value(p[j])) return j;
    return n;
}

[[noreturn]] inline void fail_entry(const char* function, std::size_t i, std::size_t j, double v) {
    fail_argument(function, "dissimilarity", "entry (", i, ", ", j, ") is ", v, " (must be finite and >= 0)");
}
[[noreturn]] inline void fail_diagonal(const char* function, std::size_t i, double v) {
    fail_argument(function, "dissimilarity", "diagonal entry (", i, ", ", i, ") is ", v, ", not 0");
}

// ---- symmetry, tile by tile --------------------------------------------------------------

inline constexpr std::size_t sym_tile = 64;

struct asymmetry {
    std::size_t i = 0, j = 0;
    double a = 0, b = 0;  // d(i, j), d(j, i)
    bool found = false;
};

/// The exact test (in double, as documented for validate_dissimilarity).
inline bool asymmetric(double a, double b, double tolerance) noexcept {
    return std::abs(a - b) > tolerance * std::max(a, b);
}

/// Asks for tile pair (I, J) ahead of its use: 2 x 64 row segments in as many pages, whose
/// misses would otherwise be taken one after another (measured: the sampled check ran at a
/// third of the read bandwidth without it).
template <class T, class Row>
void prefetch_tile_pair(Row row, std::size_t n, std::size_t I, std::size_t J) noexcept {
    constexpr std::size_t line = 64 / sizeof(T);
    const std::size_t r0 = I * sym_tile, r1 = std::min(n, r0 + sym_tile);
    const std::size_t c0 = J * sym_tile, c1 = std::min(n, c0 + sym_tile);
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t c = c0; c < c1; c += line) kestrel::simd::detail::prefetch(row(r) + c);
    for (std::size_t c = c0; c < c1; ++c)
        for (std::size_t r = r0; r < r1; r += line) kestrel::simd::detail::prefetch(row(c) + r);
}

/// Compares tile (I, J) (rows of tile I, columns of tile J) with tile (J, I) transposed,
/// I <= J, both held in cache: the (J, I) tile is first copied transposed into buf
/// (sym_tile^2 values). Returns the first asymmetric pair in the row order of tile (I, J).
/// If check_values, also sets bad_row to the smallest row of either tile holding a value
/// that is not finite or negative (unchanged if none).
template <class T, class Row>
asymmetry tile_pair(Row row, std::size_t n, std::size_t I, std::size_t J, double tolerance, bool check_symmetry,
                    bool check_values, T* buf, std::size_t& bad_row) {
    namespace sd = kestrel::simd::detail;
    constexpr std::size_t W = sd::width<T>;
    const std::size_t r0 = I * sym_tile, r1 = std::min(n, r0 + sym_tile);
    const std::size_t c0 = J * sym_tile, c1 = std::min(n, c0 + sym_tile);
    const std::size_t h = r1 - r0, w = c1 - c0;
    if (check_values) {
        for (std::size_t r = r0; r < r1 && r < bad_row; ++r)
            if (!values_ok(row(r) + c0, w)) bad_row = r;
        if (I != J)
            for (std::size_t c = c0; c < c1 && c < bad_row; ++c)
                if (!values_ok(row(c) + r0, h)) bad_row = c;
    }
    asymmetry out;
    if (!check_symmetry) return out;
    for (std::size_t c = 0; c < w; ++c) {
        const T* src = row(c0 + c) + r0;
        for (std::size_t r = 0; r < h; ++r) buf[r * sym_tile + c] = src[r];
    }
    // The SIMD filter: lanes with hi - lo > thr * hi. For double it is the exact test; for
    // float it uses half the tolerance, so rounding in float cannot hide a violation.
    const T thr = std::is_same<T, double>::value ? static_cast<T>(tolerance) : static_cast<T>(tolerance * 0.5);
    const auto vthr = sd::splat<T>(thr);
    for (std::size_t r = 0; r < h; ++r) {
        const T* a = row(r0 + r) + c0;
        const T* b = buf + r * sym_tile;
        std::size_t c = 0;
        auto confirm = [&](std::size_t cc) {
            const double x = a[cc], y = b[cc];
            // A pair holding an invalid value is the value check's to report.
            if (valid_value(x) && valid_value(y) && asymmetric(x, y, tolerance)) {
                out = {r0 + r, c0 + cc, x, y, true};
                return true;
            }
            return false;
        };
        for (; c + W <= w; c += W) {
            const auto x = sd::load(a + c), y = sd::load(b + c);
            const auto hi = sd::vmax(x, y), lo = sd::vmin(x, y);
            unsigned m = sd::less_mask(vthr * hi, hi - lo);
            for (; m; m &= m - 1)
                if (confirm(c + sd::lowest_bit(m))) return out;
        }
        for (; c < w; ++c)
            if (confirm(c)) return out;
    }
    return out;
}

struct tile_findings {
    std::size_t bad_row;  // smallest row holding a bad value (n if none)
    asymmetry asym;       // first asymmetric pair in tile order
};

/// Checks a dense matrix given by row(i) (n x n) tile pair by tile pair, in parallel over tile
/// rows. full: every pair; otherwise a fixed sample of about `sample_pairs` pairs spread evenly
/// over the upper triangle of tiles (all of them for small n). check_values: also the value
/// test on every entry of the tiles read.
template <class T, class Row>
tile_findings scan_tiles(Row row, std::size_t n, bool check_symmetry, double tolerance, bool check_values, bool full,
                         exec_policy policy, std::size_t sample_pairs = 64) {
    tile_findings out{n, {}};
    if (n == 0 || (!check_symmetry && !check_values)) return out;
    const std::size_t nt = (n + sym_tile - 1) / sym_tile;
    const std::size_t pairs = nt * (nt + 1) / 2;
    std::vector<std::size_t> pick_i, pick_j;  // the selected tile pairs, in order
    const std::size_t stride = full || pairs <= sample_pairs ? 1 : (pairs + sample_pairs - 1) / sample_pairs;
    if (stride > 1) {
        std::size_t p = 0;
        for (std::size_t I = 0; I < nt; ++I)
            for (std::size_t J = I; J < nt; ++J, ++p)
                if (p % stride == stride / 2) pick_i.push_back(I), pick_j.push_back(J);
    }
    // Tasks: a tile row (every pair; dynamic scheduling balances their lengths) or one pair.
    const std::size_t tasks = stride > 1 ? pick_i.size() : nt;
    std::vector<asymmetry> found(tasks);
    std::vector<std::size_t> bad(tasks, n);
    parallel_for_dynamic(tasks, policy, [&](std::size_t t) {
        alignas(64) T buf[sym_tile * sym_tile];
        std::size_t bad_row = n;
        if (stride > 1) {
            prefetch_tile_pair<T>(row, n, pick_i[t], pick_j[t]);
            found[t] = tile_pair(row, n, pick_i[t], pick_j[t], tolerance, check_symmetry, check_values, buf, bad_row);
        } else {
            prefetch_tile_pair<T>(row, n, t, t);
            for (std::size_t J = t; J < nt; ++J) {
                const bool sym = check_symmetry && !found[t].found;
                if (!sym && !check_values) break;
                if (J + 1 < nt) prefetch_tile_pair<T>(row, n, t, J + 1);
                const asymmetry a = tile_pair(row, n, t, J, tolerance, sym, check_values, buf, bad_row);
                if (a.found && !found[t].found) found[t] = a;
            }
        }
        bad[t] = bad_row;
    });
    out.bad_row = *std::min_element(bad.begin(), bad.end());
    for (const asymmetry& a : found)
        if (a.found) {
            out.asym = a;
            break;
        }
    return out;
}

[[noreturn]] inline void fail_asymmetry(const char* function, const asymmetry& a, double tolerance) {
    fail_argument(function, "dissimilarity", "not symmetric: d(", a.i, ", ", a.j, ") = ", a.a, " but d(", a.j, ", ",
                  a.i, ") = ", a.b, " (relative tolerance ", tolerance, ")");
}

/// Whether an eager search (detail/eager_search.hpp) stopped because a whole cycle brought no
/// swap, told from the order of its swaps alone: within a pass the swapped candidates
/// increase, and a pass's first swap lies before the previous pass's last one (the pass ends
/// there). Every pass but the last made a swap (a pass without one ends the search), so the
/// search converged iff fewer passes made swaps than were run.
struct eager_convergence {
    std::size_t passes_with_swaps = 0;
    std::size_t last = std::numeric_limits<std::size_t>::max();
    void on_swap(std::size_t candidate) noexcept {
        if (last == std::numeric_limits<std::size_t>::max() || candidate <= last) ++passes_with_swaps;
        last = candidate;
    }
    bool converged(std::size_t iterations) const noexcept { return passes_with_swaps < iterations; }
};

}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
