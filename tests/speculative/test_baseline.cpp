// The benchmarks' baseline (benchmarks/baselines/speculative.hpp: the residual-materializing
// verifier of tensor frameworks) is checked against the kernel, so a fast wrong kernel (or a
// slow wrong baseline) cannot hide: with double rows and the same keyed uniforms both emit
// the same tokens (the two inverse CDFs differ only by rounding at interval boundaries,
// which 53-bit uniforms essentially never hit); with float rows almost all tokens agree
// (float cumulative sums move boundaries by ~1e-7).
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <baselines/speculative.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace ks = kestrel::speculative;

namespace {

template <class T>
struct rows_and_drafts {
    std::size_t B, K, V;
    bool logits;
    std::vector<T> target, draft;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint32_t> lengths;
    std::vector<std::uint64_t> ids, pos;
};

template <class T>
rows_and_drafts<T> make(std::size_t B, std::size_t K, std::size_t V, bool logits, std::uint64_t seed) {
    rows_and_drafts<T> r{B, K, V, logits, std::vector<T>(B * (K + 1) * V), std::vector<T>(B * K * V),
                         std::vector<std::int32_t>(B * K), std::vector<std::uint32_t>(B, std::uint32_t(K)), {}, {}};
    const kestrel::counter_rng rng(seed, 0);
    std::uint64_t c = 0;
    std::vector<double> w(V);
    for (std::size_t b = 0; b < B; ++b) {
        for (std::size_t i = 0; i <= K; ++i) {
            double s = 0;
            for (std::size_t y = 0; y < V; ++y) s += (w[y] = std::exp(1.5 * rng.normal(c++)));
            for (std::size_t y = 0; y < V; ++y) r.target[(b * (K + 1) + i) * V + y] = logits ? T(std::log(w[y])) : T(w[y] / s);
            if (i == K) continue;
            // Draft: the target perturbed; the token drawn from it.
            double sq = 0;
            for (std::size_t y = 0; y < V; ++y) sq += (w[y] *= std::exp(0.5 * rng.normal(c++)));
            const double u = rng.uniform_double(c++) * sq;
            double cum = 0;
            std::size_t x = 0;
            for (; x + 1 < V; ++x)
                if (u < (cum += w[x])) break;
            r.tokens[b * K + i] = static_cast<std::int32_t>(x);
            for (std::size_t y = 0; y < V; ++y) r.draft[(b * K + i) * V + y] = logits ? T(std::log(w[y])) : T(w[y] / sq);
        }
        r.ids.push_back(3 * b + 1);
        r.pos.push_back(7 * b);
    }
    return r;
}

template <class T>
std::size_t mismatches(const rows_and_drafts<T>& r, std::size_t* total) {
    const std::size_t cols = r.K + 1;
    std::vector<std::int32_t> kt(r.B * cols, -1), bt(r.B * cols, -1);
    std::vector<ks::request_stats> st(r.B);
    std::vector<std::uint32_t> emitted(r.B);
    const auto T_ = r.logits ? ks::logit_rows(r.target.data(), r.B, r.K + 1, r.V) : ks::probability_rows(r.target.data(), r.B, r.K + 1, r.V);
    const auto D_ = r.logits ? ks::logit_rows(r.draft.data(), r.B, r.K, r.V) : ks::probability_rows(r.draft.data(), r.B, r.K, r.V);
    ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(r.tokens.data(), r.B, r.K),
                       kestrel::vector_view<const std::uint32_t>(r.lengths.data(), r.B),
                       kestrel::vector_view<const std::uint64_t>(r.ids.data(), r.B),
                       kestrel::vector_view<const std::uint64_t>(r.pos.data(), r.B)};
    ks::verify_chain(T_, D_, db, 77, {kestrel::matrix_view<std::int32_t>(kt.data(), r.B, cols), kestrel::vector_view<ks::request_stats>(st.data(), r.B)});
    kestrel_baseline::speculative_scratch<T> scratch;
    kestrel_baseline::chain_verify_materializing(r.target.data(), r.draft.data(), r.B, r.K, r.V, r.logits, 1.0,
                                                 r.tokens.data(), r.ids.data(), r.pos.data(), ks::keyed_uniforms(77),
                                                 bt.data(), emitted.data(), scratch);
    std::size_t bad = 0;
    *total = 0;
    for (std::size_t b = 0; b < r.B; ++b) {
        bad += st[b].emitted != emitted[b];
        for (std::size_t j = 0; j < st[b].emitted && j < emitted[b]; ++j) bad += kt[b * cols + j] != bt[b * cols + j];
        *total += st[b].emitted;
    }
    return bad;
}

}  // namespace

TEST_CASE("the residual-materializing baseline emits the kernel's tokens") {
    for (bool logits : {false, true}) {
        std::size_t total = 0;
        const auto r = make<double>(100, 4, 3000, logits, 5 + logits);
        CHECK(mismatches(r, &total) == 0);
        CHECK(total > 200);
        const auto f = make<float>(100, 4, 3000, logits, 9 + logits);
        const std::size_t bad = mismatches(f, &total);
        INFO("float rows: " << bad << " of " << total << " tokens differ");
        CHECK(bad * 100 <= total);  // at most 1%: rounding of float sums at boundaries
    }
}
