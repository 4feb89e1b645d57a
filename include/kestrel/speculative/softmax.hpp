// The law Kestrel reads from a logit row: every verifier (chain, block, multi-draft, tree,
// typical) uses exactly these probabilities, in its accept tests, normalizers, residual sums
// and inverse-CDF draws, so its output follows the residual law of this softmax to double
// rounding. row_softmax returns it, for a caller (or a test oracle) that needs the law the
// verifiers sample.
//
// Double logit rows: p(y) = exp(l_y / T - log Z), exp in double (xsimd's, about 1 ulp; std::exp
// in the scalar build), log Z = log sum_y exp(l_y / T) in double.
//
// Float logit rows (Kestrel's float softmax): with tau = 1 / T rounded to float and the row cut
// into chunks of 4096 entries (detail::chunk),
//   m_k  = max over chunk k of l_y                                       (float, exact)
//   e(y) = exp_f(fl(fl(l_y - m_k) * tau))                                (float argument, float exp)
//   p(y) = e(y) * exp(tau m_k - log Z),  log Z = log sum_k exp(tau m_k) sum_{y in k} e(y)  (double)
// (tau m_k is exact in double; no FMA is involved, so the argument rounds the same way on every
// machine). exp_f is Kestrel's float exp (detail/float_exp.hpp: Cody-Waite reduction, a
// degree-6 minimax polynomial, q 2^k rounded once), one definition for SIMD lanes, single
// entries and the scalar build: on one target, the SIMD and scalar builds get the same e(y) bit
// for bit. Their log Z may differ in its last double bits: the double sum of a chunk's e runs in
// SIMD lanes (their count depends on the target) or one entry at a time, a different order of
// additions. Targets with FMA fuse exp_f's multiply-adds, targets without round the products,
// so the e of the two kinds of target differ in the last float bits.
// With a caller-supplied normalizer L the shift is one for the row, m = fl(L / tau), and
// p(y) = e(y) * exp(tau m - L).
//
// Why float exp is enough: the float logits are the input, and a float logit of magnitude >= 4
// is known only to half an ulp, 2^-22 >= 2.4e-7, which is that relative uncertainty in exp(l).
// The argument a_y = (l_y - m_k) tau is rounded twice, each time by at most 2^-24 |a_y| (plus
// tau's own rounding, 2^-24 |a_y|, when T != 1), and the float exp adds at most 2 ulp (the
// tests check <= 2 ulp over the whole normal-result range; measured over every float 0.91 ulp
// with FMA, 1.17 without).
// Hence, with d(z) = 2^-24 (w |a*_z| + 6), a*_z = l_z / T - max_y l_y / T, w = 1 at T = 1 and
// 3 otherwise, the relative error to the exact softmax p* of the given float logits is
//   |p(y) / p*(y) - 1| <= d(y) + sum_z p*(z) d(z) + 1e-12
// (the normalization spreads the other entries' errors); tests/speculative/test_float_softmax.cpp
// checks it against long double on random, peaked, offset (|l| ~ 1000), wide-range, tempered
// and masked rows. Underflow: exp_f(a) is a denormal for -103.98 < a < -87.34 and 0 below,
// where the exact probability is below 1e-38 times the chunk's largest; a probability below
// 2^-53 cannot be drawn by a 53-bit uniform anyway.
// Cost: one exp per entry at the float SIMD width (16 lanes with AVX-512), sums in double. The
// normalizer pass takes each chunk of 4096 entries three times: its maximum, its exps written
// out (to the kept buffer below, or to scratch in L1; the next chunk is prefetched meanwhile),
// and their double sums read back from there (the same additions in the same order as
// summing in registers, about 1.3x faster than one interleaved loop); the sum loop, which
// leaves the core mostly idle, also takes the next chunk's maximum (SIMD builds). The exp loop
// skips exp_f's upper clamp (its argument is <= 0) and, at T = 1, the product by tau
// (fl(x * 1) = x): the same bits. The verifiers evaluate the softmax once per entry of every
// row they read: a row whose residual is needed after its normalizer pass (chain's stop row,
// block's rows) reads the exponentials that pass kept in a per-thread buffer instead of
// evaluating them again (the same bits).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/view.hpp"
#include "chain.hpp"
#include "rows.hpp"

namespace kestrel {
namespace speculative {

/// The law the verifiers read from one logit row at temperature T > 0, written to out (size of
/// the row), in double; returns its log-normalizer log Z (the caller's, if given). The
/// sampling filters are not applied. Throws kestrel::invalid_argument (nothing written) on a
/// size mismatch, an empty row, T not finite and > 0 (float rows: 1 / T beyond the float
/// range), a NaN or +inf logit, or a log-normalizer that is not finite (float rows: / tau
/// beyond the float range).
template <class T>
double row_softmax(vector_view<const T> logits, double temperature, vector_view<double> out,
                   const double* log_normalizer = nullptr) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "float or double rows");
    const char* fn = "row_softmax";
    require(!logits.empty(), fn, "logits", "is empty");
    require_size(out.size(), logits.size(), fn, "out", "the row's size");
    require(std::isfinite(temperature) && temperature > 0.0, fn, "temperature", "must be finite and > 0, got ",
            temperature);
    for (std::size_t y = 0; y < logits.size(); ++y)
        if (!(logits[y] < std::numeric_limits<T>::infinity()))
            fail_argument(fn, "logits", "entry ", y, " is ", static_cast<double>(logits[y]), " (NaN or +inf)");
    if (log_normalizer)
        require(std::isfinite(*log_normalizer), fn, "log_normalizer", "must be finite, got ", *log_normalizer);
    const detail::law_reader<T> rd{fn, 0, 1.0 / temperature, 1.0};
    const token_rows<T> rows = logit_rows(logits.data(), 1, 1, logits.size(), log_normalizer);
    const detail::row_law<T> L = rd.law(rows, 0, "logits");
    for (std::size_t y = 0; y < logits.size(); ++y) out[y] = L.prob(y);
    return L.log_z;
}

}  // namespace speculative
}  // namespace kestrel
