// Speculative decoding with a toy target and draft model over a 1000-token vocabulary:
// each model is a fixed random next-token table (the law of the next token given the last
// one). The draft proposes K = 4 tokens, Kestrel verifies them against the target (chain
// rule, then block verification, then SpecTr's K-SEQ with 2 drafted sequences), and
// decoding continues from what was kept, until 2000 tokens are emitted. Printed: tokens per
// verification beside the analytic expectation (for K-SEQ: its acceptance with 2 candidates
// and the optimal rate any 2-draft verifier could reach), and a histogram check that the
// emitted tokens follow the target.
//
// The tables are built so the acceptance rate is the same in every context: the target row
// of context t is one random law rotated by a random shift s_t, the draft row the draft's
// law rotated by the same shift. Then a = sum_y min(p, q) for every row, the chain rule emits
// (1 - a^(K+1)) / (1 - a) tokens per verification on average, and the emitted token's rank
// (y + s_t) mod V follows the target's base law in every context.
#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace ks = kestrel::speculative;

int main() {
    const std::size_t V = 1000, K = 4, length = 2000;
    const kestrel::counter_rng rng(2024, 0);
    // Base laws: a peaky target, and a draft that is the target seen through noise.
    std::vector<double> p_base(V), q_base(V);
    double sp = 0, sq = 0;
    for (std::size_t r = 0; r < V; ++r) {
        const double l = 2.0 * rng.normal(r);
        p_base[r] = std::exp(l);
        q_base[r] = std::exp(l + 0.6 * rng.normal(V + r));
        sp += p_base[r], sq += q_base[r];
    }
    for (std::size_t r = 0; r < V; ++r) p_base[r] /= sp, q_base[r] /= sq;
    std::vector<std::size_t> shift(V);
    for (std::size_t t = 0; t < V; ++t) shift[t] = static_cast<std::size_t>(rng.uniform_double(2 * V + t) * double(V)) % V;
    // Row of context t: row[y] = base[(y + s_t) mod V].
    auto row = [&](const std::vector<double>& base, std::size_t t, float* out) {
        for (std::size_t y = 0; y < V; ++y) out[y] = static_cast<float>(base[(y + shift[t]) % V]);
    };
    std::vector<float> fp(V), fq(V);
    row(p_base, 0, fp.data());
    row(q_base, 0, fq.data());
    const double a = ks::acceptance_rate(kestrel::vector_view<const float>(fp.data(), V),
                                         kestrel::vector_view<const float>(fq.data(), V));
    std::printf("vocabulary %zu, draft length K = %zu, acceptance a = 1 - TV(p, q) = %.4f in every context\n\n", V, K,
                a);

    std::vector<std::size_t> rank_counts_total(V, 0);
    std::size_t emitted_total = 0;
    for (int method = 0; method < 3; ++method) {
        std::vector<std::int32_t> text{0};  // context: token 0
        std::size_t verifications = 0, drafted_kept = 0;
        // K-SEQ: 2 drafted sequences; draft j's rows at j * (K + 1) + t (target), j * K + t (draft).
        const std::size_t n_drafts = method == 2 ? 2 : 1;
        std::vector<float> target(n_drafts * (K + 1) * V), draft(n_drafts * K * V);
        std::vector<std::int32_t> drafts(n_drafts * K), out(K + 1);
        std::vector<std::size_t> rank_counts(V, 0);
        ks::verify_workspace ws;
        std::uint64_t draw = 0;
        const kestrel::counter_rng draft_rng(7 + method, 1);
        while (text.size() < length + 1) {
            // Draft K tokens from the draft table (n_drafts independent sequences), keeping the
            // rows the verifier needs.
            for (std::size_t j = 0; j < n_drafts; ++j) {
                std::size_t ctx = static_cast<std::size_t>(text.back());
                for (std::size_t i = 0; i < K; ++i) {
                    row(q_base, ctx, draft.data() + (j * K + i) * V);
                    row(p_base, ctx, target.data() + (j * (K + 1) + i) * V);
                    const double u = draft_rng.uniform_double(draw++);
                    double cum = 0;
                    std::size_t x = 0;
                    for (; x + 1 < V; ++x)
                        if (u < (cum += double(draft[(j * K + i) * V + x]))) break;
                    drafts[j * K + i] = static_cast<std::int32_t>(x);
                    ctx = x;
                }
                row(p_base, ctx, target.data() + (j * (K + 1) + K) * V);  // bonus row after all K drafts
            }
            const std::uint32_t len = K, count = static_cast<std::uint32_t>(n_drafts);
            const std::uint64_t id = 1, pos = text.size();
            ks::request_stats st;
            const auto D = ks::probability_rows(draft.data(), 1, n_drafts * K, V);
            const auto T = ks::probability_rows(target.data(), 1, n_drafts * (K + 1), V);
            if (method == 2) {
                const ks::multi_draft_batch mb{kestrel::matrix_view<const std::int32_t>(drafts.data(), 1, n_drafts * K),
                                               n_drafts, K, kestrel::vector_view<const std::uint32_t>(&count, 1),
                                               kestrel::vector_view<const std::uint32_t>(&len, 1),
                                               kestrel::vector_view<const std::uint64_t>(&id, 1),
                                               kestrel::vector_view<const std::uint64_t>(&pos, 1)};
                const ks::multi_draft_outputs mo{kestrel::matrix_view<std::int32_t>(out.data(), 1, K + 1),
                                                 kestrel::vector_view<ks::request_stats>(&st, 1)};
                ks::verify_multi_draft(ks::multi_draft_rule::k_seq, T, D, mb, /*seed=*/99, mo);
            } else {
                const ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(drafts.data(), 1, K),
                                         kestrel::vector_view<const std::uint32_t>(&len, 1),
                                         kestrel::vector_view<const std::uint64_t>(&id, 1),
                                         kestrel::vector_view<const std::uint64_t>(&pos, 1)};
                const ks::verify_outputs vo{kestrel::matrix_view<std::int32_t>(out.data(), 1, K + 1),
                                            kestrel::vector_view<ks::request_stats>(&st, 1)};
                if (method == 0)
                    ks::verify_chain(T, D, db, /*seed=*/99, vo, {}, &ws);
                else
                    ks::verify_block(T, D, db, /*seed=*/99, vo, {}, &ws);
            }
            ++verifications;
            drafted_kept += st.accepted;
            for (std::uint32_t j = 0; j < st.emitted; ++j) {
                const auto prev = static_cast<std::size_t>(text.back());
                const auto y = static_cast<std::size_t>(out[j]);
                ++rank_counts[(y + shift[prev]) % V];
                text.push_back(out[j]);
            }
        }
        const std::size_t emitted = text.size() - 1;
        const double per = double(emitted) / double(verifications);
        const char* names[] = {"chain", "block", "K-SEQ, 2 drafts,"};
        std::printf("%s verification: %zu tokens in %zu verifications: %.3f tokens per verification", names[method],
                    emitted, verifications, per);
        if (method == 0) {
            std::printf(" (expected %.3f = (1 - a^(K+1)) / (1 - a))\n", ks::expected_emitted_tokens(a, K));
        } else if (method == 1) {
            std::printf(" (expected >= %.3f, the chain rule's)\n", ks::expected_emitted_tokens(a, K));
        } else {
            // While both drafts agree on the kept prefix, 2 candidates compete: K-SEQ keeps one
            // with probability sum min(rho* q, p); the best any 2-draft verifier can do is
            // the optimal rate. With one candidate left it is the chain rule (a).
            const kestrel::vector_view<const float> pv(fp.data(), V), qv(fq.data(), V);
            const double a2 = ks::k_seq_rho(pv, qv, 2).acceptance;
            const double best = ks::optimal_multi_draft_acceptance(pv, qv, 2, ks::draft_sampling::with_replacement);
            std::printf("\n  (first-token acceptance with 2 candidates: K-SEQ %.4f, optimal %.4f, one draft %.4f;\n"
                        "   %.3f tokens per verification if every position had K-SEQ's rate)\n",
                        a2, best, a, ks::expected_emitted_tokens(a2, K));
        }
        std::printf("  drafted tokens kept: %.1f%% of the draft length\n", 100.0 * double(drafted_kept) / double(verifications * K));
        for (std::size_t r = 0; r < V; ++r) rank_counts_total[r] += rank_counts[r];
        emitted_total += emitted;
    }

    // Histogram check: the rank of every emitted token follows the target's base law. Ranks
    // sorted by probability; shown in ten groups of equal target mass; chi-square on bins
    // expecting >= 20 tokens (the last bin takes the remaining tail).
    std::vector<std::size_t> order(V);
    for (std::size_t r = 0; r < V; ++r) order[r] = r;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return p_base[x] > p_base[y]; });
    std::printf("\nemitted tokens by target probability (rank of the token in its context's row), %zu tokens:\n",
                emitted_total);
    std::printf("  %-14s %-8s %10s %10s\n", "group of ranks", "mass", "expected", "observed");
    double mass = 0, eg = 0, og = 0;
    std::size_t first = 0, group = 1;
    for (std::size_t j = 0; j < V; ++j) {
        mass += p_base[order[j]];
        eg += p_base[order[j]] * double(emitted_total);
        og += double(rank_counts_total[order[j]]);
        if (mass >= 0.1 * double(group) - 1e-12 || j + 1 == V) {
            char label[32];
            std::snprintf(label, sizeof label, "%zu..%zu", first + 1, j + 1);
            std::printf("  %-14s %-8.3f %10.1f %10.0f\n", label, eg / double(emitted_total), eg, og);
            eg = og = 0, first = j + 1, ++group;
        }
    }
    double chi2 = 0, e = 0, o = 0;
    std::size_t bins = 0;
    for (std::size_t j = 0; j < V; ++j) {
        e += p_base[order[j]] * double(emitted_total);
        o += double(rank_counts_total[order[j]]);
        double rest = 0;  // expected count of the ranks after j
        if (e >= 20.0)
            for (std::size_t k = j + 1; k < V; ++k) rest += p_base[order[k]] * double(emitted_total);
        if ((e >= 20.0 && rest >= 20.0) || j + 1 == V) {
            chi2 += (o - e) * (o - e) / e;
            ++bins;
            e = o = 0;
        }
    }
    // 99.9% quantile of chi-square with bins - 1 degrees of freedom (Wilson-Hilferty).
    const double df = double(bins - 1), w = 2.0 / (9.0 * df);
    const double crit = df * std::pow(1.0 - w + 3.09 * std::sqrt(w), 3.0);
    std::printf("chi-square %.1f on %.0f degrees of freedom (99.9%% critical value %.1f): %s\n", chi2, df, crit,
                chi2 < crit ? "consistent with the target" : "NOT consistent with the target");
    return chi2 < crit ? 0 : 1;
}
