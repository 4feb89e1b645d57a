// Internal: the scalar mathematics shared by the multi-draft verifiers (multi_draft.hpp,
// tree.hpp) and the analysis functions (analysis.hpp).
//
// K-SEQ's rho* (SpecTr, Sun et al. 2023): with beta(rho) = sum_y min(q(y), p(y) / rho), the
// root in [1, k] of f(rho) = 1 - (1 - beta(rho))^k - rho beta(rho). f(1) = (1 - a) - (1 - a)^k
// >= 0 (a = sum min(p, q)) and f(k) <= 0 (Bernoulli), f decreases on [1, k]. Tokens whose
// ratio p/q lies outside the current bracket contribute a fixed q (ratio above) or p / rho
// (ratio below), so bisection keeps only the tokens whose ratio is still inside the bracket
// and moves the others into two running sums: one read of the row, then work on a shrinking
// list. The bisection runs to adjacent doubles and returns the upper end (f <= 0 there: the
// rho >= root side, where the K-SEQ residual (p - rho q)_+ carries the rejected mass).
// For long rows the read also counts the ratios of the tokens still in play (q < p < k q)
// into a histogram of equal bins over [1, k]; beta at every bin edge follows from the bin
// sums, a binary search over the edges finds the bin of the root, and the bisection then
// visits only the tokens of that bin and its two neighbours (k_seq_solve). Cost: one lane
// pass over both rows (detail/row_math.hpp: k_seq_chunk) and work on a few thousand tokens,
// instead of a scalar pass and about five passes over up to V tokens.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kestrel {
namespace speculative {

/// How a verifier chooses among n candidates for one token (multi_draft.hpp explains each).
/// Public; defined here so that analysis.hpp and the verifiers share it.
enum class multi_draft_rule { k_seq, recursive_with_replacement, recursive_without_replacement, point_mass };

namespace detail {

/// Tokens of a K-SEQ problem, sorted into the three groups of the header comment. The active
/// tokens (q < p < k q) go to two arrays, lp[0..size) and lq[0..size). With a histogram
/// (bins >= 2, built by k_seq_solve) their ratios p / q are counted into `bins` equal bins
/// over [1, k): bin j = [1 + j w, 1 + (j + 1) w), w = (k - 1) / bins, holding the sums of p
/// and q of its tokens, and bin_of[i] is token i's bin.
struct k_seq_accumulator {
    double above_q = 0.0;   // sum of q over tokens with p >= k q (min is q for every rho <= k)
    double below_p = 0.0;   // sum of p over tokens with p <= q (min is p / rho for every rho >= 1)
    double k = 1.0;
    double* lp = nullptr;   // p of the active tokens; room for every token plus one batch
    double* lq = nullptr;   // their q
    double active_q = 0.0;  // sum of lq (may be filled by the lane pass; see k_seq_solve)
    bool active_q_known = false;
    std::size_t size = 0;
    std::size_t bins = 0;   // 0 or 1: no histogram
    double* bin_p = nullptr;          // [k_seq_copies * bins]
    double* bin_q = nullptr;          // [k_seq_copies * bins]
    std::uint32_t* bin_of = nullptr;  // [room for every token]

    void add_active(double p, double q) noexcept {
        lp[size] = p;
        lq[size] = q;
        ++size;
    }
    void add(double p, double q) noexcept {
        if (!(q > 0.0)) return;  // min(0, p / rho) = 0
        if (p >= k * q)
            above_q += q;
        else if (p <= q)
            below_p += p;
        else if (q < p && p < k * q)
            add_active(p, q);
    }
};

/// Copies of the histogram filled in turn (token i into copy i mod 4): consecutive tokens of
/// one bin then do not wait on each other's stores.
inline constexpr std::size_t k_seq_copies = 4;

/// Bins worth counting for n tokens: one per 128 tokens, at most 1024 (0: no histogram).
inline std::size_t k_seq_bin_count(std::size_t n) noexcept {
    const std::size_t b = n / 128;
    return b < 2 ? 0 : (b > 1024 ? 1024 : b);
}

/// Scratch for a K-SEQ problem over n tokens: the accumulator's arrays.
struct k_seq_scratch {
    std::vector<double> lp, lq, bin_p, bin_q;
    std::vector<std::uint32_t> bin_of;
    std::vector<std::pair<double, double>> kept;

    k_seq_accumulator start(std::size_t n, std::size_t k) {
        k_seq_accumulator a;
        a.k = static_cast<double>(k);
        if (lp.size() < n + 16) lp.resize(n + 16), lq.resize(n + 16);
        a.lp = lp.data();
        a.lq = lq.data();
        a.bins = k > 1 ? k_seq_bin_count(n) : 0;
        if (a.bins > 1) {
            if (bin_p.size() < k_seq_copies * a.bins)
                bin_p.resize(k_seq_copies * a.bins), bin_q.resize(k_seq_copies * a.bins);
            if (bin_of.size() < n) bin_of.resize(n);
            a.bin_p = bin_p.data();
            a.bin_q = bin_q.data();
            a.bin_of = bin_of.data();
        }
        return a;
    }
};

inline double k_seq_beta(double above_q, double below_p, const std::pair<double, double>* act, std::size_t n,
                         double rho) {
    double s = above_q + below_p / rho;
    for (std::size_t i = 0; i < n; ++i) {
        const double r = act[i].first / rho;
        s += r < act[i].second ? r : act[i].second;
    }
    return s;
}

inline double k_seq_f(double beta, double rho, double k) {
    const double one_minus = 1.0 - beta;
    return 1.0 - std::pow(one_minus > 0.0 ? one_minus : 0.0, k) - rho * beta;
}

/// Bisection on [lo, hi] (f(lo) > 0, hi on the f <= 0 side) to adjacent doubles over the
/// tokens act[0..n) (consumed: the ones whose ratio leaves the bracket move into the sums).
inline double k_seq_bisect(double above_q, double below_p, std::pair<double, double>* act, std::size_t n, double k,
                           double lo, double hi) {
    for (int it = 0; it < 200; ++it) {
        double mid = lo + (hi - lo) / 2;
        if (!(mid > lo && mid < hi)) break;
        const double f = k_seq_f(k_seq_beta(above_q, below_p, act, n, mid), mid, k);
        std::size_t w = 0;
        if (f > 0.0) {
            lo = mid;  // the root is above mid: tokens with ratio <= mid now give p / rho
            for (std::size_t i = 0; i < n; ++i) {
                if (act[i].first <= mid * act[i].second)
                    below_p += act[i].first;
                else
                    act[w++] = act[i];
            }
        } else {
            hi = mid;  // the root is at or below mid: tokens with ratio >= mid now give q
            for (std::size_t i = 0; i < n; ++i) {
                if (act[i].first >= mid * act[i].second)
                    above_q += act[i].second;
                else
                    act[w++] = act[i];
            }
        }
        n = w;
    }
    return hi;
}

/// The histogram of the active tokens' ratios (bins >= 2): every token's bin, then the bins'
/// sums of p and q (copies added in copy order).
inline void k_seq_histogram(k_seq_accumulator& a) noexcept {
    const std::size_t nb = a.bins;
    const double scale = static_cast<double>(nb) / (a.k - 1.0), top = static_cast<double>(nb - 1);
    for (std::size_t i = 0; i < a.size; ++i) {
        double t = (a.lp[i] / a.lq[i] - 1.0) * scale;
        t = t > 0.0 ? (t < top ? t : top) : 0.0;
        a.bin_of[i] = static_cast<std::uint32_t>(t);
    }
    for (std::size_t j = 0; j < k_seq_copies * nb; ++j) a.bin_p[j] = a.bin_q[j] = 0.0;
    for (std::size_t i = 0; i < a.size; ++i) {
        const std::size_t at = (i % k_seq_copies) * nb + a.bin_of[i];
        a.bin_p[at] += a.lp[i];
        a.bin_q[at] += a.lq[i];
    }
    for (std::size_t c = 1; c < k_seq_copies; ++c)
        for (std::size_t j = 0; j < nb; ++j) {
            a.bin_p[j] += a.bin_p[c * nb + j];
            a.bin_q[j] += a.bin_q[c * nb + j];
        }
}

/// The histogram's bins (copy 0) turned in place into cumulative sums: bin_p[j] = sum of p
/// over bins < j, bin_q[j] = sum of q over bins >= j; returns the sum of p over every bin.
inline double k_seq_cumulate_bins(k_seq_accumulator& a) noexcept {
    double run = 0.0;
    for (std::size_t j = 0; j < a.bins; ++j) {
        const double v = a.bin_p[j];
        a.bin_p[j] = run;
        run += v;
    }
    const double p_all = run;
    run = 0.0;
    for (std::size_t j = a.bins; j-- > 0;) {
        run += a.bin_q[j];
        a.bin_q[j] = run;
    }
    return p_all;
}

/// Edge j of the histogram (edge 0 = 1, edge bins = k).
inline double k_seq_edge(const k_seq_accumulator& a, std::size_t j) noexcept {
    return j == 0 ? 1.0 : (j >= a.bins ? a.k : 1.0 + static_cast<double>(j) * ((a.k - 1.0) / static_cast<double>(a.bins)));
}

/// With cumulated bins (p_all: their total p): the bisection on the window of bins
/// [jl - 1, jl + 2) (clipped to [0, bins)). The window's tokens are copied to `kept` (the
/// lists are not changed), the other bins' sums join above_q and below_p; false, with rho
/// unset, if f does not change sign across the window with the exact contributions of its
/// tokens.
inline bool k_seq_solve_in_window(const k_seq_accumulator& a, double p_all, std::size_t jl,
                                  std::vector<std::pair<double, double>>& kept, double& rho) {
    const std::size_t nb = a.bins;
    const std::size_t j0 = jl > 0 ? jl - 1 : 0, j1 = jl + 2 < nb ? jl + 2 : nb;  // window: bins [j0, j1)
    const double lo = k_seq_edge(a, j0), hi = k_seq_edge(a, j1);
    const double below = a.below_p + (j0 >= nb ? p_all : a.bin_p[j0]);
    const double above = a.above_q + (j1 >= nb ? 0.0 : a.bin_q[j1]);
    kept.clear();
    for (std::size_t i = 0; i < a.size; ++i)
        if (a.bin_of[i] >= j0 && a.bin_of[i] < j1) kept.emplace_back(a.lp[i], a.lq[i]);
    // f(1) > 0 is known; f(k) <= 0 is taken as given, as the plain bisection does.
    const bool lo_ok = j0 == 0 || k_seq_f(k_seq_beta(above, below, kept.data(), kept.size(), lo), lo, a.k) > 0.0;
    const bool hi_ok = j1 == nb || !(k_seq_f(k_seq_beta(above, below, kept.data(), kept.size(), hi), hi, a.k) > 0.0);
    if (!(lo_ok && hi_ok)) return false;
    rho = k_seq_bisect(above, below, kept.data(), kept.size(), a.k, lo, hi);
    return true;
}

/// rho* of the accumulated tokens (the histogram arrays are overwritten; `kept` is scratch).
/// k >= 1.
///
/// Without a histogram (short rows): bisection on [1, k] over every active token. With one:
/// beta at the bin edges follows from the bin sums (a bin's tokens give q at an edge below the
/// bin, p / rho at an edge above it), so a binary search over the edges finds the bin holding
/// the root; the tokens of that bin and its two neighbours (tokens put on the wrong side of an
/// edge by rounding stay inside the window) are bisected alone, the other bins' sums join
/// above_q and below_p. The window is accepted only if f changes sign across it with the exact
/// contributions of its tokens; otherwise (a safeguard, never seen) the bisection runs on every
/// active token. The result is the plain bisection's root up to the rounding of the sums.
inline double k_seq_solve(k_seq_accumulator& a, std::vector<std::pair<double, double>>& kept) {
    if (a.k <= 1.0) return 1.0;
    double beta1 = a.above_q + a.below_p;  // every active token has p > q: min(q, p / 1) = q
    if (a.active_q_known)
        beta1 += a.active_q;
    else
        for (std::size_t i = 0; i < a.size; ++i) beta1 += a.lq[i];
    // f(1) = (1 - a) - (1 - a)^k <= 0 (a = 0, a = 1): the root is 1 (p == q keeps every draft).
    if (!(k_seq_f(beta1, 1.0, a.k) > 0.0)) return 1.0;
    if (a.bins > 1 && a.size > 64) {
        k_seq_histogram(a);
        const double p_all = k_seq_cumulate_bins(a);
        auto f_edge = [&](std::size_t j) {
            const double rho = k_seq_edge(a, j);
            const double q_from = j >= a.bins ? 0.0 : a.bin_q[j], p_below = j >= a.bins ? p_all : a.bin_p[j];
            return k_seq_f(a.above_q + q_from + (a.below_p + p_below) / rho, rho, a.k);
        };
        std::size_t jl = 0, jh = a.bins;  // f(edge jl) > 0; edge jh on the f <= 0 side
        while (jh - jl > 1) {
            const std::size_t m = jl + (jh - jl) / 2;
            (f_edge(m) > 0.0 ? jl : jh) = m;
        }
        double rho = 1.0;
        if (k_seq_solve_in_window(a, p_all, jl, kept, rho)) return rho;
    }
    kept.clear();
    for (std::size_t i = 0; i < a.size; ++i) kept.emplace_back(a.lp[i], a.lq[i]);
    return k_seq_bisect(a.above_q, a.below_p, kept.data(), kept.size(), a.k, 1.0, a.k);
}

}  // namespace detail
}  // namespace speculative
}  // namespace kestrel
