// Internal: reading one row as a law, and inverse-CDF draws from a row or from a residual
// without materializing it.
//
// A row's law is p(y) = v[y] for probability rows and p(y) = exp(v[y] / temperature - log Z)
// for logit rows. A residual is r(y) = max(0, c * p(y) - q(y)) with q a draft row or a point
// mass (q(y) = [y == x]); c = 1 except in block verification. Draws use double partial sums
// over fixed chunks of `chunk` entries (independent of threads): one pass computes the chunk
// sums, the chunk holding u * Z is found by a scan of them and re-read (it is in cache), and
// a sequential double scan inside it finds the token. The result is monotone in u, so a test
// can recover the exact law of the implementation by sweeping u.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../../core/error.hpp"
#include "../rows.hpp"

namespace kestrel {
namespace speculative {
namespace detail {

inline constexpr std::size_t chunk = 4096;

/// One row read as a law.
template <class T>
struct row_law {
    const T* v = nullptr;
    std::size_t n = 0;
    bool logits = false;
    double inv_temperature = 1.0;
    double log_z = 0.0;  // logits: p(y) = exp(v[y] * inv_temperature - log_z)

    double prob(std::size_t y) const noexcept {
        return logits ? std::exp(static_cast<double>(v[y]) * inv_temperature - log_z) : static_cast<double>(v[y]);
    }
};

/// log sum_y exp(v[y] * inv_t) in one pass over memory (chunk max, then the chunk again from
/// L1), in double. Returns NaN if any value is NaN, +inf if any is +inf.
template <class T>
double log_sum_exp(const T* v, std::size_t n, double inv_t) noexcept {
    double m = -std::numeric_limits<double>::infinity(), s = 0.0;
    for (std::size_t b = 0; b < n; b += chunk) {
        const std::size_t e = std::min(n, b + chunk);
        double cm = -std::numeric_limits<double>::infinity();
        bool nan = false;
        for (std::size_t y = b; y < e; ++y) {
            const double x = static_cast<double>(v[y]) * inv_t;
            cm = x > cm ? x : cm;
            nan |= x != x;
        }
        if (nan) return std::numeric_limits<double>::quiet_NaN();
        if (cm == std::numeric_limits<double>::infinity()) return cm;
        if (cm == -std::numeric_limits<double>::infinity()) continue;
        double cs = 0.0;
        for (std::size_t y = b; y < e; ++y) cs += std::exp(static_cast<double>(v[y]) * inv_t - cm);
        if (cm > m) {
            s = s * std::exp(m - cm) + cs;
            m = cm;
        } else {
            s += cs * std::exp(cm - m);
        }
    }
    return m + std::log(s);
}

/// Statistics of a fully read probability row, for validation at no extra pass.
struct row_check {
    double sum = 0.0;
    bool bad = false;  // a NaN, an infinity or a negative value
};

/// Sum over [b, e) of max(0, c * p(y) - q(y)) in double, for probability rows; also checks
/// the values it reads. q may be null (point mass at `point`, or no draft: q = 0 when
/// point >= n).
template <class T>
double residual_range_prob(const T* p, const T* q, std::size_t point, double c, std::size_t b, std::size_t e,
                           row_check& pc, row_check& qc) noexcept {
    // Eight independent accumulators so the compiler vectorizes the widening loop.
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, ps[8] = {0, 0, 0, 0, 0, 0, 0, 0}, qs[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    bool bad = false, qbad = false;
    std::size_t y = b;
    if (q) {
        for (; y + 8 <= e; y += 8)
            for (int j = 0; j < 8; ++j) {
                const double pv = static_cast<double>(p[y + j]), qv = static_cast<double>(q[y + j]);
                const double r = c * pv - qv;
                acc[j] += r > 0.0 ? r : 0.0;
                ps[j] += pv;
                qs[j] += qv;
                bad |= !(pv >= 0.0 && pv <= 1e300);
                qbad |= !(qv >= 0.0 && qv <= 1e300);
            }
    } else {
        for (; y + 8 <= e; y += 8)
            for (int j = 0; j < 8; ++j) {
                const double pv = static_cast<double>(p[y + j]);
                acc[j] += c * pv;
                ps[j] += pv;
                bad |= !(pv >= 0.0 && pv <= 1e300);
            }
    }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    double sp = ((ps[0] + ps[1]) + (ps[2] + ps[3])) + ((ps[4] + ps[5]) + (ps[6] + ps[7]));
    double sq = ((qs[0] + qs[1]) + (qs[2] + qs[3])) + ((qs[4] + qs[5]) + (qs[6] + qs[7]));
    for (; y < e; ++y) {
        const double pv = static_cast<double>(p[y]), qv = q ? static_cast<double>(q[y]) : 0.0;
        const double r = c * pv - qv;
        s += r > 0.0 ? r : 0.0;
        sp += pv;
        sq += qv;
        bad |= !(pv >= 0.0 && pv <= 1e300);
        qbad |= !(qv >= 0.0 && qv <= 1e300);
    }
    if (!q && point >= b && point < e) {
        // The point mass removes min(c p(x), 1) from the residual at x.
        const double pv = c * static_cast<double>(p[point]);
        s -= pv;
        s += pv > 1.0 ? pv - 1.0 : 0.0;
        if (s < 0.0) s = 0.0;
    }
    pc.sum += sp;
    pc.bad |= bad;
    qc.sum += sq;
    qc.bad |= qbad;
    return s;
}

/// The residual value at y (the same arithmetic as the sums, one entry).
template <class T>
inline double residual_at(const row_law<T>& p, const row_law<T>* q, std::size_t point, double c,
                          std::size_t y) noexcept {
    const double qv = q ? q->prob(y) : (y == point ? 1.0 : 0.0);
    const double r = c * p.prob(y) - qv;
    return r > 0.0 ? r : 0.0;
}

/// Chunk sums of the residual r = max(0, c p - q) over the whole row into `sums` (resized to
/// the chunk count); returns their total Z. Probability rows also fill the row checks.
template <class T>
double residual_chunk_sums(const row_law<T>& p, const row_law<T>* q, std::size_t point, double c,
                           std::vector<double>& sums, row_check& pc, row_check& qc) {
    const std::size_t n = p.n, chunks = (n + chunk - 1) / chunk;
    sums.resize(chunks);
    double z = 0.0;
    for (std::size_t k = 0; k < chunks; ++k) {
        const std::size_t b = k * chunk, e = std::min(n, b + chunk);
        double s;
        if (!p.logits && (!q || !q->logits)) {
            s = residual_range_prob(p.v, q ? q->v : static_cast<const T*>(nullptr), q ? n : point, c, b, e, pc, qc);
        } else {
            s = 0.0;
            for (std::size_t y = b; y < e; ++y) s += residual_at(p, q, q ? n : point, c, y);
        }
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
    if (k == chunks) k = last_with_mass;
    const std::size_t b = k * chunk, e = std::min(p.n, b + chunk);
    double cum = before;
    std::size_t last_positive = b;
    bool any = false;
    for (std::size_t y = b; y < e; ++y) {
        const double r = residual_at(p, q, q ? p.n : point, c, y);
        if (r > 0.0) {
            cum += r;
            last_positive = y, any = true;
            if (target < cum) return y;
        }
    }
    (void)any;
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
