// Sampling filters (temperature, top-k, top-p, min-p): the kept set against a reference that
// sorts the row and applies Hugging Face's rules one after the other (written here from the
// definitions, with the documented tie rule), and exactness of chain and block verification
// with the filters on, by enumeration of the real kernels (the u-sweep audit): the emitted
// tokens must follow the filtered target law, for drafts drawn from the filtered draft law.
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "spec_test_util.hpp"

namespace ks = kestrel::speculative;
using namespace spec_test;

namespace {

struct filter_case {
    double temperature;
    std::size_t top_k;
    double top_p, min_p;
};

/// Reference: the filtered law of a row, by a full sort and the rules in order.
std::vector<double> reference_filtered(const std::vector<double>& v, bool logits, const filter_case& f) {
    const std::size_t n = v.size();
    std::vector<long double> base(n);
    if (logits) {
        long double m = -INFINITY, s = 0;
        for (double x : v) m = std::max<long double>(m, x / f.temperature);
        for (std::size_t y = 0; y < n; ++y) s += std::exp((long double)v[y] / f.temperature - m);
        for (std::size_t y = 0; y < n; ++y) base[y] = std::exp((long double)v[y] / f.temperature - m) / s;
    } else {
        for (std::size_t y = 0; y < n; ++y) base[y] = v[y];
    }
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    std::size_t keep = n;
    if (f.top_k) keep = std::min(keep, f.top_k);
    if (f.top_p < 1.0) {
        long double mass = 0;
        for (std::size_t j = 0; j < keep; ++j) mass += base[order[j]];
        long double before = 0;
        std::size_t kp = 0;
        for (std::size_t j = 0; j < keep; ++j) {
            if (!(before < f.top_p * mass)) break;
            before += base[order[j]];
            ++kp;
        }
        keep = kp;
    }
    if (f.min_p > 0.0) {
        const long double cut = f.min_p * base[order[0]];
        std::size_t km = 0;
        while (km < keep && base[order[km]] >= cut) ++km;
        keep = km;
    }
    long double kept = 0;
    for (std::size_t j = 0; j < keep; ++j) kept += base[order[j]];
    std::vector<double> out(n, 0.0);
    for (std::size_t j = 0; j < keep; ++j) out[order[j]] = double(base[order[j]] / kept);
    return out;
}

/// The filtered law as the kernel computes it (detail::law_reader on one row).
std::vector<double> kernel_filtered(const std::vector<double>& v, bool logits, const filter_case& f) {
    ks::sampling_workspace ws;
    auto rows = logits ? ks::logit_rows(v.data(), 1, 1, v.size()) : ks::probability_rows(v.data(), 1, 1, v.size());
    const ks::detail::law_reader<double> rd{"test", 0, 1.0 / f.temperature, 1e-9, {f.top_k, f.top_p, f.min_p}, &ws};
    const auto L = rd.law(rows, 0, "target");
    std::vector<double> out(v.size());
    for (std::size_t y = 0; y < v.size(); ++y) out[y] = L.prob(y);
    return out;
}

/// A row with ties: values on a coarse grid.
std::vector<double> tied_row(std::size_t n, std::uint64_t seed, bool logits) {
    const kestrel::counter_rng rng(seed, 3);
    std::vector<double> v(n);
    double s = 0;
    for (std::size_t y = 0; y < n; ++y) {
        const double g = std::round(rng.normal(y) * 2.0) / 2.0;  // logits on a 0.5 grid
        v[y] = logits ? g : std::exp(g);
        s += v[y];
    }
    if (!logits)
        for (auto& x : v) x /= s;
    return v;
}

const filter_case filter_cases[] = {
    {1.0, 0, 1.0, 0.0}, {1.0, 3, 1.0, 0.0},  {0.7, 0, 0.8, 0.0},  {1.0, 0, 1.0, 0.2},   {1.3, 5, 0.9, 0.05},
    {1.0, 1, 1.0, 0.0}, {1.0, 0, 1e-9, 0.0}, {1.0, 0, 1.0, 1.0},  {2.0, 40, 0.95, 0.01}, {0.5, 2, 0.5, 0.5},
};

}  // namespace

TEST_CASE("sampling filters keep the prefix the reference sort keeps and renormalize it") {
    for (bool logits : {false, true}) {
        for (std::size_t n : {1u, 2u, 7u, 100u, 5000u}) {
            for (std::uint64_t seed = 1; seed <= 4; ++seed) {
                const auto v = tied_row(n, seed * 31 + n, logits);
                for (const auto& f : filter_cases) {
                    filter_case g = f;
                    if (!logits) g.temperature = 1.0;  // probability rows ignore the temperature
                    INFO("logits " << logits << " n " << n << " seed " << seed << " k " << g.top_k << " p " << g.top_p
                                   << " min_p " << g.min_p << " t " << g.temperature);
                    const auto want = reference_filtered(v, logits, g);
                    const auto got = kernel_filtered(v, logits, g);
                    double err = 0;
                    std::size_t kept_want = 0, kept_got = 0;
                    for (std::size_t y = 0; y < n; ++y) {
                        err = std::max(err, std::fabs(want[y] - got[y]));
                        kept_want += want[y] > 0, kept_got += got[y] > 0;
                        if ((want[y] > 0) != (got[y] > 0)) FAIL("token " << y << " kept differently");
                    }
                    CHECK(kept_got == kept_want);
                    CHECK(err < 1e-13);
                }
            }
        }
    }
}

TEST_CASE("top-k keeps exactly k tokens when the k-th value is tied, lowest ids first") {
    const std::vector<double> v{0.1, 0.3, 0.1, 0.3, 0.1, 0.1};  // order: 1, 3, 0, 2, 4, 5
    const auto got = kernel_filtered(v, false, {1.0, 3, 1.0, 0.0});
    CHECK(got[1] > 0);
    CHECK(got[3] > 0);
    CHECK(got[0] > 0);
    CHECK(got[2] == 0);
    CHECK(got[4] == 0);
    CHECK(got[5] == 0);
    CHECK(got[0] == Approx(0.1 / 0.7).epsilon(1e-15));
}

namespace {

/// A toy model whose rows are filtered by the reference (the law the kernel must reproduce).
struct filtered_model {
    toy_model raw;
    bool logits;
    filter_case f;
    /// The row handed to the kernel: logits (log p, tied on a grid, offset) or probabilities.
    std::vector<double> kernel_row(const signature& prefix) const {
        auto p = raw.row(prefix);
        std::vector<double> out(p.size());
        double s = 0;
        for (std::size_t y = 0; y < p.size(); ++y) {
            const double l = std::round(std::log(p[y]) * 4.0) / 4.0;  // ties on a 0.25 grid
            out[y] = logits ? l + 1.0 : std::exp(l);
            s += out[y];
        }
        if (!logits)
            for (auto& x : out) x /= s;
        return out;
    }
    std::vector<double> law(const signature& prefix) const {
        filter_case g = f;
        if (!logits) g.temperature = 1.0;
        return reference_filtered(kernel_row(prefix), logits, g);
    }
};

law joint_of(const filtered_model& m, std::size_t length, const law& start) {
    law out;
    std::function<void(signature&, double)> rec = [&](signature& s, double w) {
        if (s.size() >= length) {
            out[signature(s.begin(), s.begin() + static_cast<long>(length))] += w;
            return;
        }
        const auto r = m.law(s);
        for (std::size_t y = 0; y < r.size(); ++y) {
            if (r[y] == 0) continue;
            s.push_back(static_cast<std::int32_t>(y));
            rec(s, w * r[y]);
            s.pop_back();
        }
    };
    for (const auto& [prefix, w] : start) {
        signature s = prefix;
        rec(s, w);
    }
    return out;
}

signature run_one(bool block, const filtered_model& p, const filtered_model& q, const signature& drafts,
                  const filter_case& f, const scripted_source& src) {
    const std::size_t K = drafts.size(), V = p.raw.V, KD = std::max<std::size_t>(K, 1);
    std::vector<double> target, draft(KD * V, 0.0);
    signature prefix;
    for (std::size_t i = 0; i <= K; ++i) {
        const auto r = p.kernel_row(prefix);
        target.insert(target.end(), r.begin(), r.end());
        if (i < K) {
            const auto d = q.kernel_row(prefix);
            std::copy(d.begin(), d.end(), draft.begin() + static_cast<long>(i * V));
            prefix.push_back(drafts[i]);
        }
    }
    std::vector<std::int32_t> toks(KD, 0);
    std::copy(drafts.begin(), drafts.end(), toks.begin());
    std::vector<std::uint32_t> lengths{static_cast<std::uint32_t>(K)};
    std::vector<std::uint64_t> ids{7}, pos{100};
    auto T = p.logits ? ks::logit_rows(target.data(), 1, K + 1, V) : ks::probability_rows(target.data(), 1, K + 1, V);
    auto D = q.logits ? ks::logit_rows(draft.data(), 1, KD, V) : ks::probability_rows(draft.data(), 1, KD, V);
    ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(toks.data(), 1, KD),
                       kestrel::vector_view<const std::uint32_t>(lengths.data(), 1),
                       kestrel::vector_view<const std::uint64_t>(ids.data(), 1),
                       kestrel::vector_view<const std::uint64_t>(pos.data(), 1)};
    std::vector<std::int32_t> out(K + 1, -7);
    std::vector<ks::request_stats> stats(1);
    ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), 1, K + 1),
                         kestrel::vector_view<ks::request_stats>(stats.data(), 1)};
    ks::verify_options opt;
    opt.temperature = f.temperature;
    opt.top_k = f.top_k, opt.top_p = f.top_p, opt.min_p = f.min_p;
    opt.policy = kestrel::exec_policy{1};
    if (block)
        ks::verify_block_with(T, D, db, src, o, opt);
    else
        ks::verify_chain_with(T, D, db, src, o, opt);
    return signature(out.begin(), out.begin() + stats[0].emitted);
}

}  // namespace

TEST_CASE("chain and block verification with sampling filters follow the filtered target law, by enumeration") {
    const filter_case cases[] = {{1.0, 3, 1.0, 0.0}, {0.8, 0, 0.7, 0.0}, {1.2, 4, 0.9, 0.1}, {1.0, 0, 1.0, 0.3}};
    const std::size_t V = 5, K = 2;
    for (bool logits : {false, true}) {
        for (const auto& f : cases) {
            for (bool block : {false, true}) {
                INFO("logits " << logits << " block " << block << " k " << f.top_k << " p " << f.top_p << " min_p "
                               << f.min_p << " t " << f.temperature);
                const filtered_model p{{V, 41, 1.0}, logits, f}, q{{V, 43, 1.4}, logits, f};
                law emitted;
                std::function<void(signature&, double)> rec = [&](signature& d, double w) {
                    if (d.size() == K) {
                        const law l = audit_law([&](const scripted_source& s) { return run_one(block, p, q, d, f, s); });
                        for (const auto& [t, lw] : l) emitted[t] += w * lw;
                        return;
                    }
                    const auto qr = q.law(d);
                    for (std::size_t y = 0; y < V; ++y) {
                        if (qr[y] == 0) continue;  // the draft never proposes a filtered-out token
                        d.push_back(static_cast<std::int32_t>(y));
                        rec(d, w * qr[y]);
                        d.pop_back();
                    }
                };
                signature d;
                rec(d, 1.0);
                const law got = joint_of(p, K + 1, emitted);
                const law truth = joint_of(p, K + 1, law{{signature{}, 1.0}});
                CHECK(max_abs_difference(got, truth) < 1e-12);
                // The checker can tell: the unfiltered law of the same rows is far from it.
                const filtered_model unfiltered{p.raw, logits, {f.temperature, 0, 1.0, 0.0}};
                CHECK(max_abs_difference(got, joint_of(unfiltered, K + 1, law{{signature{}, 1.0}})) > 1e-3);
            }
        }
    }
}
