// Internal: reading one row as a law, and inverse-CDF draws from a row or from a residual
// without materializing it.
//
// A row's law is p(y) = v[y] * scale for probability rows and p(y) = exp(v[y] / temperature -
// log Z) for logit rows, 0 outside the kept set of the sampling filters (sampling_params.hpp;
// scale and log Z then renormalize over the kept set). A residual is r(y) = max(0, c * p(y) -
// q(y)) with q a draft law or a point mass (q(y) = [y == x]); c = 1 except in block
// verification. Draws use double partial sums over fixed chunks of `chunk` entries
// (independent of threads): one pass computes the chunk sums, the chunk holding u * Z is
// found by a scan of them, its residual values are recomputed (it is in cache) and a
// sequential double scan from the chunk's start finds the token. The result is monotone in u, so a test can recover
// the exact law of the implementation by sweeping u.
//
// Precision: every probability, residual and sum is in double (float rows are widened
// exactly), so no token with positive probability loses its share of [0, 1) to float
// rounding. Double logit rows use xsimd's double exp (about 1 ulp; std::exp in the scalar
// build). Float logit rows use Kestrel's float softmax (softmax.hpp, float_exp.hpp): the
// exponential of each entry is evaluated once in float lanes relative to its chunk's maximum,
// then widened and scaled per chunk in double; accept tests, normalizers, chunk sums and the
// inverse-CDF scan all use those same float values, so the sampler's law is exactly the
// residual law of that softmax. The passes run in SIMD lanes of doubles (for float logits
// the exp runs at the full float width). A normalizer pass may keep its float exponentials
// in a buffer (row_law::exps); a residual pass over that row then reads them (law_mode::cached)
// instead of the logits: one exp per entry for the rows a verifier reads twice.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/simd.hpp"
#include "../rows.hpp"
#include "float_exp.hpp"
#include "multi_draft_math.hpp"

namespace kestrel {
namespace speculative {
namespace detail {

inline constexpr std::size_t chunk = 4096;

namespace sd = ::kestrel::simd::detail;

/// One row read as a law, after the sampling filters (sampling_params.hpp).
template <class T>
struct row_law {
    const T* v = nullptr;
    std::size_t n = 0;
    bool logits = false;
    double inv_temperature = 1.0;
    double log_z = 0.0;  // logits: p(y) = exp(v[y] * inv_temperature - log_z)
    double scale = 1.0;  // probabilities: p(y) = v[y] * scale (1 unless filtered)
    // Kept set: y is kept iff !filtered, or v[y] > threshold, or v[y] == threshold and y <= tie_id.
    bool filtered = false;
    double threshold = 0.0;
    std::size_t tie_id = 0;

    // Float logit rows (T = float; softmax.hpp): e(y) = exp((v[y] - m) * tau) in float with the
    // shift m of y's chunk, p(y) = e(y) * exp(tau m - log_z) in double (tau m is exact in
    // double). The shifts are the chunk maxima of v (-inf for a chunk without mass) when
    // Kestrel computed log_z (`shifts`, one per chunk), or one shift for the row, log_z / tau
    // rounded to float, with a caller-supplied normalizer (`shifts` null).
    float tau = 1.0f;
    const float* shifts = nullptr;
    float shift = 0.0f;
    // Float logit rows whose normalizer pass kept its exponentials (law_reader::law with a
    // buffer, no filter): e(y) for every y of the row, so the residual passes read them
    // instead of evaluating exp_f again (the same bits). Null otherwise.
    const float* exps = nullptr;

    static constexpr bool float_rows = std::is_same<T, float>::value;
    bool float_exp() const noexcept { return float_rows && logits; }
    float raw_shift(std::size_t k) const noexcept { return shifts ? shifts[k] : shift; }
    /// The shift of the float exp's argument (finite: 0 for a chunk without mass).
    float chunk_shift(std::size_t k) const noexcept {
        const float s = raw_shift(k);
        return s == -std::numeric_limits<float>::infinity() ? 0.0f : s;
    }
    /// exp(tau m_k - log_z): the factor from a chunk's float exponentials to its probabilities.
    double chunk_scale(std::size_t k) const noexcept {
        const float s = raw_shift(k);
        return s == -std::numeric_limits<float>::infinity()
                   ? 0.0
                   : std::exp(static_cast<double>(tau) * static_cast<double>(s) - log_z);
    }

    bool kept(std::size_t y) const noexcept {
        if (!filtered) return true;
        const double x = static_cast<double>(v[y]);
        return x > threshold || (x == threshold && y <= tie_id);
    }
    /// p(y) before the sampling filters (the filters' input).
    double raw_prob(std::size_t y) const noexcept {
        if constexpr (float_rows) {
            if (logits) {
                const std::size_t k = y / chunk;
                return static_cast<double>(float_law_exp_one(v[y], tau, chunk_shift(k))) * chunk_scale(k);
            }
        }
        return logits ? std::exp(static_cast<double>(v[y]) * inv_temperature - log_z) : static_cast<double>(v[y]) * scale;
    }
    double prob(std::size_t y) const noexcept { return kept(y) ? raw_prob(y) : 0.0; }
};

/// The laws of a row, lane by lane (SIMD over double lanes; one lane in the scalar build).
/// Mode: what a law reads; each pass is instantiated per pair of modes so the inner loop has
/// no branches. `cached`: a float logit row read through its kept exponentials (row_law::exps,
/// no filter): the pass is handed that buffer instead of the logits.
enum class law_mode { probabilities, logits, none, cached };

template <class T, law_mode M, bool Filtered>
struct lane_law {
    static constexpr bool float_exp = std::is_same<T, float>::value && M == law_mode::logits;
    static constexpr bool cached = M == law_mode::cached;
    static_assert(!cached || (std::is_same<T, float>::value && !Filtered), "kept exponentials: float rows, no filter");
    sd::batch<double> inv_t, neg_log_z, scale, threshold, tie;
    sd::batch<float> tau, shift;  // float logits: the chunk's shift
    /// The law's lanes inside chunk `k` (float logit rows have one shift and scale per chunk).
    lane_law(const row_law<T>& L, std::size_t k)
        : inv_t(sd::splat(L.inv_temperature)),
          neg_log_z(sd::splat(-L.log_z)),
          scale(sd::splat(float_exp || cached ? L.chunk_scale(k) : L.scale)),
          threshold(sd::splat(L.threshold)),
          tie(sd::splat(static_cast<double>(L.tie_id))),
          tau(sd::splat(L.tau)),
          shift(sd::splat(L.chunk_shift(k))) {}
    KESTREL_ALWAYS_INLINE sd::batch<double> mask_kept(const sd::batch<double>& p, const sd::batch<double>& x,
                                                      const sd::batch<double>& idx) const noexcept {
        if constexpr (Filtered) {
            const sd::mask<double> keep = (x > threshold) | ((x == threshold) & (idx <= tie));
            return sd::vselect(keep, p, sd::splat(0.0));
        } else {
            (void)x, (void)idx;
            return p;
        }
    }
    /// The 2 W entries v[0 .. 2 W) (W = width<double>): raw values as double (x0, x1) and
    /// their probabilities under the law (p0, p1).
    KESTREL_ALWAYS_INLINE void pair(const T* v, const sd::batch<double>& idx0, const sd::batch<double>& idx1,
                                    sd::batch<double>& x0, sd::batch<double>& x1, sd::batch<double>& p0,
                                    sd::batch<double>& p1) const noexcept {
        constexpr std::size_t W = sd::width<double>;
        if constexpr (cached) {
            // v holds the kept e(y): the same float values the exp would give.
            x0 = x1 = sd::splat(0.0);
#if KESTREL_HAS_XSIMD
            static_assert(doubles_per_float_batch == 2, "a float batch holds 2 W entries");
            sd::batch<double> e0, e1;
            widen_halves(sd::load(v), e0, e1);
            p0 = e0 * scale;
            p1 = e1 * scale;
#else
            p0 = static_cast<double>(v[0]) * scale;
            p1 = static_cast<double>(v[1]) * scale;
#endif
            return;
        }
        x0 = sd::load_widened(v);
        x1 = sd::load_widened(v + W);
        if constexpr (float_exp) {
#if KESTREL_HAS_XSIMD
            static_assert(doubles_per_float_batch == 2, "a float batch holds 2 W entries");
            sd::batch<double> e0, e1;
            widen_halves(float_law_exp(sd::load(v), tau, shift), e0, e1);
            p0 = e0 * scale;
            p1 = e1 * scale;
#else
            p0 = static_cast<double>(float_law_exp(v[0], tau, shift)) * scale;
            p1 = static_cast<double>(float_law_exp(v[1], tau, shift)) * scale;
#endif
        } else if constexpr (M == law_mode::logits) {
            p0 = sd::vexp(sd::fmadd(x0, inv_t, neg_log_z));
            p1 = sd::vexp(sd::fmadd(x1, inv_t, neg_log_z));
        } else {
            p0 = x0 * scale;
            p1 = x1 * scale;
        }
        p0 = mask_kept(p0, x0, idx0);
        p1 = mask_kept(p1, x1, idx1);
    }
};

/// The value a padded lane holds: probability 0 under any law (0, or a -inf logit; a kept
/// exponential of 0).
template <class T>
inline T padding_value(law_mode m) noexcept {
    return m == law_mode::logits ? -std::numeric_limits<T>::infinity() : T(0);
}

/// What a pass reads for a law in mode M: its kept exponentials (cached), else its values.
template <class T, law_mode M>
inline const T* source_of(const row_law<T>& L) noexcept {
    if constexpr (M == law_mode::cached) {
        static_assert(std::is_same<T, float>::value, "kept exponentials: float rows");
        return L.exps;
    } else {
        return L.v;
    }
}

/// Prefetches the lines of p[0 .. 16) (one for float, two for double).
template <class T>
KESTREL_ALWAYS_INLINE void prefetch16(const T* p) noexcept {
    sd::prefetch(p);
    if constexpr (sizeof(T) > 4) sd::prefetch(p + 64 / sizeof(T));
}

/// Statistics of a fully read row, for validation at no extra pass.
struct row_check {
    double sum = 0.0;  // of the law's probabilities
    double min = 0.0;  // of the raw values (probability rows)
    bool bad() const noexcept { return !(min >= 0.0) || !std::isfinite(sum); }
};

/// What a pass over chunk [b, e) of an n-entry row adds to its law's row check: the lane sums
/// of the law (Summed), or, for a law read through its kept exponentials (which sums to 1 by
/// construction, so its sum is not taken again), the chunk's share (e - b) / n of that 1: a
/// whole row's check then sees 1 (only whole rows are checked).
template <bool Summed>
KESTREL_ALWAYS_INLINE double chunk_law_sum(const sd::batch<double>& lanes, std::size_t b, std::size_t e,
                                           std::size_t n) noexcept {
    if constexpr (Summed) {
        (void)b, (void)e, (void)n;
        return sd::hsum<double>(lanes);
    } else {
        (void)lanes;
        return static_cast<double>(e - b) / static_cast<double>(n);
    }
}

/// One chunk [b, e) of r(y) = max(0, c p(y) - q(y)): returns its sum in double and adds the
/// two laws' sums and minima to the checks; if `values` is given, also writes r(b..e-1) there
/// (the same lane arithmetic as the sum). q: a draft law, or a point mass at `point` (no
/// draft: point >= n). [b, e) lies inside one chunk of `chunk` entries. The ragged end goes
/// through one padded pair of batches, so every element is computed by the same operations.
template <class T, law_mode PM, bool PF, law_mode QM, bool QF>
double residual_chunk(const row_law<T>& P, const row_law<T>* Q, std::size_t point, double c, std::size_t b,
                      std::size_t e, row_check& pc, row_check& qc, double* values) noexcept {
    constexpr std::size_t W = sd::width<double>;
    constexpr law_mode QL = QM == law_mode::none ? law_mode::probabilities : QM;
    const std::size_t k = b / chunk;
    // What the lanes read: the values, or a float logit row's kept exponentials.
    const T* const pvals = source_of<T, PM>(P);
    const T* const qvals = QM == law_mode::none ? nullptr : source_of<T, QM>(*Q);
    const lane_law<T, PM, PF> lp(P, k);
    const lane_law<T, QL, QF> lq(Q ? *Q : P, k);
    const sd::batch<double> cb = sd::splat(c), zero = sd::splat(0.0), one = sd::splat(1.0),
                            pt = sd::splat(static_cast<double>(point)), step = sd::splat(static_cast<double>(W));
    sd::batch<double> idx = sd::lane_numbers() + sd::splat(static_cast<double>(b));
    // Each half of a pair has its own sums (one dependent add per iteration each: the law sums
    // as one chain of two fused multiply-adds an iteration made logit rows latency-bound).
    sd::batch<double> acc0 = zero, acc1 = zero, ps0 = zero, ps1 = zero, qs0 = zero, qs1 = zero, pmin = zero, qmin = zero;
    // A law read through its kept exponentials is not summed again (chunk_law_sum).
    constexpr bool p_sum = PM != law_mode::cached, q_sum = QM != law_mode::cached;
    auto lane = [&](const sd::batch<double>& p, const sd::batch<double>& xp, const sd::batch<double>& qv,
                    const sd::batch<double>& xq, const sd::batch<double>& at, sd::batch<double>& acc,
                    sd::batch<double>& ps, sd::batch<double>& qs, double* out) KESTREL_LAMBDA_INLINE {
        sd::batch<double> q;
        if constexpr (QM == law_mode::none) {
            (void)qv, (void)xq;
            q = sd::vselect<double>(at == pt, one, zero);
        } else {
            q = qv;
            if constexpr (q_sum) qs = qs + q;
            if constexpr (QM == law_mode::probabilities) qmin = sd::vmin(qmin, xq);
        }
        const sd::batch<double> r = sd::vmax(sd::fmadd(cb, p, -q), zero);
        acc = acc + r;
        if constexpr (p_sum) ps = ps + p;
        if constexpr (PM == law_mode::probabilities) pmin = sd::vmin(pmin, xp);
        if (out) sd::store(out, r);
    };
    // 2 W entries from pv, qv (qv unused for a point mass) at lane indices idx, idx + W.
    auto two = [&](const T* pv, const T* qv, double* out) KESTREL_LAMBDA_INLINE {
        const sd::batch<double> i1 = idx + step;
        sd::batch<double> xp0, xp1, p0, p1, xq0 = zero, xq1 = zero, q0 = zero, q1 = zero;
        lp.pair(pv, idx, i1, xp0, xp1, p0, p1);
        if constexpr (QM != law_mode::none) lq.pair(qv, idx, i1, xq0, xq1, q0, q1);
        lane(p0, xp0, q0, xq0, idx, acc0, ps0, qs0, out);
        lane(p1, xp1, q1, xq1, i1, acc1, ps1, qs1, out ? out + W : nullptr);
        idx = i1 + step;
    };
    std::size_t i = b;
    // Logit rows: the exps make the pass compute-bound; the next chunk of both rows is
    // prefetched meanwhile (one line per 64 bytes).
    constexpr bool prefetching = PM == law_mode::logits || QM == law_mode::logits;
    const bool ahead = prefetching && e + chunk <= P.n && !values;
    // Two loops: with `values` null the lanes store nothing, so the accumulators can stay in
    // registers (a store through a double* might alias them; perf showed them spilled).
    if (values) {
        for (; i + 2 * W <= e; i += 2 * W) two(pvals + i, QM == law_mode::none ? nullptr : qvals + i, values + (i - b));
    } else {
        for (; i + 2 * W <= e; i += 2 * W) {
            if (ahead && (i & 15) == 0) {
                prefetch16(pvals + i + chunk);
                if constexpr (QM != law_mode::none) prefetch16(qvals + i + chunk);
            }
            two(pvals + i, QM == law_mode::none ? nullptr : qvals + i, nullptr);
        }
    }
    if (i < e) {
        // Padded pair: values of probability 0 past e (0, or -inf logits), so r = 0 there; lanes
        // past e have indices beyond every tie id and the point (a valid point lies in [b, e)).
        alignas(64) T bp[2 * W], bq[2 * W];
        alignas(64) double out[2 * W];
        const std::size_t r = e - i;
        for (std::size_t j = 0; j < 2 * W; ++j) {
            bp[j] = j < r ? pvals[i + j] : padding_value<T>(PM);
            bq[j] = QM != law_mode::none && j < r ? qvals[i + j] : padding_value<T>(QL);
        }
        two(bp, bq, out);
        if (values)
            for (std::size_t j = 0; j < r; ++j) values[i + j - b] = out[j];
    }
    const double s = sd::hsum<double>(acc0 + acc1);
    alignas(64) double lanes[W];
    pc.sum += chunk_law_sum<p_sum>(ps0 + ps1, b, e, P.n);
    qc.sum += chunk_law_sum<q_sum>(qs0 + qs1, b, e, P.n);
    if constexpr (PM == law_mode::probabilities) {
        sd::store(lanes, pmin);
        for (std::size_t j = 0; j < W; ++j) pc.min = lanes[j] < pc.min || lanes[j] != lanes[j] ? lanes[j] : pc.min;
    }
    if constexpr (QM == law_mode::probabilities) {
        sd::store(lanes, qmin);
        for (std::size_t j = 0; j < W; ++j) qc.min = lanes[j] < qc.min || lanes[j] != lanes[j] ? lanes[j] : qc.min;
    }
    return s;
}

template <class T>
struct residual_kernel {
    using fn = double (*)(const row_law<T>&, const row_law<T>*, std::size_t, double, std::size_t, std::size_t,
                          row_check&, row_check&, double*);
    template <law_mode PM, bool PF>
    static fn pick_q(const row_law<T>* Q) noexcept {
        if (!Q) return &residual_chunk<T, PM, PF, law_mode::none, false>;
        if (Q->logits)
            return Q->filtered ? &residual_chunk<T, PM, PF, law_mode::logits, true>
                               : &residual_chunk<T, PM, PF, law_mode::logits, false>;
        return Q->filtered ? &residual_chunk<T, PM, PF, law_mode::probabilities, true>
                           : &residual_chunk<T, PM, PF, law_mode::probabilities, false>;
    }
    static fn pick(const row_law<T>& P, const row_law<T>* Q) noexcept {
        if constexpr (row_law<T>::float_rows) {
            // Kept exponentials: used when the target row has them and the draft is a point
            // mass or has them too (otherwise both laws evaluate exp_f: the same bits).
            if (P.exps && !P.filtered) {
                if (!Q) return &residual_chunk<T, law_mode::cached, false, law_mode::none, false>;
                if (Q->exps && !Q->filtered) return &residual_chunk<T, law_mode::cached, false, law_mode::cached, false>;
            }
        }
        if (P.logits) return P.filtered ? pick_q<law_mode::logits, true>(Q) : pick_q<law_mode::logits, false>(Q);
        return P.filtered ? pick_q<law_mode::probabilities, true>(Q) : pick_q<law_mode::probabilities, false>(Q);
    }
};

/// The lanes of v whose bit is set in m, in lane order, to dst[0..popcount(m)); dst has room
/// for a whole batch (the entries past the count are scratch). With AVX-512: one register
/// compress and a full-width store (not a compressing store to memory, slow on some cores,
/// nor a vector store read back lane by lane, which stalls store forwarding); otherwise lane
/// by lane. (A lane compress of doubles has no core/simd.hpp counterpart; it lives here.)
KESTREL_ALWAYS_INLINE unsigned compress_doubles(unsigned m, const sd::batch<double>& v, double* dst) noexcept {
#if KESTREL_HAS_XSIMD && defined(__AVX512F__)
    if constexpr (sd::width<double> == 8) {
        _mm512_storeu_pd(dst, _mm512_maskz_compress_pd(static_cast<__mmask8>(m), v));
        return static_cast<unsigned>(__builtin_popcount(m));
    }
#endif
    alignas(64) double lanes[sd::width<double>];
    sd::store(lanes, v);
    unsigned c = 0;
    for (; m; m &= m - 1) dst[c++] = lanes[sd::lowest_bit(m)];
    return c;
}

/// K-SEQ's pass over [b, e) of a target law P and a draft law Q (multi_draft_math.hpp): the
/// sums of q over tokens with p >= k q and of p over tokens with p <= q go into lane sums, the
/// tokens with q < p < k q to the accumulator's arrays (compressed lane by lane); both laws'
/// sums and minima go to the checks. The lanes compute p and q exactly as residual_chunk does.
template <class T, law_mode PM, bool PF, law_mode QM, bool QF>
void k_seq_chunk(const row_law<T>& P, const row_law<T>& Q, std::size_t b, std::size_t e, row_check& pc,
                 row_check& qc, k_seq_accumulator& acc) noexcept {
    constexpr std::size_t W = sd::width<double>;
    const sd::batch<double> kk = sd::splat(acc.k), zero = sd::splat(0.0), one = sd::splat(1.0),
                            half = sd::splat(0.5), step = sd::splat(static_cast<double>(W));
    sd::batch<double> idx = sd::lane_numbers() + sd::splat(static_cast<double>(b));
    sd::batch<double> above = zero, below = zero, act = zero, ps = zero, qs = zero, pmin = zero, qmin = zero;
    std::size_t size = acc.size;
    // Laws read through kept exponentials are not summed again (chunk_law_sum).
    constexpr bool p_sum = PM != law_mode::cached, q_sum = QM != law_mode::cached;
    const T* const pvals = source_of<T, PM>(P);
    const T* const qvals = source_of<T, QM>(Q);
    auto lane = [&](const sd::batch<double>& p, const sd::batch<double>& xp, const sd::batch<double>& q,
                    const sd::batch<double>& xq) {
        if constexpr (p_sum) ps = ps + p;
        if constexpr (q_sum) qs = qs + q;
        if constexpr (PM == law_mode::probabilities) pmin = sd::vmin(pmin, xp);
        if constexpr (QM == law_mode::probabilities) qmin = sd::vmin(qmin, xq);
        const sd::batch<double> kq = kk * q;
        // p >= k q gives q (0 when q = 0); p <= q gives p (both hold only for p = q = 0).
        above = above + sd::vselect<double>(p >= kq, q, zero);
        below = below + sd::vselect<double>(p <= q, p, zero);
        const sd::mask<double> active = (q < p) & (p < kq);
        act = act + sd::vselect<double>(active, q, zero);
        const unsigned m = sd::less_mask(sd::vselect<double>(active, zero, one), half);
        if (m) {
            compress_doubles(m, p, acc.lp + size);
            size += compress_doubles(m, q, acc.lq + size);
        }
    };
    // Chunk by chunk (float logit rows shift and scale per chunk), 2 W entries at a time.
    for (std::size_t cb = b; cb < e;) {
        const std::size_t k = cb / chunk, ce = std::min(e, (k + 1) * chunk);
        const lane_law<T, PM, PF> lp(P, k);
        const lane_law<T, QM, QF> lq(Q, k);
        auto two = [&](const T* pv, const T* qv) {
            const sd::batch<double> i1 = idx + step;
            sd::batch<double> xp0, xp1, p0, p1, xq0, xq1, q0, q1;
            lp.pair(pv, idx, i1, xp0, xp1, p0, p1);
            lq.pair(qv, idx, i1, xq0, xq1, q0, q1);
            lane(p0, xp0, q0, xq0);
            lane(p1, xp1, q1, xq1);
            idx = i1 + step;
        };
        std::size_t i = cb;
        for (; i + 2 * W <= ce; i += 2 * W) two(pvals + i, qvals + i);
        if (i < ce) {
            // Padded pair: values of probability 0 past the end (0, or -inf logits, or a kept
            // exponential of 0): p = q = 0.
            alignas(64) T bp[2 * W], bq[2 * W];
            const std::size_t r = ce - i;
            for (std::size_t j = 0; j < 2 * W; ++j) {
                bp[j] = j < r ? pvals[i + j] : padding_value<T>(PM);
                bq[j] = j < r ? qvals[i + j] : padding_value<T>(QM);
            }
            two(bp, bq);
        }
        cb = ce;
    }
    acc.size = size;
    acc.active_q += sd::hsum<double>(act);
    acc.active_q_known = true;
    acc.above_q += sd::hsum<double>(above);
    acc.below_p += sd::hsum<double>(below);
    pc.sum += chunk_law_sum<p_sum>(ps, b, e, P.n);
    qc.sum += chunk_law_sum<q_sum>(qs, b, e, P.n);
    alignas(64) double lanes[W];
    if constexpr (PM == law_mode::probabilities) {
        sd::store(lanes, pmin);
        for (std::size_t j = 0; j < W; ++j) pc.min = lanes[j] < pc.min || lanes[j] != lanes[j] ? lanes[j] : pc.min;
    }
    if constexpr (QM == law_mode::probabilities) {
        sd::store(lanes, qmin);
        for (std::size_t j = 0; j < W; ++j) qc.min = lanes[j] < qc.min || lanes[j] != lanes[j] ? lanes[j] : qc.min;
    }
}

template <class T>
struct k_seq_kernel {
    using fn = void (*)(const row_law<T>&, const row_law<T>&, std::size_t, std::size_t, row_check&, row_check&,
                        k_seq_accumulator&);
    template <law_mode PM, bool PF>
    static fn pick_q(const row_law<T>& Q) noexcept {
        if (Q.logits)
            return Q.filtered ? &k_seq_chunk<T, PM, PF, law_mode::logits, true> : &k_seq_chunk<T, PM, PF, law_mode::logits, false>;
        return Q.filtered ? &k_seq_chunk<T, PM, PF, law_mode::probabilities, true>
                          : &k_seq_chunk<T, PM, PF, law_mode::probabilities, false>;
    }
    static fn pick(const row_law<T>& P, const row_law<T>& Q) noexcept {
        if constexpr (row_law<T>::float_rows) {
            // Kept exponentials of both laws (float logit rows, no filter): the same bits.
            if (P.exps && !P.filtered && Q.exps && !Q.filtered)
                return &k_seq_chunk<T, law_mode::cached, false, law_mode::cached, false>;
        }
        if (P.logits) return P.filtered ? pick_q<law_mode::logits, true>(Q) : pick_q<law_mode::logits, false>(Q);
        return P.filtered ? pick_q<law_mode::probabilities, true>(Q) : pick_q<law_mode::probabilities, false>(Q);
    }
};

/// log sum_y exp(v[y] * inv_t) in one pass over memory (chunk max, then the chunk again from
/// L1), in double. Returns NaN if any value is NaN, +inf if any is +inf. If chunk_max and
/// chunk_sum are given (one entry per chunk of `chunk` entries), chunk k's maximum m_k (-inf
/// if it holds no mass) and sum s_k = sum exp(v[y] * inv_t - m_k) are written there (when the
/// result is finite): the law's chunk sums are then s_k exp(m_k - log Z) with no further exp
/// per entry (lse_chunk_sums).
template <class T>
double log_sum_exp(const T* v, std::size_t n, double inv_t, double* chunk_max = nullptr,
                   double* chunk_sum = nullptr) noexcept {
    constexpr std::size_t W = sd::width<double>;
    const double ninf = -std::numeric_limits<double>::infinity();
    const sd::batch<double> it = sd::splat(inv_t);
    double m = ninf, s = 0.0;
    for (std::size_t b = 0; b < n; b += chunk) {
        const std::size_t e = std::min(n, b + chunk);
        // Chunk maximum and a NaN/inf probe ((x - x) is 0 for finite x, NaN otherwise).
        sd::batch<double> mx0 = sd::splat(ninf), mx1 = mx0, probe = sd::splat(0.0);
        std::size_t y = b;
        for (; y + 2 * W <= e; y += 2 * W) {
            const sd::batch<double> x0 = sd::load_widened(v + y) * it, x1 = sd::load_widened(v + y + W) * it;
            mx0 = sd::vmax(mx0, x0);
            mx1 = sd::vmax(mx1, x1);
            probe = probe + ((x0 - x0) + (x1 - x1));
        }
        alignas(64) double lanes[W];
        sd::store(lanes, sd::vmax(mx0, mx1));
        double cm = ninf, pr = sd::hsum<double>(probe);
        for (std::size_t j = 0; j < W; ++j) cm = lanes[j] > cm ? lanes[j] : cm;
        for (std::size_t z = y; z < e; ++z) {
            const double x = static_cast<double>(v[z]) * inv_t;
            cm = x > cm ? x : cm;
            pr += x - x;
        }
        if (pr != 0.0) {  // NaN or an infinity somewhere in the chunk
            for (std::size_t z = b; z < e; ++z) {
                const double x = static_cast<double>(v[z]) * inv_t;
                if (x != x) return std::numeric_limits<double>::quiet_NaN();
            }
            for (std::size_t z = b; z < e; ++z)
                if (static_cast<double>(v[z]) * inv_t == std::numeric_limits<double>::infinity())
                    return std::numeric_limits<double>::infinity();
            // Only -inf values (probability 0): the maximum of the rest.
            cm = ninf;
            for (std::size_t z = b; z < e; ++z) {
                const double x = static_cast<double>(v[z]) * inv_t;
                cm = x > cm ? x : cm;
            }
        }
        if (chunk_max) chunk_max[b / chunk] = cm, chunk_sum[b / chunk] = 0.0;
        if (cm == ninf) continue;
        const sd::batch<double> neg = sd::splat(-cm);
        sd::batch<double> s0 = sd::splat(0.0), s1 = s0;
        y = b;
        for (; y + 2 * W <= e; y += 2 * W) {
            s0 = s0 + sd::vexp(sd::fmadd(sd::load_widened(v + y), it, neg));
            s1 = s1 + sd::vexp(sd::fmadd(sd::load_widened(v + y + W), it, neg));
        }
        double cs = sd::hsum<double>(s0 + s1);
        for (; y < e; ++y) cs += std::exp(static_cast<double>(v[y]) * inv_t - cm);
        if (chunk_sum) chunk_sum[b / chunk] = cs;
        if (cm > m) {
            s = s * std::exp(m - cm) + cs;
            m = cm;
        } else {
            s += cs * std::exp(cm - m);
        }
    }
    return m + std::log(s);
}

#if KESTREL_HAS_XSIMD
/// exp_f((v - m) * tau) of the float batch at p, as the normalizer's passes take it (the
/// product skipped when tau = 1, the upper clamp skipped: see float_exp_pass).
template <bool UnitTau>
KESTREL_ALWAYS_INLINE sd::batch<float> float_normalizer_exp(const float* p, const sd::batch<float>& tau,
                                                            const sd::batch<float>& m) noexcept {
    const sd::batch<float> a = sd::load(p) - m;
    return float_exp_lanes<float, true>(UnitTau ? a : a * tau);
}

/// The normalizer's exp pass over [b, e) of a float logit row (SIMD builds): e(y) =
/// exp_f((v[y] - m) * tau) into out[y - b] (the product skipped when tau = 1: fl(x * 1) = x;
/// the upper clamp skipped: v[y] <= m, so the argument is <= 0 or NaN; the same bits as
/// float_law_exp either way); the ragged end through a batch padded with -inf (e = 0). pf
/// (null: none): the next chunk's start, prefetched meanwhile one line per 64 bytes, so that
/// the sum loop after this pass finds it in cache when it takes its maximum. (For a row's last
/// chunk and a chunk whose next one is ragged; the others go through float_exp_sum_pass.)
template <bool UnitTau>
inline void float_exp_pass(const float* v, float* out, const float* pf, std::size_t b, std::size_t e,
                           const sd::batch<float>& tau, const sd::batch<float>& m) noexcept {
    constexpr std::size_t WF = float_width;
    auto one = [&](const float* p) KESTREL_LAMBDA_INLINE { return float_normalizer_exp<UnitTau>(p, tau, m); };
    std::size_t y = b;
    if (pf) {
        for (; y + WF <= e; y += WF) {
            if ((y & 15) == 0) sd::prefetch(pf + y);
            sd::store(out + (y - b), one(v + y));
        }
    } else {
        for (; y + WF <= e; y += WF) sd::store(out + (y - b), one(v + y));
    }
    if (y < e) {
        alignas(64) float pad[WF], res[WF];
        for (std::size_t j = 0; j < WF; ++j) pad[j] = y + j < e ? v[y + j] : -std::numeric_limits<float>::infinity();
        sd::store(res, one(pad));
        for (std::size_t j = 0; y + j < e; ++j) out[y - b + j] = res[j];
    }
}

/// The normalizer's pass over a whole chunk [b, b + chunk) whose next chunk is whole too
/// (SIMD builds): e(y) into out[y - b] as float_exp_pass writes it; the double sums of e, s0
/// over the low half of each float batch and s1 over the high half, in the order of the
/// batches (so the same bits as summing after the pass), each taken `lag` entries behind the
/// exps, from L1; and the next chunk's maximum into mx, its lines prefetched by the previous
/// chunk's pass, while this pass prefetches the chunk after (pf2, null: none). One loop for
/// the exps (multiply-add pipes), the sums and the maximum (add pipes): 7.7 against 8.5 cycles
/// per 16 entries in L1, and 0.16-0.19 against 0.17-0.25 ns an entry streaming from memory
/// (Zen 5, 1 thread, interleaved runs), than the exps first and then the sums with the maximum.
template <bool UnitTau>
inline void float_exp_sum_pass(const float* v, float* out, const float* pf2, std::size_t b,
                               const sd::batch<float>& tau, const sd::batch<float>& m, sd::batch<double>& s0,
                               sd::batch<double>& s1, sd::batch<float>& mx) noexcept {
    constexpr std::size_t WF = float_width, W = sd::width<double>, lag = 8 * WF;
    static_assert(chunk % lag == 0 && lag % 16 == 0, "the lag divides the chunk");
    const std::size_t e = b + chunk;
    auto one = [&](std::size_t z) KESTREL_LAMBDA_INLINE {
        sd::store(out + (z - b), float_normalizer_exp<UnitTau>(v + z, tau, m));
    };
    sd::batch<float> mx1 = mx;
    std::size_t y = b;
    for (; y < b + lag; y += WF) {
        if (pf2 && (y & 15) == 0) sd::prefetch(pf2 + (y - b));
        mx = sd::vmax(mx, sd::load(v + y + chunk));
        one(y);
    }
    for (; y < e; y += WF) {
        if (pf2 && (y & 15) == 0) sd::prefetch(pf2 + (y - b));
        mx1 = sd::vmax(mx1, sd::load(v + y + chunk));
        one(y);
        s0 = s0 + sd::load_widened(out + (y - b - lag));
        s1 = s1 + sd::load_widened(out + (y - b - lag) + W);
    }
    for (y = e - lag; y < e; y += WF) {
        s0 = s0 + sd::load_widened(out + (y - b));
        s1 = s1 + sd::load_widened(out + (y - b) + W);
    }
    mx = sd::vmax(mx, mx1);
}
#endif

/// Kestrel's float softmax normalizer of a float logit row (softmax.hpp): per chunk of `chunk`
/// entries the maximum m_k of v (written to shifts[k]; -inf for a chunk without mass) and,
/// from the chunk again (in L1), E_k = sum of e(y) = exp_f((v[y] - m_k) * tau) in float lanes,
/// widened and summed in double (written to esums[k] if esums is given); returns log Z =
/// log sum_k exp(tau m_k) E_k, computed in double. If exps is given (n entries), e(y) is
/// written to exps[y] (the residual pass then reads e instead of evaluating it again; entries
/// of a chunk without mass are 0). Returns NaN if any v is NaN, +inf if any is +inf (exps is
/// then partly written). tau must be finite and > 0.
inline double float_log_sum_exp(const float* v, std::size_t n, float tau, float* shifts, double* esums,
                                float* exps = nullptr) noexcept {
    constexpr std::size_t WF = float_width;
    const float finf = std::numeric_limits<float>::infinity();
    [[maybe_unused]] const sd::batch<float> t = sd::splat(tau);
    [[maybe_unused]] const bool unit = tau == 1.0f;
    double m = -std::numeric_limits<double>::infinity(), s = 0.0;
    [[maybe_unused]] bool have_next = false;  // next_max holds the next chunk's maximum
    [[maybe_unused]] float next_max = -finf;
    // A NaN or +inf value: classified by a scan of its chunk.
    auto classify = [&](std::size_t b, std::size_t e) {
        for (std::size_t z = b; z < e; ++z)
            if (v[z] != v[z]) return std::numeric_limits<double>::quiet_NaN();
        for (std::size_t z = b; z < e; ++z)
            if (v[z] == finf) return std::numeric_limits<double>::infinity();
        return 0.0;
    };
    for (std::size_t b = 0; b < n; b += chunk) {
        const std::size_t e = std::min(n, b + chunk), k = b / chunk;
        // Chunk maximum. No NaN / inf probe here: a NaN (or a +inf, whose shifted argument is
        // inf - inf) makes the chunk's sum of exps NaN (exp_f keeps NaN), found below; a
        // maximum of -inf or NaN (a chunk without mass, or a NaN the max dropped) is checked by
        // a scan.
        // (SIMD builds: the previous chunk's sum pass read this one and found its maximum.)
        float cm = -finf;
        std::size_t y = b;
        if (have_next) {
            cm = next_max;
            have_next = false;
        } else {
            sd::batch<float> mx0 = sd::splat(-finf), mx1 = mx0;
            // The row's first chunk: a whole next one's lines are fetched meanwhile (its maximum
            // is taken in this chunk's pass, float_exp_sum_pass), one prefetch per 64 bytes.
            const float* const next = e + chunk <= n ? v + chunk : nullptr;
            for (; y + 2 * WF <= e; y += 2 * WF) {
                if (next && (y & 15) == 0)
                    for (std::size_t z = y; z < y + 2 * WF; z += 16) sd::prefetch(next + z);
                mx0 = sd::vmax(mx0, sd::load(v + y));
                mx1 = sd::vmax(mx1, sd::load(v + y + WF));
            }
            alignas(64) float lanes[WF];
            sd::store(lanes, sd::vmax(mx0, mx1));
            for (std::size_t j = 0; j < WF; ++j) cm = lanes[j] > cm ? lanes[j] : cm;
            for (std::size_t z = y; z < e; ++z) cm = v[z] > cm ? v[z] : cm;
        }
        if (!(cm > -finf)) {  // no finite maximum: only -inf values, or a NaN
            const double c = classify(b, e);
            if (c != 0.0) return c;
            cm = -finf;
            for (std::size_t z = b; z < e; ++z) cm = v[z] > cm ? v[z] : cm;
        }
        shifts[k] = cm;
        if (esums) esums[k] = 0.0;
        if (cm == -finf) {
            if (exps)
                for (std::size_t z = b; z < e; ++z) exps[z] = 0.0f;
            continue;
        }
        [[maybe_unused]] const sd::batch<float> mk = sd::splat(cm);
        double cs;
#if KESTREL_HAS_XSIMD
        {
            // The exps go into `out` (the kept buffer, or a chunk of scratch in L1) and their
            // double sums are read back from there, s0 holding the low half of each float
            // batch and s1 the high half (the same additions in the same order as widening
            // each batch of exps in registers, so the same bits): for a whole chunk with a
            // whole next one, in one pass a few batches behind the exps (float_exp_sum_pass;
            // summing each batch from registers right after its exp was measured slower), for
            // the last chunks in a second loop.
            alignas(64) float scratch[chunk];
            float* const out = exps ? exps + b : scratch;
            const float* const pf = e + chunk <= n ? v + chunk : nullptr;
            sd::batch<double> s0 = sd::splat(0.0), s1 = s0;
            constexpr std::size_t W = sd::width<double>;
            static_assert(doubles_per_float_batch == 2, "a float batch holds 2 W entries");
            if (e + chunk <= n) {
                // The next chunk is whole (so is this one): the exps, their sums and the next
                // chunk's maximum in one pass (float_exp_sum_pass).
                sd::batch<float> mx = sd::splat(-finf);
                const float* const pf2 = e + 2 * chunk <= n ? v + e + chunk : nullptr;
                if (unit)
                    float_exp_sum_pass<true>(v, out, pf2, b, t, mk, s0, s1, mx);
                else
                    float_exp_sum_pass<false>(v, out, pf2, b, t, mk, s0, s1, mx);
                y = e;
                alignas(64) float lanes[WF];
                sd::store(lanes, mx);
                next_max = -finf;
                for (std::size_t j = 0; j < WF; ++j) next_max = lanes[j] > next_max ? lanes[j] : next_max;
                have_next = true;
            } else {
                if (unit)
                    float_exp_pass<true>(v, out, pf, b, e, t, mk);
                else
                    float_exp_pass<false>(v, out, pf, b, e, t, mk);
                for (y = b; y + WF <= e; y += WF) {
                    s0 = s0 + sd::load_widened(out + (y - b));
                    s1 = s1 + sd::load_widened(out + (y - b) + W);
                }
            }
            if (y < e) {  // padded batch: -inf logits have e = 0
                alignas(64) float pad[WF];
                for (std::size_t j = 0; j < WF; ++j) pad[j] = y + j < e ? out[y - b + j] : 0.0f;
                s0 = s0 + sd::load_widened(pad);
                s1 = s1 + sd::load_widened(pad + W);
            }
            cs = sd::hsum<double>(s0 + s1);
        }
#else
        cs = 0.0;
        for (y = b; y < e; ++y) {
            const float ev = float_law_exp(v[y], tau, cm);
            if (exps) exps[y] = ev;
            cs += static_cast<double>(ev);
        }
#endif
        if (cs != cs) {  // a NaN, or a +inf (inf - inf), in the chunk
            const double c = classify(b, e);
            return c != 0.0 ? c : std::numeric_limits<double>::quiet_NaN();
        }
        if (esums) esums[k] = cs;
        const double dm = static_cast<double>(tau) * static_cast<double>(cm);  // exact in double
        if (dm > m) {
            s = s * std::exp(m - dm) + cs;
            m = dm;
        } else {
            s += cs * std::exp(dm - m);
        }
    }
    return m + std::log(s);
}

/// The chunk sums of the law exp(v[y] * inv_t - log_z) from log_sum_exp's chunk statistics,
/// in place: sums[0..chunks) holds the maxima, sums[chunks..2 chunks) the scaled sums on entry;
/// on return sums holds the chunks' sums of the law (resized to `chunks`). Returns their total.
inline double lse_chunk_sums(std::vector<double>& sums, std::size_t chunks, double log_z) {
    double z = 0.0;
    for (std::size_t k = 0; k < chunks; ++k) {
        const double m = sums[k];
        const double s = m == -std::numeric_limits<double>::infinity() ? 0.0 : sums[chunks + k] * std::exp(m - log_z);
        sums[k] = s;
        z += s;
    }
    sums.resize(chunks);
    return z;
}

/// The residual value at y in scalar arithmetic (the passes above compute it lane by lane;
/// results may differ in the last bit where the SIMD exp or a fused multiply-add is used).
template <class T>
inline double residual_at(const row_law<T>& p, const row_law<T>* q, std::size_t point, double c,
                          std::size_t y) noexcept {
    const double qv = q ? q->prob(y) : (y == point ? 1.0 : 0.0);
    const double r = c * p.prob(y) - qv;
    return r > 0.0 ? r : 0.0;
}

/// Chunk sums of the residual r = max(0, c p - q) over the whole row into `sums` (resized to
/// the chunk count); returns their total Z, and fills the row checks of both laws.
template <class T>
double residual_chunk_sums(const row_law<T>& p, const row_law<T>* q, std::size_t point, double c,
                           std::vector<double>& sums, row_check& pc, row_check& qc) {
    const std::size_t n = p.n, chunks = (n + chunk - 1) / chunk;
    sums.resize(chunks);
    const auto fn = residual_kernel<T>::pick(p, q);
    double z = 0.0;
    for (std::size_t k = 0; k < chunks; ++k) {
        const std::size_t b = k * chunk, e = std::min(n, b + chunk);
        const double s = fn(p, q, q ? n : point, c, b, e, pc, qc, nullptr);
        sums[k] = s;
        z += s;
    }
    return z;
}

/// The token for uniform u in [0, 1): the first y whose cumulative residual exceeds u * Z,
/// chunk by chunk (see the header comment). Requires Z > 0.
template <class T>
std::size_t residual_inverse_cdf(const row_law<T>& p, const row_law<T>* q, std::size_t point, double c,
                                 const std::vector<double>& sums, double z, double u) noexcept {
    const double target = u * z;
    double before = 0.0;
    std::size_t k = 0;
    const std::size_t chunks = sums.size();
    // The chunk whose cumulative range holds the target; past rounding, the last with mass.
    std::size_t last_with_mass = 0;
    for (; k < chunks; ++k) {
        if (sums[k] > 0.0) last_with_mass = k;
        if (target < before + sums[k]) break;
        before += sums[k];
    }
    if (k == chunks) {
        k = last_with_mass;
        before = 0.0;
        for (std::size_t j = 0; j < k; ++j) before += sums[j];
    }
    const std::size_t b = k * chunk, e = std::min(p.n, b + chunk);
    // The chunk's residual values, by the same lane arithmetic as its sum (from cache).
    alignas(64) double values[chunk];
    row_check pc, qc;
    residual_kernel<T>::pick(p, q)(p, q, q ? p.n : point, c, b, e, pc, qc, values);
    // Inside the chunk, positions are measured from its start: u * Z - before in one rounding
    // (fused multiply-add) against a running sum that starts at 0, so each token's share is
    // rounded at the scale of the chunk's mass, not of the whole row's (the row's TV error
    // shrinks by about the chunk count).
    const double local = std::fma(u, z, -before);
    double cum = 0.0;
    std::size_t last_positive = b;
    for (std::size_t y = b; y < e; ++y) {
        const double r = values[y - b];
        if (r > 0.0) {
            cum += r;
            last_positive = y;
            if (local < cum) return y;
        }
    }
    return last_positive;  // u * Z rounded past this chunk's in-order sum: its last token with mass
}

/// argmax of a row, ties to the lowest id (greedy decoding's rule); NaN never wins.
template <class T>
std::size_t row_argmax(const T* v, std::size_t n) noexcept {
    std::size_t best = 0;
    T m = v[0];
    for (std::size_t y = 1; y < n; ++y)
        if (v[y] > m || (m != m && v[y] == v[y])) m = v[y], best = y;
    return best;
}

}  // namespace detail
}  // namespace speculative
}  // namespace kestrel
