// Test oracles for the speculative verifiers.
//
// audit_law: the exact output law of a verifier, found by sweeping its uniforms. The verifier
// runs with a scripted source; the first uniform it asks for that the script does not fix is
// the next to resolve. Its output, as a function of that uniform (the other open uniforms at a
// placeholder), is piecewise constant with pieces found by a grid and bisection down to
// adjacent doubles (each use is monotone in u: a threshold test or an inverse CDF), and the
// law is the sum over pieces of (piece length) x (the law with the uniform fixed inside the
// piece). A checker that can be fooled proves nothing: the tests also run deliberately wrong
// verifiers through it and require a large error.
#pragma once

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>
#include "optimized_build.hpp"

namespace spec_test {

/// The largest enumerations (hundreds of draft outcomes, each audited) run in full in
/// optimized builds without sanitizers (CI's full and scalar builds); Debug and sanitizer
/// builds, about thirty times slower, run a subset of their configurations.
inline constexpr bool full_enumeration = kestrel_test::optimized_build;

namespace ks = kestrel::speculative;

using key_tuple = std::tuple<std::uint64_t, std::uint64_t, std::uint32_t, std::uint32_t>;

inline key_tuple tuple_of(const ks::uniform_key& k) {
    return {k.request, k.position, static_cast<std::uint32_t>(k.use), k.index};
}

/// A uniform source that returns scripted values and remembers the first key it had to guess.
struct scripted_source {
    const std::map<key_tuple, double>* fixed;
    mutable bool open_seen = false;
    mutable key_tuple first_open{};
    double placeholder = 0.5;
    double operator()(const ks::uniform_key& k) const {
        const auto t = tuple_of(k);
        auto it = fixed->find(t);
        if (it != fixed->end()) return it->second;
        if (!open_seen) open_seen = true, first_open = t;
        return placeholder;
    }
};

/// What a verifier run shows: emitted tokens, then a separator, then per-position flags.
using signature = std::vector<std::int32_t>;
using law = std::map<signature, double>;

/// run(source) -> signature. Returns the exact law of the signature. `grid` is the number of
/// grid intervals per uniform before bisection (see audit_law_coarse).
inline law audit_law(const std::function<signature(const scripted_source&)>& run,
                     std::map<key_tuple, double> fixed = {}, double weight = 1.0, int depth = 0, int grid = 64) {
    if (depth > 64) throw std::runtime_error("audit_law: too deep");
    scripted_source src{&fixed};
    const signature base = run(src);
    law out;
    if (!src.open_seen) {
        out[base] += weight;
        return out;
    }
    const key_tuple k = src.first_open;
    // Breakpoints of the output as a function of this uniform, with the other open uniforms
    // at each of three placeholders (0, 1/2, just below 1), so that a test whose outcome shows
    // only when the later uniforms reject (or accept) is still seen; the union of the cuts is
    // taken. Grid, then bisection wherever neighbouring points differ, down to adjacent doubles
    // (a cut at b: the behaviour from b on differs from just below b).
    // The cuts found with one placeholder are grid points (with their left neighbours) for
    // the next ones, so a cut already located needs no second bisection.
    std::vector<double> cuts{0.0};
    auto f = fixed;
    double& slot = f[k];
    for (double placeholder : {0.0, 0.5, std::nextafter(1.0, 0.0)}) {
        auto at = [&](double u) {
            slot = u;
            scripted_source s{&f};
            s.placeholder = placeholder;
            return run(s);
        };
        std::function<void(double, const signature&, double, const signature&)> split =
            [&](double a, const signature& fa, double b, const signature& fb) {
                if (fa == fb) return;
                if (std::nextafter(a, 2.0) >= b) {
                    cuts.push_back(b);
                    return;
                }
                double m = a + (b - a) / 2;
                if (m <= a || m >= b) m = std::nextafter(a, 2.0);
                const signature fm = at(m);
                split(a, fa, m, fm);
                split(m, fm, b, fb);
            };
        std::vector<double> points;
        for (int g = 1; g <= grid; ++g) points.push_back(g == grid ? std::nextafter(1.0, 0.0) : double(g) / grid);
        for (double c : cuts)
            if (c > 0.0) points.push_back(c), points.push_back(std::nextafter(c, 0.0));
        std::sort(points.begin(), points.end());
        points.erase(std::unique(points.begin(), points.end()), points.end());
        double prev_u = 0.0;
        signature prev = at(0.0);
        for (double u : points) {
            if (!(u > prev_u)) continue;
            const signature cur = at(u);
            split(prev_u, prev, u, cur);
            prev_u = u, prev = cur;
        }
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    cuts.push_back(1.0);
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        const double a = cuts[c], b = cuts[c + 1];
        if (!(b > a)) continue;
        auto g = fixed;
        g[k] = a;  // any u in [a, b) behaves the same; a is in the piece
        for (const auto& [sig, w] : audit_law(run, g, weight * (b - a), depth + 1, grid)) out[sig] += w;
    }
    return out;
}

/// audit_law with 16 grid intervals per uniform: enough when every uniform, the others
/// fixed, is used once in a threshold test or an inverse-CDF draw (outputs monotone in it, so
/// no outcome reappears after a different one and every change between grid points is found
/// by bisection). The multi-draft and tree audits use it to stay fast.
inline law audit_law_coarse(const std::function<signature(const scripted_source&)>& run) {
    return audit_law(run, {}, 1.0, 0, 16);
}

/// Random laws over V tokens for every prefix (up to a depth): a toy autoregressive model.
struct toy_model {
    std::size_t V;
    std::uint64_t seed;
    double sharpness;  // larger = peakier rows
    std::size_t top_k = 0;  // > 0: the row restricted to its top_k tokens (ties: lower id), renormalized
    // Float logit rows: the model's rows are given to the kernel as float(log p + offset), and
    // the model's law is the law Kestrel reads from them (row_softmax: the float softmax).
    bool float_logits = false;
    double logit_offset = 0.0;
    std::vector<float> logit_row(const std::vector<std::int32_t>& prefix) const {
        const auto p = base_row(prefix);
        std::vector<float> l(V);
        for (std::size_t y = 0; y < V; ++y) l[y] = static_cast<float>(std::log(p[y]) + logit_offset);
        return l;
    }
    std::vector<double> row(const std::vector<std::int32_t>& prefix) const {
        if (!float_logits) return base_row(prefix);
        const auto l = logit_row(prefix);
        std::vector<double> p(V);
        ks::row_softmax(kestrel::vector_view<const float>(l), 1.0, kestrel::vector_view<double>(p));
        return p;
    }
    std::vector<double> base_row(const std::vector<std::int32_t>& prefix) const {
        std::uint64_t h = seed * 0x9e3779b97f4a7c15ULL + 17;
        for (auto t : prefix) h = (h ^ std::uint64_t(t + 1)) * 0x100000001b3ULL + 0x51ed27;
        const kestrel::counter_rng rng(h, prefix.size());
        std::vector<double> p(V);
        double s = 0;
        for (std::size_t y = 0; y < V; ++y) {
            p[y] = std::exp(sharpness * rng.normal(y));
            s += p[y];
        }
        for (auto& v : p) v /= s;
        if (top_k > 0 && top_k < V) {
            std::vector<std::size_t> order(V);
            for (std::size_t y = 0; y < V; ++y) order[y] = y;
            std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
            double kept = 0;
            for (std::size_t i = 0; i < top_k; ++i) kept += p[order[i]];
            for (std::size_t i = top_k; i < V; ++i) p[order[i]] = 0.0;
            for (auto& v : p) v /= kept;
        }
        return p;
    }
    toy_model unfiltered() const { return toy_model{V, seed, sharpness}; }
};

/// Calls f(sequence, weight) for every continuation of `prefix` to `length` tokens, weighted
/// by the model's probability of the continuation times `weight`.
template <class F>
void for_each_sequence(const toy_model& m, signature prefix, std::size_t length, double weight, F&& f) {
    std::function<void(signature&, double)> rec = [&](signature& s, double w) {
        if (s.size() >= length) {
            f(s, w);
            return;
        }
        const auto r = m.row(s);
        for (std::size_t y = 0; y < m.V; ++y) {
            s.push_back(static_cast<std::int32_t>(y));
            rec(s, w * r[y]);
            s.pop_back();
        }
    };
    rec(prefix, weight);
}

/// The target's joint law of `length` tokens.
inline law target_joint(const toy_model& p, std::size_t length) {
    law out;
    for_each_sequence(p, {}, length, 1.0, [&](const signature& s, double w) { out[s] += w; });
    return out;
}

/// Completes each emitted prefix of `emitted` to `length` tokens with exact target sampling.
inline law complete_with_target(const law& emitted, const toy_model& p, std::size_t length) {
    law out;
    for (const auto& [prefix, w] : emitted)
        for_each_sequence(p, prefix, length, w, [&](const signature& s, double ww) {
            out[signature(s.begin(), s.begin() + static_cast<long>(length))] += ww;
        });
    return out;
}

inline double max_abs_difference(const law& a, const law& b) {
    double m = 0;
    for (const auto& [s, w] : a) {
        auto it = b.find(s);
        m = std::max(m, std::fabs(w - (it == b.end() ? 0.0 : it->second)));
    }
    for (const auto& [s, w] : b)
        if (!a.count(s)) m = std::max(m, std::fabs(w));
    return m;
}

}  // namespace spec_test
