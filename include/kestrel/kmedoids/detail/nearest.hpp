// Nearest and second-nearest medoid caches and the FastPAM1 loss-change kernel
// (Schubert & Rousseeuw, "Faster k-Medoids Clustering", SISAP 2019, Algorithm 2), shared by
// FastPAM1, FastPAM2 and FasterPAM. Internal.
#pragma once

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../core/simd.hpp"
#include "../dissimilarity.hpp"
#include "../result.hpp"
#include "checks.hpp"

namespace kestrel {
namespace kmedoids {
namespace detail {

/// Reads row c of a source: d(c, o) for all o. For a dense matrix that is the
/// contiguous row c; other sources are evaluated on demand.
template <class D, class = void>
struct row_access {
    static auto get(const D& d, std::size_t c, std::size_t o) { return d(c, o); }  // user code: may throw
};
template <class D>
struct row_access<D, std::void_t<decltype(std::declval<const D&>().row(std::size_t(0)))>> {
    static auto get(const D& d, std::size_t c, std::size_t o) { return d.row(c)[o]; }
};

template <class D, class = void>
struct has_rows : std::false_type {};
template <class D>
struct has_rows<D, std::void_t<decltype(std::declval<const D&>().row(std::size_t(0)))>> : std::true_type {};

/// Per point: the nearest and second-nearest medoid (slots and dissimilarities), always
/// exact, and a third-nearest held as a reserve that may be unknown (third = none). The
/// reserve spares most rescans after a swap: a point that loses its nearest or second moves
/// the next one up and needs a scan over all k medoids only when no reserve is left.
template <class T>
struct nearest_cache {
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> nearest, second;  // slots
    std::vector<T> dn, ds;                       // their dissimilarities (ds = +inf when k = 1)
    std::vector<std::uint32_t> third;            // slot of the third-nearest, or none if unknown
    std::vector<T> d3;
    // For double: ds rounded up to float, the SIMD filter of the candidate pass (v < ds
    // implies v < ds_filter; the few false hits are checked exactly). Half the bytes of ds
    // keeps the filter in L1 beside the streamed row: measured 1.3x-1.5x faster filtering.
    std::vector<float> ds_filter;

    void resize(std::size_t n) {
        nearest.assign(n, none);
        second.assign(n, none);
        third.assign(n, none);
        dn.assign(n, T(0));
        ds.assign(n, T(0));
        d3.assign(n, T(0));
        if constexpr (std::is_same<T, double>::value) ds_filter.assign(n, 0.0f);
    }
    /// The float filter for the candidate pass; null for float (ds is compared directly).
    const float* filter() const noexcept {
        if constexpr (std::is_same<T, double>::value) return ds_filter.data();
        else return nullptr;
    }
    /// Call after writing ds[o].
    void refresh_filter(std::size_t o) noexcept {
        if constexpr (std::is_same<T, double>::value) ds_filter[o] = round_up_to_float(ds[o]);
        else (void)o;
    }

    /// The smallest float >= v (conversions of out-of-range values are avoided: they are
    /// undefined in C++).
    static float round_up_to_float(double v) noexcept {
        constexpr double fmax = static_cast<double>(std::numeric_limits<float>::max());
        if (!(v <= fmax)) return v > fmax ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
        if (v < -fmax) return -std::numeric_limits<float>::max();
        float f = static_cast<float>(v);
        if (static_cast<double>(f) < v) f = std::nextafter(f, std::numeric_limits<float>::infinity());
        return f;
    }
};

// (d1, s1) before (d2, s2): smaller dissimilarity, ties to the smaller slot.
template <class T>
inline bool before(T d1, std::uint32_t s1, T d2, std::uint32_t s2) noexcept {
    return d1 < d2 || (d1 == d2 && s1 < s2);
}

// Convention of every k-medoids kernel: the dissimilarity between a medoid (or candidate) m
// and a point o is read as d(m, o), row m. For a dense matrix that is a contiguous row, and
// an input that is symmetric only within the validation tolerance is read consistently.

// Offers (v, s) to a point's top three (d1, s1) < (d2, s2) < (d3, s3) when slots come in
// increasing order (a fresh ranking): s is larger than every slot held, so it goes before an
// entry only at a strictly smaller dissimilarity. Branch free: in a scan the comparisons
// are unpredictable.
template <class T>
inline void offer3_in_order(T v, std::uint32_t s, T& d1, std::uint32_t& s1, T& d2, std::uint32_t& s2, T& d3,
                            std::uint32_t& s3) noexcept {
    const bool b1 = v < d1, b2 = v < d2, b3 = v < d3;
    d3 = b2 ? d2 : (b3 ? v : d3);
    s3 = b2 ? s2 : (b3 ? s : s3);
    d2 = b1 ? d1 : (b2 ? v : d2);
    s2 = b1 ? s1 : (b2 ? s : s2);
    d1 = b1 ? v : d1;
    s1 = b1 ? s : s1;
}

template <class D, class T>
void assign_point(const D& d, const std::vector<std::size_t>& medoids, std::size_t o, nearest_cache<T>& c) {
    const T inf = std::numeric_limits<T>::infinity();
    T d1 = inf, d2 = inf, d3 = inf;
    std::uint32_t s1 = nearest_cache<T>::none, s2 = s1, s3 = s1;
    // The k reads hit k different rows (cache misses on a large matrix): gather a chunk
    // first, without branches, so the misses overlap; then rank it.
    constexpr std::size_t chunk = 32;
    T v[chunk];
    const std::size_t k = medoids.size();
    for (std::size_t i0 = 0; i0 < k; i0 += chunk) {
        const std::size_t len = std::min(chunk, k - i0);
        for (std::size_t i = 0; i < len; ++i) v[i] = static_cast<T>(d(medoids[i0 + i], o));
        for (std::size_t i = 0; i < len; ++i)
            offer3_in_order(v[i], static_cast<std::uint32_t>(i0 + i), d1, s1, d2, s2, d3, s3);
    }
    c.nearest[o] = s1;
    c.dn[o] = d1;
    c.second[o] = s2;
    c.ds[o] = d2;
    c.refresh_filter(o);
    c.third[o] = s3;
    c.d3[o] = d3;
}

/// Nearest, second and third medoid of every point. Medoid by medoid over blocks of points,
/// so a dense matrix is read as k contiguous row segments per block (not n * k scattered
/// values); every point sees the medoids in slot order, exactly as assign_point does.
/// Blocks are fixed by n and independent: the same cache at any thread count.
template <class D, class T>
void assign_all(const D& d, const std::vector<std::size_t>& medoids, nearest_cache<T>& c,
                exec_policy policy = exec_policy::serial()) {
    const std::size_t n = d.size(), k = medoids.size();
    c.resize(n);
    const T inf = std::numeric_limits<T>::infinity();
    constexpr std::size_t block = 1024;
    const std::size_t nblocks = (n + block - 1) / block;
    parallel_for(nblocks, policy, [&](std::size_t b) {
        const std::size_t begin = b * block, end = std::min(n, begin + block);
        T *d1 = c.dn.data(), *d2 = c.ds.data(), *d3 = c.d3.data();
        std::uint32_t *s1 = c.nearest.data(), *s2 = c.second.data(), *s3 = c.third.data();
        for (std::size_t o = begin; o < end; ++o) d1[o] = d2[o] = d3[o] = inf;
        std::size_t o0 = begin;
        if constexpr (has_rows<D>::value) {
            // SIMD over the points of the block: slots travel as values of T beside the
            // dissimilarities (exact below 2^digits), so one select moves both; ranks as in
            // offer3_in_order.
            namespace sd = kestrel::simd::detail;
            constexpr std::size_t W = sd::width<T>;
            // Sub-blocks of 256 points keep the six running arrays in L1.
            constexpr std::size_t sub = 256;
            if (k < (std::size_t(1) << std::numeric_limits<T>::digits) && end - begin >= W) {
                alignas(64) T f1[sub], f2[sub], f3[sub];
                const std::size_t stop = begin + (end - begin) / W * W;
                for (std::size_t sb = begin; sb < stop; sb += sub) {
                    const std::size_t len = std::min(sub, stop - sb);
                    for (std::size_t o = 0; o < len; ++o) f1[o] = f2[o] = f3[o] = T(-1);
                    for (std::size_t i = 0; i < k; ++i) {
                        const T* row = d.row(medoids[i]) + sb;
                        const auto s = sd::splat<T>(static_cast<T>(i));
                        for (std::size_t o = 0; o < len; o += W) {
                            const auto v = sd::load(row + o);
                            T *p1 = d1 + sb + o, *p2 = d2 + sb + o, *p3 = d3 + sb + o;
                            const auto a1 = sd::load(p1), a2 = sd::load(p2), a3 = sd::load(p3);
                            const auto g1 = sd::load(f1 + o), g2 = sd::load(f2 + o), g3 = sd::load(f3 + o);
                            sd::store(p3, sd::select_less(v, a2, a2, sd::select_less(v, a3, v, a3)));
                            sd::store(f3 + o, sd::select_less(v, a2, g2, sd::select_less(v, a3, s, g3)));
                            sd::store(p2, sd::select_less(v, a1, a1, sd::select_less(v, a2, v, a2)));
                            sd::store(f2 + o, sd::select_less(v, a1, g1, sd::select_less(v, a2, s, g2)));
                            sd::store(p1, sd::select_less(v, a1, v, a1));
                            sd::store(f1 + o, sd::select_less(v, a1, s, g1));
                        }
                    }
                    constexpr std::uint32_t none = nearest_cache<T>::none;
                    for (std::size_t o = 0; o < len; ++o) {
                        s1[sb + o] = f1[o] < T(0) ? none : static_cast<std::uint32_t>(f1[o]);
                        s2[sb + o] = f2[o] < T(0) ? none : static_cast<std::uint32_t>(f2[o]);
                        s3[sb + o] = f3[o] < T(0) ? none : static_cast<std::uint32_t>(f3[o]);
                    }
                }
                o0 = stop;
            }
        }
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t m = medoids[i];
            const auto s = static_cast<std::uint32_t>(i);
            for (std::size_t o = o0; o < end; ++o)
                offer3_in_order(static_cast<T>(d(m, o)), s, d1[o], s1[o], d2[o], s2[o], d3[o], s3[o]);
        }
        for (std::size_t o = begin; o < end; ++o) c.refresh_filter(o);
    });
}

/// After slot `slot` changed to medoid m = medoids[slot]: keeps (nearest, second) equal to
/// what assign_all gives, and the third either exact or unknown. Per point, with
/// v = d(m, o): the slot leaves the known list (the ones behind it move up), then (v, slot)
/// enters it where it belongs, which is known only if it comes before the last known entry.
/// A scan over all k medoids is needed only if fewer than two entries remain known.
template <class D, class T>
void update_after_swap(const D& d, const std::vector<std::size_t>& medoids, std::size_t slot, nearest_cache<T>& c,
                       exec_policy policy = exec_policy::serial()) {
    constexpr std::uint32_t none = nearest_cache<T>::none;
    const auto s = static_cast<std::uint32_t>(slot);
    const std::size_t m = medoids[slot], n = d.size();
    auto update = [&](std::size_t o) {
        const T v = static_cast<T>(row_access<D>::get(d, m, o));
        std::uint32_t s1 = c.nearest[o], s2 = c.second[o], s3 = c.third[o];
        int known = s3 == none ? 2 : 3;
        // Most points keep their list: the slot is not in it and the new medoid comes after
        // its last known entry. Nothing to write for them.
        if (s1 != s && s2 != s && s3 != s && !(known == 3 ? before(v, s, c.d3[o], s3) : before(v, s, c.ds[o], s2)))
            return;
        T d1 = c.dn[o], d2 = c.ds[o], d3 = c.d3[o];
        if (s1 == s) {
            d1 = d2, s1 = s2, d2 = d3, s2 = s3, s3 = none, --known;
        } else if (s2 == s) {
            d2 = d3, s2 = s3, s3 = none, --known;
        } else if (s3 == s) {
            s3 = none, --known;
        }
        // Insert (v, s) if it comes before the last known entry.
        if (before(v, s, d1, s1)) {
            if (known >= 2) d3 = d2, s3 = s2;
            d2 = d1, s2 = s1, d1 = v, s1 = s;
            ++known;
        } else if (known >= 2 && before(v, s, d2, s2)) {
            d3 = d2, s3 = s2, d2 = v, s2 = s;
            ++known;
        } else if (known == 3 && before(v, s, d3, s3)) {
            d3 = v, s3 = s;
        }
        if (known < 2) {  // k = 1 keeps one entry; k = 2 always lands here, cheaply
            if (medoids.size() >= 2) {
                assign_point(d, medoids, o, c);
                return;
            }
            d2 = std::numeric_limits<T>::infinity(), s2 = none;
        }
        if (known > 3) known = 3;
        c.dn[o] = d1, c.nearest[o] = s1;
        c.ds[o] = d2, c.second[o] = s2;
        c.refresh_filter(o);
        c.d3[o] = d3, c.third[o] = known >= 3 ? s3 : none;
    };
    // Points are independent: blocks in parallel for large n (same result at any count).
    const std::size_t nblocks = n >= 4096 ? std::size_t(16) : std::size_t(1);
    parallel_for(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        for (std::size_t o = r.begin; o < r.end; ++o) update(o);
    });
}

template <class T>
double total_loss(const nearest_cache<T>& c) {
    double s = 0;
    for (const T v : c.dn) s += static_cast<double>(v);
    return s;
}

/// removal[i] = loss increase if medoid slot i were removed (its points go to their second).
template <class T>
void removal_loss(const nearest_cache<T>& c, std::size_t k, std::vector<double>& removal) {
    removal.assign(k, 0.0);
    if (k == 1) return;  // handled separately in candidate_deltas
    for (std::size_t o = 0; o < c.dn.size(); ++o)
        removal[c.nearest[o]] += static_cast<double>(c.ds[o]) - static_cast<double>(c.dn[o]);
}

// Rows are read ahead by 8 KiB (two pages), one prefetch per 64-byte line: measured at
// n = 10000 (double), FasterPAM ran 1.2x-1.8x faster single-threaded with it, and reaching
// into the next row made a FastPAM1 iteration at n = 2000 1.3x faster.
template <class T>
inline constexpr std::size_t prefetch_distance = 8192 / sizeof(T);
template <class T>
inline constexpr std::size_t prefetch_line = 64 / sizeof(T);

/// Calls f(o, v) with v = d(cand, o), in increasing o, for exactly the points with
/// v < threshold[o]. On dense rows, chunk by chunk: a SIMD compare gives the lanes that pass
/// (few, in a SWAP pass), their indices are packed into a list (without branches where the
/// CPU has a compress instruction: unpredictable per-lane branches cost more than the pass
/// itself), then f runs over the list. `filter` (float, may be null; used for double rows) is
/// a conservative stand-in for threshold in the SIMD compare: threshold[o] <= filter[o]; the
/// points it lets through are checked exactly. The row is prefetched ahead, past its end into
/// the next rows if `next_rows_follow` (the caller's next candidate is cand + 1).
/// With Check, the same scan also tests every value of the row (finite, >= 0; exact, as
/// values_ok) and returns false if one fails (f may then have seen bad values); otherwise
/// it returns true.
template <bool Check = false, class D, class T, class F>
bool for_each_closer(const D& d, std::size_t cand, const T* threshold, const float* filter, F&& f,
                     bool next_rows_follow = true) {
    const std::size_t n = d.size();
    if constexpr (has_rows<D>::value) {
        namespace sd = kestrel::simd::detail;
        constexpr std::size_t W = sd::width<T>;
        constexpr std::size_t chunk = 2048;  // a multiple of W; 8 KiB of indices on the stack
        constexpr bool widen = std::is_same<T, double>::value;
        std::uint32_t idx[chunk + W];
        const T* row = d.row(cand);
        // Past the end of this row the prefetch reaches into the next rows (the next
        // candidates, on a contiguous matrix), up to the end of the last row.
        const auto reach = next_rows_follow ? static_cast<std::size_t>(d.row(n - 1) + n - row) : n;
        const auto zero = sd::splat<T>(T(0));
        auto nonfinite = zero, low = zero;  // the value test of values_ok, folded in
        bool tail_ok = true;
        auto scan = [&](auto use_filter) {
            constexpr bool filtered = decltype(use_filter)::value;
            for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
                const std::size_t cend = std::min(n, c0 + chunk);
                unsigned count = 0;
                std::size_t o = c0;
                for (; o + W <= cend; o += W) {
                    if (o % prefetch_line<T> == 0 && o + prefetch_distance<T> < reach)
                        sd::prefetch(row + o + prefetch_distance<T>);
                    unsigned m;
                    if constexpr (Check) {
                        const auto v = sd::load(row + o);
                        nonfinite = sd::fmadd(v, zero, nonfinite);
                        low = sd::vmin(low, v);
                    }
                    if constexpr (filtered) m = sd::less_mask_widened(row + o, filter + o);
                    else m = sd::less_mask(sd::load(row + o), sd::load(threshold + o));
                    count += sd::compress_lanes<T>(m, static_cast<std::uint32_t>(o), idx + count);
                }
                for (; o < cend; ++o) {
                    if constexpr (Check) tail_ok = tail_ok && valid_value(row[o]);
                    if (row[o] < threshold[o]) idx[count++] = static_cast<std::uint32_t>(o);
                }
                for (unsigned t = 0; t < count; ++t) {
                    const std::size_t j = idx[t];
                    const T v = row[j];
                    if (filtered && !(v < threshold[j])) continue;  // a false hit of the float filter
                    f(j, v);
                }
            }
        };
        if constexpr (widen) {
            if (filter != nullptr) scan(std::true_type{});
            else scan(std::false_type{});
        } else {
            scan(std::false_type{});
        }
        if constexpr (Check) return tail_ok && sd::hsum(nonfinite) == T(0) && sd::less_mask(low, zero) == 0u;
        return true;
    } else {
        (void)filter;
        (void)next_rows_follow;
        bool ok = true;
        for (std::size_t o = 0; o < n; ++o) {
            const T v = static_cast<T>(d(cand, o));
            if constexpr (Check) ok = ok && (o == cand || valid_value(v));
            if (v < threshold[o]) f(o, v);
        }
        return ok;
    }
}

/// Loss change of swapping candidate `cand` into each slot i: delta[i] (k values). One pass
/// over the n points (FastPAM1's O(k) saving over PAM).
/// With Check, also tests the candidate's row (see for_each_closer) and returns the outcome.
template <bool Check = false, class D, class T>
bool candidate_deltas(const D& d, std::size_t cand, const nearest_cache<T>& c, const std::vector<double>& removal,
                      double* delta, bool next_rows_follow = true) {
    const std::size_t n = c.dn.size(), k = removal.size();
    if (k == 1) {  // no second medoid: every point moves to the candidate
        double s = 0;
        bool ok = true;
        for (std::size_t o = 0; o < n; ++o) {
            const T v = static_cast<T>(row_access<D>::get(d, cand, o));
            if constexpr (Check) ok = ok && (o == cand || valid_value(v));
            s += static_cast<double>(v) - static_cast<double>(c.dn[o]);
        }
        delta[0] = s;
        return ok;
    }
    for (std::size_t i = 0; i < k; ++i) delta[i] = removal[i];
    double shared = 0;
    const T* dn = c.dn.data();
    const T* ds = c.ds.data();
    const std::uint32_t* nr = c.nearest.data();
    // Point o matters only if the candidate is closer than its second medoid (v < ds[o])
    // (Schubert & Rousseeuw 2019, Alg. 2). If v < dn[o] it moves to the candidate whichever
    // medoid leaves: shared change v - dn[o], and its own slot's removal term ds - dn is
    // undone (+ dn - ds). Otherwise it moves only if its own medoid leaves, to the candidate
    // instead of its second: v - ds. Both cases: max(v, dn) - ds for the own slot. Branch
    // free: for v >= dn[o] the shared term is +0, which leaves the sum unchanged.
    auto point = [&](std::size_t o, T v) {
        const double vd = static_cast<double>(v), a = static_cast<double>(dn[o]), b = static_cast<double>(ds[o]);
        shared += std::min(vd - a, 0.0);
        delta[nr[o]] += std::max(vd, a) - b;
    };
    const bool ok = for_each_closer<Check>(d, cand, ds, c.filter(), point, next_rows_follow);
    for (std::size_t i = 0; i < k; ++i) delta[i] += shared;
    return ok;
}

/// Checks k and the medoid list against n: 1 <= k <= n, indices < n, no duplicates.
inline void check_medoids(std::size_t n, const std::vector<std::size_t>& medoids, const char* function) {
    check_size(n, function);
    require(!medoids.empty(), function, "medoids", "k = 0: need at least one medoid");
    require(medoids.size() <= n, function, "medoids", "k = ", medoids.size(), " exceeds the number of points n = ", n);
    std::vector<char> seen(n, 0);
    for (std::size_t i = 0; i < medoids.size(); ++i) {
        require(medoids[i] < n, function, "medoids", "entry ", i, " = ", medoids[i], " is out of range [0, ", n, ")");
        require(!seen[medoids[i]], function, "medoids", "point ", medoids[i], " appears twice");
        seen[medoids[i]] = 1;
    }
}

inline void check_k(std::size_t k, std::size_t n, const char* function) {
    check_size(n, function);
    require(k >= 1, function, "k", "must be >= 1, got ", k);
    require(k <= n, function, "k", "k = ", k, " exceeds the number of points n = ", n);
}

template <class T>
std::vector<std::size_t> labels_of(const nearest_cache<T>& c) {
    return std::vector<std::size_t>(c.nearest.begin(), c.nearest.end());
}

/// The value test of one row (finite, >= 0, and d(i, i) = 0): SIMD on dense rows.
template <class D>
bool row_ok(const D& d, std::size_t i) {
    const std::size_t n = d.size();
    if constexpr (has_rows<D>::value) {
        return values_ok(d.row(i), n) && d.row(i)[i] == 0;
    } else {
        for (std::size_t j = 0; j < n; ++j) {
            const auto v = d(i, j);
            if (j == i ? !(v == 0) : !valid_value(v)) return false;
        }
        return true;
    }
}

/// Throws for the first bad entry of row i (a row row_ok refused).
template <class D>
[[noreturn]] void fail_row(const D& d, std::size_t i, const char* function) {
    for (std::size_t j = 0;; ++j) {
        const auto v = row_access<D>::get(d, i, j);
        if (j != i && !valid_value(v)) fail_entry(function, i, j, static_cast<double>(v));
        if (j == i && v != 0) fail_diagonal(function, i, static_cast<double>(v));
        if (j + 1 >= d.size()) fail_argument(function, "dissimilarity", "row ", i, " is invalid");
    }
}

/// Checks the given rows (e.g. the medoids') now; throws for the first bad one in row order.
template <class D>
void check_rows_now(const D& d, const std::vector<std::size_t>& rows, const char* function) {
    std::size_t first = d.size();
    for (std::size_t i : rows)
        if (i < first && !row_ok(d, i)) first = i;
    if (first < d.size()) fail_row(d, first, function);
}

/// Checks every row (in parallel) and throws for the first bad one in row order.
template <class D>
void check_all_rows(const D& d, exec_policy policy, const char* function) {
    const std::size_t n = d.size();
    if constexpr (has_rows<D>::value) {
        auto row = [&](std::size_t i) { return d.row(i); };
        const tile_findings f = scan_tiles<typename D::value_type>(row, n, false, 0.0, true, true, policy);
        if (f.bad_row < n) fail_row(d, f.bad_row, function);
        for (std::size_t i = 0; i < n; ++i)
            if (d.row(i)[i] != 0) fail_row(d, i, function);
    } else {
        const std::size_t nblocks = std::min<std::size_t>(n, 256);
        std::vector<std::size_t> first(nblocks, n);
        parallel_for_dynamic(nblocks, policy, [&](std::size_t b) {
            const block_range r = block_bounds(n, nblocks, b);
            for (std::size_t i = r.begin; i < r.end; ++i)
                if (!row_ok(d, i)) {
                    first[b] = i;
                    break;
                }
        });
        for (std::size_t i : first)
            if (i < n) fail_row(d, i, function);
    }
}

/// The symmetry check of the options (dense matrices only): sampled or full.
template <class D, class Options>
void check_symmetry_of(const D& d, const Options& opt, exec_policy policy, const char* function) {
    if constexpr (has_rows<D>::value) {
        if (!opt.check_symmetry) return;
        auto row = [&](std::size_t i) { return d.row(i); };
        const tile_findings f = scan_tiles<typename D::value_type>(row, d.size(), true, opt.symmetry_tolerance, false,
                                                                   opt.full_symmetry_check, policy);
        if (f.asym.found) fail_asymmetry(function, f.asym, opt.symmetry_tolerance);
    } else {
        (void)d, (void)opt, (void)policy, (void)function;
    }
}

/// The option checks every SWAP routine runs before any work.
template <class Options>
void check_swap_options(const Options& opt, const char* function) {
    check_policy(opt.policy, function, "opt.policy");
    check_tolerance(opt.symmetry_tolerance, function, "opt.symmetry_tolerance");
}

/// The input check of a SWAP routine, folded into its first pass over the candidates.
/// Construction checks the options and the medoids, the symmetry (sample or full, as the
/// options say), and the medoid rows: the state the search starts from holds checked values
/// only. Then every candidate evaluation goes through evaluate(): a row not yet checked is
/// evaluated by the checking variant of the kernel; a bad row gets zero changes (never
/// swapped in), and from then on every evaluation returns zeros, so the search ends within a
/// cycle. finish() checks the rows no evaluation read and throws for the first bad entry in
/// row order. A swapped-in medoid was evaluated, hence checked: the state never holds an
/// unchecked value. Row states are written only by the thread evaluating that row.
template <class D>
class input_guard {
public:
    input_guard(const D& d, const std::vector<std::size_t>& medoids, const swap_options& opt, const char* function)
        : d_(d), function_(function), policy_(opt.policy) {
        check_swap_options(opt, function);
        check_medoids(d.size(), medoids, function);
        if (!opt.validate_input) return;
        bool medoid_rows_ok = true;
        for (std::size_t m : medoids) medoid_rows_ok = medoid_rows_ok && row_ok(d, m);
        // A bad medoid row: the search cannot start; report the first bad row of all. Full
        // mode checks everything up front (one read). Otherwise the first pass does, for any
        // source (on points, that spares a pass of metric evaluations).
        if (!medoid_rows_ok || opt.full_symmetry_check) {
            check_all_rows(d, opt.policy, function);
        } else {
            active_ = true;
            state_.assign(d.size(), 0);
            for (std::size_t m : medoids) state_[m] = 1;
        }
        check_symmetry_of(d, opt, opt.policy, function);
    }

    bool failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

    /// Runs plain(delta) or, for a row's first evaluation, checked(delta) (returning the row's
    /// value test); zeros after a failure.
    template <class Plain, class Checked>
    void evaluate(std::size_t h, double* delta, std::size_t k, Plain&& plain, Checked&& checked) {
        if (!active_) return plain();
        if (failed()) return zero(delta, k);
        if (state_[h] != 0) return plain();
        const bool ok = checked() && row_access<D>::get(d_, h, h) == 0;
        state_[h] = ok ? 1 : 2;
        if (!ok) {
            failed_.store(true, std::memory_order_relaxed);
            zero(delta, k);
        }
    }

    /// After the search: the rows no evaluation checked, then the first bad row (if any).
    void finish() const {
        if (!active_) return;
        const std::size_t n = d_.size();
        std::vector<std::size_t> rest;
        for (std::size_t i = 0; i < n; ++i)
            if (state_[i] == 0) rest.push_back(i);
        std::vector<char> bad(rest.size(), 0);
        parallel_for_dynamic(rest.size(), policy_, [&](std::size_t t) { bad[t] = !row_ok(d_, rest[t]); });
        std::size_t first = n, t = 0;
        for (std::size_t i = 0; i < n && first == n; ++i) {
            if (state_[i] == 2) first = i;
            if (state_[i] == 0 && bad[t++]) first = i;
        }
        if (first < n) fail_row(d_, first, function_);
    }

private:
    static void zero(double* delta, std::size_t k) noexcept {
        for (std::size_t i = 0; i < k; ++i) delta[i] = 0.0;
    }
    const D& d_;
    const char* function_;
    exec_policy policy_;
    bool active_ = false;
    std::vector<unsigned char> state_;  // 0 unchecked, 1 fine, 2 bad
    std::atomic<bool> failed_{false};
};

/// The checks of routines that validate the whole input up front (PAM, alternating).
template <class D>
void check_swap_input(const D& d, const std::vector<std::size_t>& medoids, const swap_options& opt,
                      const char* function) {
    check_swap_options(opt, function);
    check_medoids(d.size(), medoids, function);
    if (!opt.validate_input) return;
    check_all_rows(d, opt.policy, function);
    check_symmetry_of(d, opt, opt.policy, function);
}

template <class T>
clustering finish(const nearest_cache<T>& c, std::vector<std::size_t> medoids, std::size_t iterations,
                  std::size_t swaps, bool converged = false) {
    clustering r;
    r.converged = converged;
    r.medoids = std::move(medoids);
    r.labels = labels_of(c);
    r.loss = total_loss(c);
    r.iterations = iterations;
    r.swaps = swaps;
    return r;
}

}  // namespace detail
}  // namespace kmedoids
}  // namespace kestrel
