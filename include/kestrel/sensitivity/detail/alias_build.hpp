// Internal: the parallel sweeping build of alias_table (see alias_table.hpp for the law).
//
// The sweep of Huebschle-Schneider and Sanders ("Parallel weighted random sampling", ESA 2019,
// Sections 4.2-4.3: sweeping construction and its parallel splitting) pairs light items
// (q < 1) in index order with heavy items (q >= 1) in index order. Its state just before the
// (a+1)-th light is a closed form of two prefix sums: with D(a) = sum of the deficits 1 - q of
// the first a lights and S(b) = sum of the surpluses q - 1 of the first b heavies, the current
// heavy is the first b with S(b) >= D(a) and its residual is R = S(b) - D(a) + 1 (>= 1); every
// earlier heavy has been closed (its column keeps its last residual < 1, the next heavy pays
// the rest). So the lights can be cut into parts, each part finds its starting heavy and
// residual from the prefix sums of the parts before it, and the parts sweep independently.
// The heavies are taken in index order except the heaviest item, which comes last: the heavy
// that is never closed absorbs n - sum q (rounding), least in relative terms on the largest q.
//
// Arithmetic: every deficit, surplus, prefix and residual is a 128-bit fixed-point number with
// 64 fraction bits (an integer count of 2^-64), so sums are exact and associative: the prefix
// that part k computes for its start is bit for bit the state the sweep of part k - 1 reaches
// at its end, and the table is the same for every cut into parts (and at any thread count). A
// scaled weight q (a double) enters as q truncated to a multiple of 2^-64 (a change below
// 2^-64 in units of 1 / n); a light's column keeps the double q itself, a closed heavy's column
// the double nearest its residual. Item i's implied mass is then q_i up to those two roundings
// (about 2^-53 relative), with no error that accumulates along the sweep.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"
#include "../../core/view.hpp"

namespace kestrel::sensitivity::detail {

/// Unsigned fixed point: hi + lo / 2^64 (hi the integer part).
struct fx128 {
    std::uint64_t hi = 0, lo = 0;

    /// x >= 0 and x < 2^64, truncated to a multiple of 2^-64 (exact for x >= 2^-11).
    static fx128 from_double(double x) noexcept {
        const std::uint64_t h = static_cast<std::uint64_t>(x);
        const double frac = x - static_cast<double>(h);  // exact: x and h share the exponent range
        return fx128{h, static_cast<std::uint64_t>(frac * 0x1p64)};
    }
    /// Nearest double of a value below 2^53 + 1 (one rounding when hi == 0).
    double to_double() const noexcept { return static_cast<double>(hi) + static_cast<double>(lo) * 0x1p-64; }

    friend fx128 operator+(fx128 a, fx128 b) noexcept {
        const std::uint64_t lo = a.lo + b.lo;
        return fx128{a.hi + b.hi + (lo < a.lo ? 1u : 0u), lo};
    }
    /// a - b for a >= b.
    friend fx128 operator-(fx128 a, fx128 b) noexcept {
        return fx128{a.hi - b.hi - (a.lo < b.lo ? 1u : 0u), a.lo - b.lo};
    }
    friend bool operator<(fx128 a, fx128 b) noexcept { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo); }
    friend bool operator>=(fx128 a, fx128 b) noexcept { return !(a < b); }
    friend bool operator==(fx128 a, fx128 b) noexcept { return a.hi == b.hi && a.lo == b.lo; }
};

inline constexpr fx128 fx_one{1, 0};

/// Items per part of the parallel build (fixed, so the work split depends on n only; the table
/// does not depend on it at all).
inline constexpr std::size_t alias_part = std::size_t(1) << 14;

/// Items per sub-block: a part records the surplus of its heavies before each sub-block, so the
/// part that starts inside it scans at most one sub-block to find its starting heavy.
inline constexpr std::size_t alias_sub = 1024;

/// What the first pass learns about one part.
struct alias_part_sums {
    fx128 deficit;                    ///< sum over its lights of 1 - q
    fx128 surplus;                    ///< sum over its heavies of q - 1
    std::size_t lights = 0;           ///< number of lights
    std::size_t last_heavy = SIZE_MAX;  ///< its last heavy item (SIZE_MAX: none)
    std::size_t argmax = 0;           ///< first index of its largest weight
};

/// Scratch of the build, kept by the table between rebuilds.
struct alias_build_workspace {
    std::vector<alias_part_sums> parts;
    std::vector<fx128> deficit_before, surplus_before;  ///< prefixes over parts (size parts + 1)
    std::vector<fx128> sub_surplus;  ///< per part and sub-block: surplus of the part's heavies before it
};

/// Entry layout of alias_table (prob, alias).
struct alias_entry {
    double prob;
    std::uint64_t alias;
};

/// Up to 64 indices of one class (light or heavy) at a time from [pos, end), with their q:
/// branch-free compaction of a run of items, so the sweep does not pay a mispredicted branch
/// per item to find the next light or heavy. The sweep reads idx[at], q[at] while at < cnt.
template <class T>
struct alias_stream {
    static constexpr unsigned run = 64;
    const T* w;
    double scale;
    std::size_t pos, end;
    bool light;
    std::size_t last;  ///< heavies: this item is left out of index order and comes after all others
    unsigned at = 0, cnt = 0;
    std::size_t idx[run] = {};
    double q[run] = {};

    alias_stream(const T* w_, double scale_, std::size_t pos_, std::size_t end_, bool light_,
                 std::size_t last_ = SIZE_MAX) noexcept
        : w(w_), scale(scale_), pos(std::min(pos_, end_)), end(end_), light(light_), last(last_) {}

    /// Refills when the buffer is used up; cnt == 0 afterwards means the stream has ended.
    KESTREL_ALWAYS_INLINE void ensure() noexcept {
        if (at == cnt) refill();
    }
    /// The next index of the class (end when none is left) and its q.
    KESTREL_ALWAYS_INLINE std::size_t next(double& qv) noexcept {
        ensure();
        if (at == cnt) return end;
        qv = q[at];
        return idx[at++];
    }
    void refill() noexcept {
        at = cnt = 0;
        while (cnt == 0 && pos < end) {
            const std::size_t lim = std::min(end, pos + run);
            for (std::size_t k = pos; k < lim; ++k) {
                // Each q rounded once and never fused into the sweep's arithmetic (the same bits
                // for float and double weights of the same values, with or without FMA).
                const double v = simd::detail::opaque(static_cast<double>(w[k]) * scale);
                idx[cnt] = k;
                q[cnt] = v;
                cnt += static_cast<unsigned>(light ? v < 1.0 : ((v >= 1.0) & (k != last)));
            }
            pos = lim;
        }
        if (cnt == 0 && last != SIZE_MAX) {
            idx[0] = last;
            q[0] = simd::detail::opaque(static_cast<double>(w[last]) * scale);
            cnt = 1;
            last = SIZE_MAX;
        }
    }
};

/// Builds the n entries from validated weights (total > 0) with q_i = w_i * scale, in parts of
/// `part` items (any part >= 1 gives the same table; the kernel uses alias_part).
template <class T>
void build_alias_entries(const T* w, std::size_t n, double scale, std::size_t part, alias_entry* e,
                         alias_build_workspace& ws, exec_policy policy) {
    const std::size_t np = (n + part - 1) / part, subs = (part + alias_sub - 1) / alias_sub;
    ws.parts.resize(np);
    ws.sub_surplus.resize(np * subs);
    ws.deficit_before.resize(np + 1);
    ws.surplus_before.resize(np + 2);
    auto q_of = [&](std::size_t k) { return simd::detail::opaque(static_cast<double>(w[k]) * scale); };

    // Pass 1 (parallel, read-only): per part, exact sums of deficits and surpluses.
    parallel_for(np, policy, [&](std::size_t p) {
        const std::size_t i0 = p * part, i1 = std::min(n, i0 + part);
        alias_part_sums s;
        s.argmax = i0;
        // Branch-free (light or heavy is a coin flip per item): q goes to one of two exact sums;
        // deficit = lights - (sum of light q), surplus = (sum of heavy q) - heavies.
        fx128 light_q, heavy_q;
        std::size_t lights = 0;
        for (std::size_t i = i0; i < i1; ++i) {
            if ((i - i0) % alias_sub == 0)
                ws.sub_surplus[p * subs + (i - i0) / alias_sub] = heavy_q - fx128{(i - i0) - lights, 0};
            const double q = q_of(i);
            const fx128 f = fx128::from_double(q);
            const std::uint64_t light = q < 1.0 ? ~std::uint64_t(0) : 0;
            light_q = light_q + fx128{f.hi & light, f.lo & light};
            heavy_q = heavy_q + fx128{f.hi & ~light, f.lo & ~light};
            lights += light & 1u;
            s.last_heavy = light ? s.last_heavy : i;
            if (w[i] > w[s.argmax]) s.argmax = i;
        }
        s.lights = lights;
        s.deficit = fx128{lights, 0} - light_q;
        s.surplus = heavy_q - fx128{(i1 - i0) - lights, 0};
        ws.parts[p] = s;
    });
    // Pass 2 (serial over parts): the heaviest item, prefixes. The heaviest item, if heavy, is
    // taken out of index order and swept last: the one heavy the sweep never closes takes the
    // rounding of sum q against n, and the largest q makes that the smallest relative error.
    std::size_t fallback = 0, any_heavy = SIZE_MAX;
    for (std::size_t p = 0; p < np; ++p) {
        if (w[ws.parts[p].argmax] > w[fallback]) fallback = ws.parts[p].argmax;
        if (ws.parts[p].last_heavy != SIZE_MAX) any_heavy = ws.parts[p].last_heavy;
    }
    const std::size_t last_heavy = any_heavy == SIZE_MAX ? SIZE_MAX : fallback;  // q(fallback) >= 1 then
    const fx128 last_surplus = last_heavy == SIZE_MAX ? fx128{} : fx128::from_double(q_of(last_heavy)) - fx_one;
    for (std::size_t p = 0; p < np; ++p) {
        const alias_part_sums& s = ws.parts[p];
        ws.deficit_before[p + 1] = ws.deficit_before[p] + s.deficit;
        ws.surplus_before[p + 1] = ws.surplus_before[p] + s.surplus;
        if (last_heavy / part == p) ws.surplus_before[p + 1] = ws.surplus_before[p + 1] - last_surplus;
    }
    ws.surplus_before[np + 1] = ws.surplus_before[np] + last_surplus;  // a virtual part: the last heavy
    const fx128 deficit_total = ws.deficit_before[np];
    // A light column the sweep never reaches (rounding leftovers) keeps its own item; a zero
    // weight's column gives the heaviest item instead.
    auto unreached = [&](std::size_t i) {
        e[i] = w[i] > T(0) ? alias_entry{1.0, i} : alias_entry{0.0, fallback};
    };

    // Pass 3 (parallel): part p writes its own lights' columns and the columns of the heavies it
    // closes; a heavy that is never closed (its prefix surplus covers every deficit, or no heavy
    // follows it) keeps its own column, written by the part that holds it.
    parallel_for(np, policy, [&](std::size_t p) {
        const std::size_t i0 = p * part, i1 = std::min(n, i0 + part);
        // Heavies of this part that stay whole.
        if (!(ws.surplus_before[p + 1] < deficit_total) || (last_heavy >= i0 && last_heavy < i1)) {
            fx128 s = ws.surplus_before[p];
            for (std::size_t i = i0; i < i1; ++i) {
                const double q = q_of(i);
                if (q < 1.0) continue;
                if (i == last_heavy) {  // swept last: never closed
                    e[i] = alias_entry{1.0, i};
                    continue;
                }
                s = s + (fx128::from_double(q) - fx_one);
                if (s >= deficit_total) e[i] = alias_entry{1.0, i};
            }
        }
        if (ws.parts[p].lights == 0) return;
        alias_stream<T> lights(w, scale, i0, i1, true);
        const fx128 d0 = ws.deficit_before[p];
        // The starting heavy: the first b with S(b) >= D (D the deficit before this part).
        const std::size_t pj = static_cast<std::size_t>(
            std::lower_bound(ws.surplus_before.begin() + 1, ws.surplus_before.end(), d0) - (ws.surplus_before.begin() + 1));
        double ql = 0.0;
        std::size_t i = lights.next(ql);
        if (pj > np) {  // the heavies' surplus ends before this part: nothing reaches it
            for (; i < i1; i = lights.next(ql)) unreached(i);
            return;
        }
        // Start at the last sub-block of part pj whose prefix is still below d0 (no heavy before it
        // reaches d0).
        std::size_t start = std::min(n, pj * part);
        fx128 s = ws.surplus_before[pj];
        if (pj < np) {
            const std::size_t nsub = (std::min(n, start + part) - start + alias_sub - 1) / alias_sub;
            for (std::size_t sb = nsub; sb-- > 1;) {
                const std::size_t at = start + sb * alias_sub;
                fx128 before = ws.surplus_before[pj] + ws.sub_surplus[pj * subs + sb];
                if (last_heavy >= start && last_heavy < at) before = before - last_surplus;
                if (before < d0) {
                    start = at;
                    s = before;
                    break;
                }
            }
        }
        alias_stream<T> heavies(w, scale, start, n, false, last_heavy);  // pj == np: the last heavy
        double qh = 0.0;
        std::size_t j = heavies.next(qh);
        for (;;) {  // part pj's prefix reaches d0, so one of its heavies (or the very first heavy) does
            if (j >= n) {  // no heavy at all
                for (; i < i1; i = lights.next(ql)) unreached(i);
                return;
            }
            s = s + (fx128::from_double(qh) - fx_one);
            if (s >= d0) break;
            j = heavies.next(qh);
        }
        fx128 r = s - d0 + fx_one;  // the residual of heavy j, >= 1
        // The sweep: while r >= 1 the next light takes heavy j as its alias (r -= 1 - q);
        // otherwise heavy j closes (its column keeps r, the next heavy jn pays 1 - r). A
        // branch-free step (both events computed, one selected) measured 1.4x slower: the
        // 128-bit residual's select chain costs more than the mispredictions.
        for (;;) {
            if (r >= fx_one) {
                if (i >= i1) break;
                e[i] = alias_entry{ql, j};
                r = r - (fx_one - fx128::from_double(ql));
                i = lights.next(ql);
            } else {
                const std::size_t jn = heavies.next(qh);
                if (jn >= n) break;  // no heavy left: j and the lights still open keep their own column
                e[j] = alias_entry{r.to_double(), jn};
                r = r + fx128::from_double(qh) - fx_one;  // the next heavy pays 1 - r
                j = jn;
            }
        }
        for (; i < i1; i = lights.next(ql)) unreached(i);
    });
}

}  // namespace kestrel::sensitivity::detail
