// Honest baseline for speculative verification (used by benchmarks and checked by tests):
// chain verification the way a tensor framework runs it (vLLM v1's batched rejection
// sampler, HF's _speculative_sampling): logit rows are first turned into probability tensors
// by softmax; then for every drafted position the residual max(p - q, 0) is written to a
// temporary, summed, normalized in place, turned into a cumulative sum and sampled by a
// search of it (the "recovered" token of every position, since a whole-tensor program cannot
// stop at the first rejection); the accept tests gather p(x) and q(x); the first rejection
// picks its recovered token, or the bonus token is sampled from the last target row the same
// way. Arithmetic in the rows' type (float rows: float sums, as frameworks do).
//
// It draws its uniforms with the same keys as Kestrel (request id, absolute position,
// purpose), so with double rows it emits the same tokens as kestrel::speculative::
// verify_chain up to rounding at inverse-CDF boundaries (tests/speculative checks this).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <kestrel/speculative/randomness.hpp>

namespace kestrel_baseline {

/// Scratch a framework's caching allocator would recycle: probability tensors of one
/// request and the residual temporaries.
template <class T>
struct speculative_scratch {
    std::vector<T> p, q, r, cum;
};

/// softmax(l / t) of a row into out (max, exp and sum, divide: three whole-row passes).
template <class T>
void softmax_row(const T* l, std::size_t n, double temperature, T* out) {
    const T inv_t = static_cast<T>(1.0 / temperature);
    T m = l[0] * inv_t;
    for (std::size_t y = 1; y < n; ++y) m = std::max(m, l[y] * inv_t);
    T s = 0;
    for (std::size_t y = 0; y < n; ++y) s += (out[y] = std::exp(l[y] * inv_t - m));
    for (std::size_t y = 0; y < n; ++y) out[y] /= s;
}

/// Inverse CDF on a cumulative-sum tensor: first index whose cumulative value exceeds u times
/// the total (a binary search, as torch.searchsorted does), clamped to the last index.
template <class T>
std::size_t sample_cumulative(const T* cum, std::size_t n, double u) {
    const T target = static_cast<T>(u * static_cast<double>(cum[n - 1]));
    const std::size_t y = static_cast<std::size_t>(std::upper_bound(cum, cum + n, target) - cum);
    return y < n ? y : n - 1;
}

/// Chain verification of one batch with every request drafting k tokens. Rows: target
/// [batch][k + 1][vocab], draft [batch][k][vocab] (probabilities, or logits when `logits`).
/// Writes tokens [batch][k + 1] and emitted [batch].
template <class T, class Source>
void chain_verify_materializing(const T* target, const T* draft, std::size_t batch, std::size_t k, std::size_t vocab,
                                bool logits, double temperature, const std::int32_t* drafts,
                                const std::uint64_t* request_ids, const std::uint64_t* positions,
                                const Source& uniforms, std::int32_t* tokens, std::uint32_t* emitted,
                                speculative_scratch<T>& s) {
    namespace ks = kestrel::speculative;
    const std::size_t V = vocab;
    s.r.resize(V);
    s.cum.resize(V);
    if (logits) {
        s.p.resize((k + 1) * V);
        s.q.resize(k * V);
    }
    std::vector<std::int32_t> recovered(k);
    for (std::size_t b = 0; b < batch; ++b) {
        const T* P = target + b * (k + 1) * V;
        const T* Q = draft + b * k * V;
        if (logits) {  // probs = softmax(logits / t) for every row of both models
            for (std::size_t i = 0; i <= k; ++i) softmax_row(P + i * V, V, temperature, s.p.data() + i * V);
            for (std::size_t i = 0; i < k; ++i) softmax_row(Q + i * V, V, temperature, s.q.data() + i * V);
            P = s.p.data();
            Q = s.q.data();
        }
        const std::uint64_t req = request_ids[b], pos = positions[b];
        // Recovered token of every position: residual written, summed, normalized, sampled.
        for (std::size_t i = 0; i < k; ++i) {
            const T* p = P + i * V;
            const T* q = Q + i * V;
            T* r = s.r.data();
            for (std::size_t y = 0; y < V; ++y) r[y] = std::max(p[y] - q[y], T(0));
            T z = 0;
            for (std::size_t y = 0; y < V; ++y) z += r[y];
            if (z > T(0))
                for (std::size_t y = 0; y < V; ++y) r[y] /= z;
            else
                std::copy(p, p + V, r);  // p == q: sample from p
            T c = 0;
            for (std::size_t y = 0; y < V; ++y) s.cum[y] = (c += r[y]);
            const double u = uniforms(ks::uniform_key{req, pos + i, ks::purpose::residual, 0});
            recovered[i] = static_cast<std::int32_t>(sample_cumulative(s.cum.data(), V, u));
        }
        // Accept tests by gathers; the first rejection takes its recovered token.
        std::size_t j = 0;
        std::int32_t* out = tokens + b * (k + 1);
        for (; j < k; ++j) {
            const std::size_t x = static_cast<std::size_t>(drafts[b * k + j]);
            const double u = uniforms(ks::uniform_key{req, pos + j, ks::purpose::accept, 0});
            if (!(u * static_cast<double>(Q[j * V + x]) < static_cast<double>(P[j * V + x]))) break;
            out[j] = static_cast<std::int32_t>(x);
        }
        if (j < k) {
            out[j] = recovered[j];
        } else {
            const T* p = P + k * V;
            T c = 0;
            for (std::size_t y = 0; y < V; ++y) s.cum[y] = (c += p[y]);
            const double u = uniforms(ks::uniform_key{req, pos + k, ks::purpose::bonus, 0});
            out[k] = static_cast<std::int32_t>(sample_cumulative(s.cum.data(), V, u));
        }
        emitted[b] = static_cast<std::uint32_t>(j + 1);
    }
}

/// Typical acceptance (Medusa) the way its reference code runs it on logit rows: softmax of
/// every target row of the request (a whole-tensor program does not stop at the first
/// rejection), then per position the entropy -sum p log(p + 1e-5), the threshold
/// min(epsilon, delta exp(-H)), and the argmax as the correction or the bonus token.
/// Writes tokens [batch][k + 1] and emitted [batch].
template <class T>
void typical_verify_materializing(const T* target, std::size_t batch, std::size_t k, std::size_t vocab,
                                  const std::int32_t* drafts, double epsilon, double delta, std::int32_t* tokens,
                                  std::uint32_t* emitted, speculative_scratch<T>& s) {
    const std::size_t V = vocab;
    s.p.resize((k + 1) * V);
    for (std::size_t b = 0; b < batch; ++b) {
        const T* L = target + b * (k + 1) * V;
        for (std::size_t i = 0; i <= k; ++i) softmax_row(L + i * V, V, 1.0, s.p.data() + i * V);
        std::uint32_t e = 0;
        std::size_t i = 0;
        for (; i < k; ++i) {
            const T* p = s.p.data() + i * V;
            T h = 0;
            for (std::size_t y = 0; y < V; ++y) h -= p[y] * std::log(p[y] + T(1e-5));
            const T thr = std::min(static_cast<T>(epsilon), static_cast<T>(delta) * std::exp(-h));
            const std::int32_t x = drafts[b * k + i];
            if (p[static_cast<std::size_t>(x)] > thr) {
                tokens[b * (k + 1) + e++] = x;
                continue;
            }
            break;
        }
        const T* p = s.p.data() + i * V;  // the rejected position's row, or the bonus row
        tokens[b * (k + 1) + e++] = static_cast<std::int32_t>(std::max_element(p, p + V) - p);
        emitted[b] = e;
    }
}

}  // namespace kestrel_baseline
