// Direct optimization of the medoid silhouette (Lenssen & Schubert, "Clustering by Direct
// Optimization of the Medoid Silhouette", SISAP 2022; "Medoid Silhouette clustering with
// automatic cluster number selection", Information Systems 2024).
//
// The medoid silhouette of point j is s_j = 1 - d1(j) / d2(j), with d1, d2 the dissimilarities
// to its nearest and second-nearest medoid (s_j = 0 when both are 0); its mean over the points
// is to be maximized, i.e. the sum of the ratios r_j = d1/d2 minimized (r_j = 1 when d2 = 0).
//
// fastmsc: FastMSC, the SWAP of PAMMEDSIL (Van der Laan et al. 2003: per iteration make the
// single swap that increases the medoid silhouette most, until none does) computed with a
// FastPAM1-style decomposition. With the nearest, second and third medoid of every point
// cached, the change of r_j for swapping candidate c into slot i is the same for every slot
// except j's nearest and second-nearest; so one pass over the points gives all k changes of
// a candidate (a shared term plus two per-point corrections), and only points with
// d(c, j) < d3(j) need work beyond a precomputed "removal" term. O(n (n - k)) per iteration
// instead of PAMMEDSIL's O(k n (n - k)).
// Rules as for the other SWAP routines: ties go to the smallest candidate, then the smallest
// slot; a swap is made only if the ratio sum decreases; parallel over candidate blocks fixed
// by n, compared in order, so the result does not depend on the thread count.
//
// fastermsc: FasterMSC, the same changes searched eagerly as FasterPAM does (the first
// improving candidate in cyclic index order is swapped in at once; detail/eager_search.hpp),
// usually far fewer passes than FastMSC. Same result at any thread count.
//
// dynmsc: DynMSC chooses k in [k_min, k_max]. It starts from k_max given medoids, optimizes
// with FasterMSC (as the authors' implementation; FastMSC on request), then removes the
// medoid whose removal lowers the medoid silhouette least (ties: smallest slot; the later
// slots move up by one), optimizes again, and so on down to k_min. It returns the k with the
// highest medoid silhouette (ties: the smaller k), its clustering, and the medoid silhouette
// for every k.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"
#include "detail/eager_search.hpp"
#include "detail/best_swap.hpp"
#include "detail/nearest.hpp"
#include "dissimilarity.hpp"
#include "result.hpp"

namespace kestrel {
namespace kmedoids {

/// A clustering together with its mean medoid silhouette.
struct msc_result {
    clustering result;        ///< medoids, labels, loss (sum of d to nearest medoid), iterations, swaps
    double silhouette = 0;    ///< mean medoid silhouette of result.medoids
};

/// How a medoid-silhouette SWAP searches: best swap per pass (FastMSC) or eager (FasterMSC).
enum class msc_search { best, eager };

struct dynmsc_result {
    std::size_t best_k = 0;            ///< the k with the highest medoid silhouette
    msc_result best;                   ///< its clustering
    std::size_t k_min = 0;             ///< silhouettes[t] is for k = k_min + t
    std::vector<double> silhouettes;   ///< medoid silhouette after optimization, per k
    bool converged = true;             ///< every optimization (one per k) converged
};

namespace detail {

/// Nearest, second- and third-nearest medoid slots of every point (ties: smallest slot), and
/// their dissimilarities; d3 = +inf when k = 2.
template <class T>
struct nearest3_cache {
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> n1, n2, n3;
    std::vector<T> d1, d2, d3;
    void resize(std::size_t n) {
        n1.assign(n, none);
        n2.assign(n, none);
        n3.assign(n, none);
        d1.assign(n, T(0));
        d2.assign(n, T(0));
        d3.assign(n, T(0));
    }
};

template <class D, class T>
void assign3_point(const D& d, const std::vector<std::size_t>& medoids, std::size_t o, nearest3_cache<T>& c) {
    const T inf = std::numeric_limits<T>::infinity();
    T a = inf, b = inf, e = inf;
    std::uint32_t sa = c.none, sb = c.none, se = c.none;
    for (std::size_t i = 0; i < medoids.size(); ++i) {
        const T v = static_cast<T>(d(medoids[i], o));
        const auto s = static_cast<std::uint32_t>(i);
        if (before(v, s, a, sa)) {
            e = b, se = sb, b = a, sb = sa, a = v, sa = s;
        } else if (before(v, s, b, sb)) {
            e = b, se = sb, b = v, sb = s;
        } else if (before(v, s, e, se)) {
            e = v, se = s;
        }
    }
    c.n1[o] = sa, c.n2[o] = sb, c.n3[o] = se;
    c.d1[o] = a, c.d2[o] = b, c.d3[o] = e;
}

template <class D, class T>
void assign3_all(const D& d, const std::vector<std::size_t>& medoids, nearest3_cache<T>& c, exec_policy policy) {
    const std::size_t n = d.size();
    c.resize(n);
    const std::size_t nblocks = n >= 4096 ? std::size_t(16) : std::size_t(1);
    parallel_for(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        for (std::size_t o = r.begin; o < r.end; ++o) assign3_point(d, medoids, o, c);
    });
}

/// After slot `slot` changed to medoid medoids[slot]: points that had the slot among their
/// three are recomputed, the others only compare the new medoid with their three.
template <class D, class T>
void update3_after_swap(const D& d, const std::vector<std::size_t>& medoids, std::size_t slot, nearest3_cache<T>& c,
                        exec_policy policy) {
    const auto s = static_cast<std::uint32_t>(slot);
    const std::size_t m = medoids[slot], n = d.size();
    auto update = [&](std::size_t o) {
        if (c.n1[o] == s || c.n2[o] == s || c.n3[o] == s) {
            assign3_point(d, medoids, o, c);
            return;
        }
        const T v = static_cast<T>(row_access<D>::get(d, m, o));
        if (before(v, s, c.d1[o], c.n1[o])) {
            c.n3[o] = c.n2[o], c.d3[o] = c.d2[o];
            c.n2[o] = c.n1[o], c.d2[o] = c.d1[o];
            c.n1[o] = s, c.d1[o] = v;
        } else if (before(v, s, c.d2[o], c.n2[o])) {
            c.n3[o] = c.n2[o], c.d3[o] = c.d2[o];
            c.n2[o] = s, c.d2[o] = v;
        } else if (before(v, s, c.d3[o], c.n3[o])) {
            c.n3[o] = s, c.d3[o] = v;
        }
    };
    const std::size_t nblocks = n >= 4096 ? std::size_t(16) : std::size_t(1);
    parallel_for(nblocks, policy, [&](std::size_t b) {
        const block_range r = block_bounds(n, nblocks, b);
        for (std::size_t o = r.begin; o < r.end; ++o) update(o);
    });
}

// r = a / b with a <= b; 1 when b = 0 (then a = 0: silhouette 0), 0 when b = +inf.
inline double msc_ratio(double a, double b) noexcept { return b > 0 ? a / b : 1.0; }

/// Sum over points of d1/d2 (to be minimized); mean silhouette = 1 - sum / n.
template <class T>
double ratio_sum(const nearest3_cache<T>& c) {
    double s = 0;
    for (std::size_t o = 0; o < c.d1.size(); ++o) s += msc_ratio(c.d1[o], c.d2[o]);
    return s;
}

/// removal[i] = change of the ratio sum if slot i were removed and nothing added, for points
/// whose new second medoid is their old third (a candidate farther than d3 changes nothing
/// for them). Requires k >= 2 (d3 = +inf when k = 2: those points are all corrected per
/// candidate, since the candidate is then always nearer than d3).
template <class T>
void msc_removal(const nearest3_cache<T>& c, std::size_t k, std::vector<double>& removal) {
    removal.assign(k, 0.0);
    for (std::size_t o = 0; o < c.d1.size(); ++o) {
        const double a = c.d1[o], b = c.d2[o], e = c.d3[o];
        const double now = msc_ratio(a, b);
        removal[c.n1[o]] += msc_ratio(b, e) - now;
        removal[c.n2[o]] += msc_ratio(a, e) - now;
    }
}

/// delta[i] = change of the ratio sum when candidate `cand` replaces slot i (k values), in
/// one pass over the points. Cases for point o with dc = d(cand, o) (derivation: the new
/// nearest two among {d1, d2, d3, dc} without the removed slot):
///   dc < d1       : r' = dc/d2 if slot n1 leaves, else dc/d1
///   d1 <= dc < d2 : r' = dc/d2 if slot n1 leaves, else d1/dc
///   d2 <= dc < d3 : r' = d2/dc if n1 leaves, d1/dc if n2 leaves, else unchanged
///   dc >= d3      : as in msc_removal (nothing to do)
template <bool Check = false, class D, class T>
bool msc_candidate_deltas(const D& d, std::size_t cand, const nearest3_cache<T>& c, const std::vector<double>& removal,
                          double* delta, bool next_rows_follow = true) {
    const std::size_t k = removal.size();
    for (std::size_t i = 0; i < k; ++i) delta[i] = removal[i];
    double shared = 0;
    const T* d3 = c.d3.data();
    // Only points with d(cand, o) < d3[o] differ from the removal terms.
    auto point = [&](std::size_t o, T vt) {
        const double v = vt, a = c.d1[o], b = c.d2[o], e = d3[o];
        const double now = msc_ratio(a, b);
        const std::uint32_t s1 = c.n1[o], s2 = c.n2[o];
        // Undo the removal terms for this point; the cases below give the exact values.
        const double rem1 = msc_ratio(b, e) - now, rem2 = msc_ratio(a, e) - now;
        if (vt < c.d2[o]) {
            const double others = (vt < c.d1[o] ? msc_ratio(v, a) : msc_ratio(a, v)) - now;
            shared += others;
            delta[s1] += msc_ratio(v, b) - now - others - rem1;
            delta[s2] -= rem2;  // slot n2 leaving: same as any other slot
        } else {
            delta[s1] += msc_ratio(b, v) - now - rem1;
            delta[s2] += msc_ratio(a, v) - now - rem2;
        }
    };
    const bool ok = for_each_closer<Check>(d, cand, d3, static_cast<const float*>(nullptr), point, next_rows_follow);
    for (std::size_t i = 0; i < k; ++i) delta[i] += shared;
    return ok;
}

template <class T>
msc_result msc_finish(const nearest3_cache<T>& c, std::vector<std::size_t> medoids, std::size_t iterations,
                      std::size_t swaps, bool converged) {
    msc_result r;
    r.result.converged = converged;
    const std::size_t n = c.d1.size();
    r.result.medoids = std::move(medoids);
    r.result.labels.assign(c.n1.begin(), c.n1.end());
    double loss = 0;
    for (const T v : c.d1) loss += static_cast<double>(v);
    r.result.loss = loss;
    r.result.iterations = iterations;
    r.result.swaps = swaps;
    // Per-point silhouettes summed in index order, as medoid_silhouette() does.
    double mean = 0;
    for (std::size_t o = 0; o < n; ++o) {
        const double a = c.d1[o], b = c.d2[o];
        mean += b > 0 ? 1.0 - a / b : 0.0;
    }
    r.silhouette = mean / double(n);
    return r;
}

// FastMSC on an existing cache (medoids and cache consistent); used by fastmsc and dynmsc.
template <class D, class T>
msc_result fastmsc_run(const D& d, std::vector<std::size_t> medoids, nearest3_cache<T>& c,
                       std::vector<char>& is_medoid, const swap_options& opt, input_guard<D>& guard) {
    const std::size_t k = medoids.size();
    std::vector<double> removal, scratch;
    std::size_t iter = 0, swaps = 0;
    bool converged = false;
    while (iter < opt.max_iter) {
        ++iter;
        msc_removal(c, k, removal);
        const swap_choice s = best_swap_over_candidates(
            d.size(), k, is_medoid, opt.policy, scratch, [&](std::size_t h, double* delta) {
                guard.evaluate(
                    h, delta, k, [&] { msc_candidate_deltas(d, h, c, removal, delta); },
                    [&] { return msc_candidate_deltas<true>(d, h, c, removal, delta); });
            });
        if (guard.failed()) break;
        if (!s.valid) {
            converged = true;
            break;
        }
        is_medoid[medoids[s.slot]] = 0;
        is_medoid[s.candidate] = 1;
        medoids[s.slot] = s.candidate;
        ++swaps;
        update3_after_swap(d, medoids, s.slot, c, opt.policy);
    }
    return msc_finish(c, std::move(medoids), iter, swaps, converged);
}

// FasterMSC on an existing cache.
template <class D, class T>
msc_result fastermsc_run(const D& d, std::vector<std::size_t> medoids, nearest3_cache<T>& c,
                         std::vector<char>& is_medoid, const swap_options& opt, input_guard<D>& guard) {
    const std::size_t k = medoids.size();
    std::vector<double> removal;
    msc_removal(c, k, removal);
    eager_convergence conv;
    const eager_counts counts = eager_search(
        d.size(), k, is_medoid, opt.max_iter, opt.policy,
        [&](std::size_t h, double* delta, bool in_order) {
            guard.evaluate(
                h, delta, k, [&] { msc_candidate_deltas(d, h, c, removal, delta, in_order); },
                [&] { return msc_candidate_deltas<true>(d, h, c, removal, delta, in_order); });
        },
        [&](std::size_t h, std::size_t slot) {
            conv.on_swap(h);
            is_medoid[medoids[slot]] = 0;
            is_medoid[h] = 1;
            medoids[slot] = h;
            update3_after_swap(d, medoids, slot, c, opt.policy);
            msc_removal(c, k, removal);
        });
    return msc_finish(c, std::move(medoids), counts.iterations, counts.swaps, conv.converged(counts.iterations));
}

}  // namespace detail

namespace detail {
// Checks, builds the three-nearest cache, and runs the given search.
template <class D, class Run>
msc_result msc_entry(const D& d, std::vector<std::size_t> medoids, const swap_options& opt, const char* function,
                     Run&& run) {
    using T = typename D::value_type;
    require(medoids.size() >= 2, function, "medoids", "needs k >= 2, got ", medoids.size());
    input_guard<D> guard(d, medoids, opt, function);
    nearest3_cache<T> c;
    assign3_all(d, medoids, c, opt.policy);
    std::vector<char> is_medoid(d.size(), 0);
    for (auto m : medoids) is_medoid[m] = 1;
    msc_result r = run(d, std::move(medoids), c, is_medoid, opt, guard);
    guard.finish();
    return r;
}
}  // namespace detail

/// FasterMSC SWAP from the given medoids (k >= 2), maximizing the mean medoid silhouette.
/// result.converged: a whole cycle of candidates brought no swap (not max_iter).
template <class D>
msc_result fastermsc(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    return detail::msc_entry(d, std::move(medoids), opt, "fastermsc",
                             [](auto&&... a) { return detail::fastermsc_run(std::forward<decltype(a)>(a)...); });
}

/// FastMSC SWAP from the given medoids (k >= 2), maximizing the mean medoid silhouette.
/// result.converged: the last pass found no improving swap.
template <class D>
msc_result fastmsc(const D& d, std::vector<std::size_t> medoids, const swap_options& opt = {}) {
    return detail::msc_entry(d, std::move(medoids), opt, "fastmsc",
                             [](auto&&... a) { return detail::fastmsc_run(std::forward<decltype(a)>(a)...); });
}

/// DynMSC from k_max = medoids.size() down to k_min (2 <= k_min <= k_max <= n).
/// converged: the optimization converged at every k.
template <class D>
dynmsc_result dynmsc(const D& d, std::vector<std::size_t> medoids, std::size_t k_min, const swap_options& opt = {},
                     msc_search search = msc_search::eager) {
    using T = typename D::value_type;
    require(search == msc_search::eager || search == msc_search::best, "dynmsc", "search", "unknown value ",
            static_cast<int>(search));
    detail::check_medoids(d.size(), medoids, "dynmsc");
    require(k_min >= 2, "dynmsc", "k_min", "must be >= 2, got ", k_min);
    require(k_min <= medoids.size(), "dynmsc", "k_min", "k_min = ", k_min, " exceeds k_max = medoids.size() = ",
            medoids.size());
    detail::input_guard<D> guard(d, medoids, opt, "dynmsc");
    const std::size_t k_max = medoids.size();
    dynmsc_result out;
    out.k_min = k_min;
    out.silhouettes.assign(k_max - k_min + 1, 0.0);
    detail::nearest3_cache<T> c;
    std::vector<char> is_medoid(d.size(), 0);
    std::vector<double> removal;
    for (auto m : medoids) is_medoid[m] = 1;
    detail::assign3_all(d, medoids, c, opt.policy);
    for (std::size_t k = k_max;; --k) {
        msc_result r = search == msc_search::eager ? detail::fastermsc_run(d, medoids, c, is_medoid, opt, guard)
                                                   : detail::fastmsc_run(d, medoids, c, is_medoid, opt, guard);
        if (guard.failed()) break;
        out.converged = out.converged && r.result.converged;
        out.silhouettes[k - k_min] = r.silhouette;
        if (out.best_k == 0 || r.silhouette >= out.best.silhouette) {  // >=: ties to the smaller k
            out.best_k = k;
            out.best = r;
        }
        if (k == k_min) break;
        // Remove the medoid whose removal raises the ratio sum least (k >= 3 here, so d3 is finite).
        medoids = std::move(r.result.medoids);
        detail::msc_removal(c, k, removal);
        std::size_t worst = 0;
        for (std::size_t i = 1; i < k; ++i)
            if (removal[i] < removal[worst]) worst = i;
        is_medoid[medoids[worst]] = 0;
        medoids.erase(medoids.begin() + static_cast<std::ptrdiff_t>(worst));
        detail::assign3_all(d, medoids, c, opt.policy);  // slots shifted: rebuild, O(nk)
    }
    guard.finish();
    return out;
}

}  // namespace kmedoids
}  // namespace kestrel
