// Speculative verification benchmarks (../shared/BENCHMARKS.md):
//   speculative/chain_verify/{kestrel,baseline}/rows:{probabilities,logits,logits_lse}/k:K/n:V/batch:64/threads:t
//   speculative/block_verify/kestrel/rows:.../k:K/n:V/batch:64/threads:t
//   speculative/kseq_verify/kestrel/rows:{probabilities,logits}/k:4/n:V/batch:64/threads:t
//   speculative/tree_verify/kestrel/rows:{probabilities,logits}/nodes:64/n:V/batch:16/threads:t
//   speculative/typical_verify/{kestrel,baseline}/rows:logits/k:4/n:V/batch:64/threads:t
//     (Medusa's typical acceptance; baseline: softmax of every row, then the entropy loop)
//   speculative/exp_rate/kestrel/type:{double,float}/n:4096/threads:t   (exps per second of the
//     row passes: double exps for double logit rows, the float softmax's float exps, widened
//     and summed in double, for float logit rows)
// n is the vocabulary; logits_lse are logit rows with caller-supplied log-normalizers (what a
// softmax kernel returns beside its output), logits without. Rows are float; each request's target rows are a Zipf-like law
// (weight (r + 1)^-1.1 of rank r) rotated by a per-row offset, and its draft rows mix 0.8 of
// the target row with 0.2 of another rotation, so the acceptance 1 - TV is about 0.8-0.85;
// drafts are drawn from the draft rows. The uniforms come from a fixed seed, so every
// iteration does the same work.
//
// Bytes (the read-once bound the report divides by the measured bandwidth) are the rows the
// verifier must read for the outcome of this batch, each once:
//   chain, probabilities and logits_lse: the two rows of the rejected position, or the bonus row;
//   chain, logits: both rows of every tested position (their normalizers need the whole row),
//     plus the bonus row when everything is kept (the rejected rows are counted once: the
//     kernel reads their logits once, and its residual pass reads the exponentials the
//     normalizer pass kept in a per-thread buffer, from cache);
//   block: rows 1..K-1 of both models, plus row 0 of both when nothing is kept (tau = 0) or
//     the bonus row when everything is (tau = K); logits: every drafted row of both models.
// The accept tests' single values are not counted. Counter "accepted": mean kept drafts per
// request (the baseline reports its own, which must agree). Logit rows also report "exps":
// one exp per entry of those rows (an entry's probability needs its exp at least once), so
// exps / (the float exp_rate row's items per second: the rows are float, so the exps are the
// float softmax's) is the exp bound beside the read-once bound.
#include <benchmark/benchmark.h>

#include <kestrel/speculative.hpp>

#include <baselines/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

namespace ks = kestrel::speculative;

constexpr std::uint64_t bench_seed = 20240601;

struct spec_data {
    std::size_t B = 0, K = 0, V = 0;
    bool logits = false, lse = false;
    std::vector<float> target, draft;
    std::vector<double> target_lse, draft_lse;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint32_t> lengths;
    std::vector<std::uint64_t> ids, pos;

    ks::token_rows<float> trows() const {
        return logits ? ks::logit_rows(target.data(), B, K + 1, V, lse ? target_lse.data() : nullptr)
                      : ks::probability_rows(target.data(), B, K + 1, V);
    }
    ks::token_rows<float> drows() const {
        return logits ? ks::logit_rows(draft.data(), B, K, V, lse ? draft_lse.data() : nullptr)
                      : ks::probability_rows(draft.data(), B, K, V);
    }
    ks::draft_batch drafts() const {
        return {kestrel::matrix_view<const std::int32_t>(tokens.data(), B, K),
                kestrel::vector_view<const std::uint32_t>(lengths.data(), B),
                kestrel::vector_view<const std::uint64_t>(ids.data(), B),
                kestrel::vector_view<const std::uint64_t>(pos.data(), B)};
    }
};

/// One data set at a time (the largest is 1.1 GB): kept while consecutive benchmarks share it.
const spec_data& data_for(std::size_t B, std::size_t K, std::size_t V, bool logits, bool lse) {
    static std::unique_ptr<spec_data> cur;
    if (cur && cur->B == B && cur->K == K && cur->V == V && cur->logits == logits) {
        cur->lse = lse;  // the same rows; normalizers computed once, passed or not
        return *cur;
    }
    cur.reset();
    auto d = std::make_unique<spec_data>();
    d->B = B, d->K = K, d->V = V, d->logits = logits;
    // Base law and its cumulative sum (double), for rows and draws.
    std::vector<double> base(V), cum(V);
    double s = 0;
    for (std::size_t r = 0; r < V; ++r) s += (base[r] = std::pow(double(r + 1), -1.1));
    double c = 0;
    for (std::size_t r = 0; r < V; ++r) base[r] /= s, cum[r] = (c += base[r]);
    std::vector<float> fbase(V);
    for (std::size_t r = 0; r < V; ++r) fbase[r] = logits ? float(std::log(base[r])) : float(base[r]);
    d->target.resize(B * (K + 1) * V);
    d->draft.resize(B * K * V);
    d->tokens.resize(B * K);
    const kestrel::counter_rng rng(bench_seed, 1);
    std::uint64_t ctr = 0;
    auto rotated = [&](float* out, const float* src, std::size_t shift) {  // out[y] = src[(y + shift) % V]
        std::copy(src + shift, src + V, out);
        std::copy(src, src + shift, out + (V - shift));
    };
    auto draw_base = [&]() {  // a rank drawn from the base law
        const double u = rng.uniform_double(ctr++);
        const std::size_t r = static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        return r < V ? r : V - 1;
    };
    for (std::size_t b = 0; b < B; ++b) {
        for (std::size_t i = 0; i <= K; ++i) {
            const std::size_t sp = static_cast<std::size_t>(rng.uniform_double(ctr++) * double(V)) % V;
            float* p = d->target.data() + (b * (K + 1) + i) * V;
            rotated(p, fbase.data(), sp);
            if (i == K) continue;
            const std::size_t sq = static_cast<std::size_t>(rng.uniform_double(ctr++) * double(V)) % V;
            float* q = d->draft.data() + (b * K + i) * V;
            // q(y) = 0.8 base[(y + sp) % V] + 0.2 base[(y + sq) % V] (indices wrapped by hand: a
            // division per entry made the data, not the benchmarks, most of the family's time)
            for (std::size_t y = 0, a = sp, c = sq; y < V; ++y) {
                const double v = 0.8 * base[a] + 0.2 * base[c];
                q[y] = logits ? float(std::log(v)) : float(v);
                if (++a == V) a = 0;
                if (++c == V) c = 0;
            }
            // Draft token from q: the mixture's component, then its law.
            const bool first = rng.uniform_double(ctr++) < 0.8;
            const std::size_t r = draw_base();
            const std::size_t shift = first ? sp : sq;
            d->tokens[b * K + i] = static_cast<std::int32_t>((r + V - shift) % V);
        }
        if (logits) {  // log-normalizers of every row (caller-supplied in the logits_lse runs)
            auto lz = [&](const float* r) {
                double m = -INFINITY, z = 0;
                for (std::size_t y = 0; y < V; ++y) m = std::max(m, double(r[y]));
                for (std::size_t y = 0; y < V; ++y) z += std::exp(double(r[y]) - m);
                return m + std::log(z);
            };
            for (std::size_t i = 0; i <= K; ++i) d->target_lse.push_back(lz(d->target.data() + (b * (K + 1) + i) * V));
            for (std::size_t i = 0; i < K; ++i) d->draft_lse.push_back(lz(d->draft.data() + (b * K + i) * V));
        }
        d->lengths.push_back(static_cast<std::uint32_t>(K));
        d->ids.push_back(1000003 * (b + 1));
        d->pos.push_back(4096 + 13 * b);
    }
    d->lse = lse;
    cur = std::move(d);
    return *cur;
}

/// The outcome of this batch (what a chain or block verification keeps), for the bytes.
struct outcome {
    std::vector<ks::request_stats> stats;
};

outcome run_kestrel(const spec_data& d, bool block, int threads, ks::verify_workspace& ws, std::vector<std::int32_t>& out) {
    outcome o{std::vector<ks::request_stats>(d.B)};
    out.resize(d.B * (d.K + 1));
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{threads};
    const ks::verify_outputs vo{kestrel::matrix_view<std::int32_t>(out.data(), d.B, d.K + 1),
                                kestrel::vector_view<ks::request_stats>(o.stats.data(), d.B)};
    if (block)
        ks::verify_block(d.trows(), d.drows(), d.drafts(), bench_seed, vo, opt, &ws);
    else
        ks::verify_chain(d.trows(), d.drows(), d.drafts(), bench_seed, vo, opt, &ws);
    return o;
}

double read_once_bytes(const spec_data& d, const outcome& o, bool block) {
    const double row = double(d.V) * sizeof(float);
    double rows = 0;
    for (std::size_t b = 0; b < d.B; ++b) {
        const std::size_t a = o.stats[b].accepted, K = d.K;
        if (!block) {
            if (d.logits && !d.lse)
                rows += a < K ? 2.0 * double(a + 1) : 2.0 * double(K) + 1.0;
            else
                rows += a < K ? 2.0 : 1.0;
        } else {
            if (d.logits && !d.lse) {
                rows += 2.0 * double(K) + (a == K ? 1.0 : 0.0);
            } else {
                rows += 2.0 * double(K > 0 ? K - 1 : 0);
                if (a == 0 && K > 0) rows += 2.0;
                if (a == K) rows += 1.0;
            }
        }
    }
    return rows * row;
}

void bench_kestrel(benchmark::State& state, std::size_t B, std::size_t K, std::size_t V, bool logits, bool lse,
                   bool block, int threads) {
    const spec_data& d = data_for(B, K, V, logits, lse);
    ks::verify_workspace ws;
    std::vector<std::int32_t> out;
    const outcome o = run_kestrel(d, block, threads, ws, out);  // warm-up and the outcome
    for (auto _ : state) {
        run_kestrel(d, block, threads, ws, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    double acc = 0;
    for (const auto& s : o.stats) acc += s.accepted;
    state.counters["accepted"] = acc / double(B);
    const double bytes = read_once_bytes(d, o, block);
    kestrel_bench::report_limits(state, bytes, double(B) * double(V));
    // Logit rows: every entry of a row the outcome needs takes at least one exp (its share of
    // the normalizer, or its probability in the residual): the exp bound is exps divided by
    // speculative/exp_rate's measured rate.
    if (logits) state.counters["exps"] = bytes / sizeof(float);
}

void bench_baseline(benchmark::State& state, std::size_t B, std::size_t K, std::size_t V, bool logits, bool lse) {
    const spec_data& d = data_for(B, K, V, logits, lse);
    kestrel_baseline::speculative_scratch<float> scratch;
    std::vector<std::int32_t> out(B * (K + 1));
    std::vector<std::uint32_t> emitted(B);
    for (auto _ : state) {
        kestrel_baseline::chain_verify_materializing(d.target.data(), d.draft.data(), B, K, V, logits, 1.0,
                                                     d.tokens.data(), d.ids.data(), d.pos.data(),
                                                     ks::keyed_uniforms(bench_seed), out.data(), emitted.data(),
                                                     scratch);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    // The same minimum bytes as the kernel's (the rows the outcome requires).
    ks::verify_workspace ws;
    std::vector<std::int32_t> kout;
    const outcome o = run_kestrel(d, false, 1, ws, kout);
    double acc = 0;
    for (std::uint32_t e : emitted) acc += double(e) - 1.0;
    state.counters["accepted"] = acc / double(B);
    kestrel_bench::report_limits(state, read_once_bytes(d, o, false), double(B) * double(V));
}

// ---- typical acceptance (Medusa; not distribution-preserving) ----------------------------
// The target logit rows of the chain data (drafts and target as above; draft rows unused),
// Medusa's defaults (epsilon 0.09, delta 0.3), argmax corrections. Bytes: the target rows the
// outcome needs, once: positions 0..a (a kept tokens, a < K) or all K + 1 rows.

double typical_bytes(const spec_data& d, const std::vector<ks::request_stats>& stats) {
    double rows = 0;
    for (const auto& st : stats) rows += st.accepted < d.K ? double(st.accepted + 1) : double(d.K + 1);
    return rows * double(d.V) * sizeof(float);
}

void bench_typical(benchmark::State& state, std::size_t B, std::size_t K, std::size_t V, int threads) {
    const spec_data& d = data_for(B, K, V, true, false);
    ks::verify_workspace ws;
    std::vector<std::int32_t> out(B * (K + 1));
    std::vector<ks::request_stats> stats(B);
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{threads};
    const ks::verify_outputs vo{kestrel::matrix_view<std::int32_t>(out.data(), B, K + 1),
                                kestrel::vector_view<ks::request_stats>(stats.data(), B)};
    ks::verify_typical(d.trows(), d.drafts(), bench_seed, vo, ks::typical_options{}, opt, &ws);  // warm-up
    for (auto _ : state) {
        ks::verify_typical(d.trows(), d.drafts(), bench_seed, vo, ks::typical_options{}, opt, &ws);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    double acc = 0;
    for (const auto& st : stats) acc += st.accepted;
    state.counters["accepted"] = acc / double(B);
    kestrel_bench::report_limits(state, typical_bytes(d, stats), double(B) * double(V));
}

void bench_typical_baseline(benchmark::State& state, std::size_t B, std::size_t K, std::size_t V) {
    const spec_data& d = data_for(B, K, V, true, false);
    kestrel_baseline::speculative_scratch<float> scratch;
    std::vector<std::int32_t> out(B * (K + 1));
    std::vector<std::uint32_t> emitted(B);
    for (auto _ : state) {
        kestrel_baseline::typical_verify_materializing(d.target.data(), B, K, V, d.tokens.data(), 0.09, 0.3, out.data(),
                                                       emitted.data(), scratch);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    std::vector<ks::request_stats> stats(B);  // the kernel's outcome sets the bytes
    std::vector<std::int32_t> kout(B * (K + 1));
    ks::verify_workspace ws;
    ks::verify_typical(d.trows(), d.drafts(), bench_seed,
                       ks::verify_outputs{kestrel::matrix_view<std::int32_t>(kout.data(), B, K + 1),
                                          kestrel::vector_view<ks::request_stats>(stats.data(), B)},
                       ks::typical_options{}, ks::verify_options{}, &ws);
    double acc = 0;
    for (std::uint32_t e : emitted) acc += double(e) - 1.0;
    state.counters["accepted"] = acc / double(B);
    kestrel_bench::report_limits(state, typical_bytes(d, stats), double(B) * double(V));
}

// ---- K-SEQ (k i.i.d. candidates for one position) and tree verification -----------------
// K-SEQ reads both rows in full for rho*; the bound is those two rows plus the bonus row when a
// candidate is kept. The tree (64 nodes: root, 4 children, 3 grandchildren each, then 4 leaves
// under each but the last grandchild, which has 3) uses the K-SEQ rule among siblings drawn
// i.i.d. from the parent's draft row; the bound is both rows of every node the walk judges
// children at, plus the bonus row of a leaf it reaches.

/// A row pair like the chain data: target = base rotated, draft = 0.8 target + 0.2 other rotation.
struct row_maker {
    std::size_t V;
    bool logits;  // rows as logits: log of the probabilities
    std::vector<double> base, cum;
    std::vector<float> fbase;
    kestrel::counter_rng rng;
    std::uint64_t ctr = 0;
    row_maker(std::size_t v, bool as_logits) : V(v), logits(as_logits), base(v), cum(v), fbase(v), rng(bench_seed, 7) {
        double s = 0;
        for (std::size_t r = 0; r < V; ++r) s += (base[r] = std::pow(double(r + 1), -1.1));
        double c = 0;
        for (std::size_t r = 0; r < V; ++r)
            base[r] /= s, cum[r] = (c += base[r]), fbase[r] = logits ? float(std::log(base[r])) : float(base[r]);
    }
    std::size_t shift() { return static_cast<std::size_t>(rng.uniform_double(ctr++) * double(V)) % V; }
    void target(float* out, std::size_t sp) {
        std::copy(fbase.begin() + long(sp), fbase.end(), out);
        std::copy(fbase.begin(), fbase.begin() + long(sp), out + (V - sp));
    }
    void draft(float* out, std::size_t sp, std::size_t sq) {
        for (std::size_t y = 0, a = sp, c = sq; y < V; ++y) {
            const double v = 0.8 * base[a] + 0.2 * base[c];
            out[y] = logits ? float(std::log(v)) : float(v);
            if (++a == V) a = 0;
            if (++c == V) c = 0;
        }
    }
    std::int32_t draw(std::size_t sp, std::size_t sq) {  // a token from the draft row (sp, sq)
        const std::size_t sh = rng.uniform_double(ctr++) < 0.8 ? sp : sq;
        const double u = rng.uniform_double(ctr++);
        std::size_t r = static_cast<std::size_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        r = r < V ? r : V - 1;
        return static_cast<std::int32_t>((r + V - sh) % V);
    }
};

struct kseq_data {
    std::size_t B, k, V;
    bool logits;
    std::vector<float> target, draft;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint32_t> counts, lengths;
    std::vector<std::uint64_t> ids, pos;
};

const kseq_data& kseq_data_for(std::size_t B, std::size_t k, std::size_t V, bool logits) {
    // Layout of multi_draft.hpp with L = 1: target rows j * 2 + t, draft rows j; the candidates
    // share the prompt, so only target row 0, draft row 0 and the kept draft's row j * 2 + 1
    // are read (the others are left zero).
    static std::unique_ptr<kseq_data> cur;
    if (cur && cur->B == B && cur->k == k && cur->V == V && cur->logits == logits) return *cur;
    cur.reset();
    const std::size_t TP = 2 * k, DP = k;
    auto d = std::make_unique<kseq_data>(kseq_data{B, k, V, logits, std::vector<float>(B * TP * V, 0.0f),
                                                   std::vector<float>(B * DP * V, 0.0f), std::vector<std::int32_t>(B * k),
                                                   std::vector<std::uint32_t>(B, std::uint32_t(k)),
                                                   std::vector<std::uint32_t>(B, 1), std::vector<std::uint64_t>(B),
                                                   std::vector<std::uint64_t>(B)});
    row_maker rm(V, logits);
    for (std::size_t b = 0; b < B; ++b) {
        const std::size_t sp = rm.shift(), sq = rm.shift();
        rm.target(&d->target[(b * TP) * V], sp);
        rm.draft(&d->draft[(b * DP) * V], sp, sq);
        for (std::size_t j = 0; j < k; ++j) {
            d->tokens[b * k + j] = rm.draw(sp, sq);
            rm.target(&d->target[(b * TP + j * 2 + 1) * V], rm.shift());
        }
        d->ids[b] = 77 * b + 5, d->pos[b] = 1000 + b;
    }
    cur = std::move(d);
    return *cur;
}

void bench_kseq(benchmark::State& state, std::size_t B, std::size_t k, std::size_t V, bool logits, int threads) {
    const kseq_data& d = kseq_data_for(B, k, V, logits);
    const std::size_t TP = 2 * k, DP = k;
    const auto& target = d.target;
    const auto& draft = d.draft;
    const auto& tokens = d.tokens;
    const auto& counts = d.counts;
    const auto& lengths = d.lengths;
    const auto& ids = d.ids;
    const auto& pos = d.pos;
    const auto T = logits ? ks::logit_rows(target.data(), B, TP, V) : ks::probability_rows(target.data(), B, TP, V);
    const auto D = logits ? ks::logit_rows(draft.data(), B, DP, V) : ks::probability_rows(draft.data(), B, DP, V);
    const ks::multi_draft_batch db{kestrel::matrix_view<const std::int32_t>(tokens.data(), B, k), k, 1,
                                   kestrel::vector_view<const std::uint32_t>(counts.data(), B),
                                   kestrel::vector_view<const std::uint32_t>(lengths.data(), B),
                                   kestrel::vector_view<const std::uint64_t>(ids.data(), B),
                                   kestrel::vector_view<const std::uint64_t>(pos.data(), B)};
    std::vector<std::int32_t> out(B * 2);
    std::vector<ks::request_stats> stats(B);
    const ks::multi_draft_outputs mo{kestrel::matrix_view<std::int32_t>(out.data(), B, 2),
                                     kestrel::vector_view<ks::request_stats>(stats.data(), B)};
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{threads};
    ks::multi_draft_workspace ws;
    auto run = [&] { ks::verify_multi_draft(ks::multi_draft_rule::k_seq, T, D, db, bench_seed, mo, opt, &ws); };
    run();
    double rows = 0, acc = 0;
    for (const auto& st : stats) rows += 2.0 + (st.accepted ? 1.0 : 0.0), acc += st.accepted;
    for (auto _ : state) {
        run();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["accepted"] = acc / double(B);
    kestrel_bench::report_limits(state, rows * double(V) * sizeof(float), double(B) * double(V));
    if (logits) state.counters["exps"] = rows * double(V);
}

struct tree_data {
    std::size_t B, V, N;
    bool logits;
    std::vector<float> target, draft;
    std::vector<std::int32_t> parents, tokens;
    std::vector<std::uint32_t> sizes;
    std::vector<std::uint64_t> ids, pos;
    std::vector<bool> leaf;
};

const tree_data& tree_data_for(std::size_t B, std::size_t V, bool logits) {
    static std::unique_ptr<tree_data> cur;
    if (cur && cur->B == B && cur->V == V && cur->logits == logits) return *cur;
    cur.reset();
    // 64 nodes: 0 root; 1..4 its children; 5..16 three under each; 17..63 four under each of
    // 5..15 and three under 16.
    std::vector<std::int32_t> parent{-1, 0, 0, 0, 0};
    for (std::int32_t c = 1; c <= 4; ++c)
        for (int j = 0; j < 3; ++j) parent.push_back(c);
    for (std::int32_t g = 5; g <= 16; ++g)
        for (int j = 0; j < (g == 16 ? 3 : 4); ++j) parent.push_back(g);
    const std::size_t N = parent.size();  // 64
    auto d = std::make_unique<tree_data>();
    d->B = B, d->V = V, d->N = N, d->logits = logits;
    d->target.resize(B * N * V);
    d->draft.assign(B * N * V, 0.0f);
    d->parents.resize(B * N);
    d->tokens.assign(B * N, 0);
    d->sizes.assign(B, std::uint32_t(N));
    d->ids.resize(B), d->pos.resize(B);
    d->leaf.assign(N, true);
    for (std::size_t v = 1; v < N; ++v) d->leaf[std::size_t(parent[v])] = false;
    row_maker rm(V, logits);
    for (std::size_t b = 0; b < B; ++b) {
        std::vector<std::size_t> sp(N), sq(N);
        for (std::size_t v = 0; v < N; ++v) {
            sp[v] = rm.shift(), sq[v] = rm.shift();
            rm.target(&d->target[(b * N + v) * V], sp[v]);
            if (!d->leaf[v]) rm.draft(&d->draft[(b * N + v) * V], sp[v], sq[v]);
            d->parents[b * N + v] = parent[v];
            if (v > 0) d->tokens[b * N + v] = rm.draw(sp[std::size_t(parent[v])], sq[std::size_t(parent[v])]);
        }
        d->ids[b] = 31 * b + 3, d->pos[b] = 500 + b;
    }
    cur = std::move(d);
    return *cur;
}

void bench_tree(benchmark::State& state, std::size_t B, std::size_t V, bool logits, int threads) {
    const tree_data& d = tree_data_for(B, V, logits);
    const std::size_t N = d.N;
    const auto& target = d.target;
    const auto& draft = d.draft;
    const auto& parents = d.parents;
    const auto& tokens = d.tokens;
    const auto& sizes = d.sizes;
    const auto& ids = d.ids;
    const auto& pos = d.pos;
    const auto& leaf = d.leaf;
    const auto T = logits ? ks::logit_rows(target.data(), B, N, V) : ks::probability_rows(target.data(), B, N, V);
    const auto D = logits ? ks::logit_rows(draft.data(), B, N, V) : ks::probability_rows(draft.data(), B, N, V);
    const ks::tree_batch tb{kestrel::matrix_view<const std::int32_t>(parents.data(), B, N),
                            kestrel::matrix_view<const std::int32_t>(tokens.data(), B, N),
                            kestrel::vector_view<const std::uint32_t>(sizes.data(), B),
                            kestrel::vector_view<const std::uint64_t>(ids.data(), B),
                            kestrel::vector_view<const std::uint64_t>(pos.data(), B)};
    std::vector<std::int32_t> out(B * 4), nodes(B * 3);
    std::vector<ks::request_stats> stats(B);
    const ks::tree_outputs to{kestrel::matrix_view<std::int32_t>(out.data(), B, 4),
                              kestrel::vector_view<ks::request_stats>(stats.data(), B),
                              kestrel::matrix_view<std::int32_t>(nodes.data(), B, 3)};
    ks::verify_options opt;
    opt.policy = kestrel::exec_policy{threads};
    ks::multi_draft_workspace ws;
    auto run = [&] { ks::verify_tree(ks::multi_draft_rule::k_seq, T, D, tb, bench_seed, to, opt, &ws); };
    run();
    double rows = 0, acc = 0;
    for (std::size_t b = 0; b < B; ++b) {
        const std::size_t a = stats[b].accepted;
        const bool at_leaf = a > 0 && leaf[std::size_t(nodes[b * 3 + a - 1])];
        rows += at_leaf ? 2.0 * double(a) + 1.0 : 2.0 * double(a + 1);
        acc += double(a);
    }
    for (auto _ : state) {
        run();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.counters["accepted"] = acc / double(B);
    kestrel_bench::report_limits(state, rows * double(V) * sizeof(float), double(B) * double(V));
    if (logits) state.counters["exps"] = rows * double(V);
}

// ---- exp throughput: the rate that bounds the passes over logit rows ---------------------
// Double: xsimd's double exp (double logit rows) over a 4096-entry buffer in L1, summed.
// Float: the float softmax's exp (detail/float_exp.hpp: the argument (l - m) * tau, Kestrel's float exp, both
// halves widened and summed in double), as the row passes run it. 8 items of 2 passes per
// thread (claimed dynamically, so the threads balance); items = exps per iteration.
void bench_exp_rate(benchmark::State& state, bool single, int threads) {
    namespace sd = kestrel::simd::detail;
    namespace kd = kestrel::speculative::detail;
    constexpr std::size_t n = 4096;
    constexpr std::size_t W = sd::width<double>, WF = sd::width<float>;
    std::vector<double> v(n);
    std::vector<float> vf(n);
    for (std::size_t i = 0; i < n; ++i) vf[i] = float(v[i] = -30.0 * double(i) / double(n));  // x - max <= 0
    const std::size_t items = 8 * static_cast<std::size_t>(threads);
    std::vector<double> out(items * 8, 0.0);
    const kestrel::exec_policy pol{threads};
    for (auto _ : state) {
        kestrel::parallel_for(items, pol, [&](std::size_t t) {
            sd::batch<double> s0 = sd::splat(0.0), s1 = s0;
            if (single) {
                const sd::batch<float> tau = sd::splat(1.0f), neg = sd::splat(-0.0f);
                for (int rep = 0; rep < 2; ++rep)
                    for (std::size_t i = 0; i + WF <= n; i += WF) {
#if KESTREL_HAS_XSIMD
                        sd::batch<double> e0, e1;
                        kd::widen_halves(kd::float_law_exp(sd::load(vf.data() + i), tau, neg), e0, e1);
                        s0 = s0 + e0;
                        s1 = s1 + e1;
#else
                        s0 = s0 + static_cast<double>(kd::float_law_exp(vf[i], tau, neg));
#endif
                    }
            } else {
                for (int rep = 0; rep < 2; ++rep)
                    for (std::size_t i = 0; i + 2 * W <= n; i += 2 * W) {
                        s0 = s0 + sd::vexp(sd::load(v.data() + i));
                        s1 = s1 + sd::vexp(sd::load(v.data() + i + W));
                    }
            }
            out[t * 8] += sd::hsum<double>(s0 + s1);
        });
        benchmark::DoNotOptimize(out.data());
    }
    kestrel_bench::report_limits(state, 0.0, 2.0 * double(n) * double(items));
}

const bool registered = [] {
    for (bool single : {false, true})
        for (int t : kestrel_bench::thread_counts())
            benchmark::RegisterBenchmark((std::string("speculative/exp_rate/kestrel/type:") +
                                          (single ? "float" : "double") + "/n:4096/threads:" + std::to_string(t))
                                             .c_str(),
                                         [=](benchmark::State& s) { bench_exp_rate(s, single, t); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
    const bool quick = kestrel_bench::quick_mode();
    const std::size_t B = quick ? 8 : 64;
    std::vector<std::size_t> ks_ = {4, 8}, vs = {32768, 131072, 262144};
    if (quick) ks_ = {4}, vs = {32768};
    // Rows: probabilities, logits with normalizers, logits without (one data set per K and V).
    for (std::size_t K : ks_) {
        for (std::size_t V : vs) {
            for (int kind = 0; kind < 3; ++kind) {
                const bool logits = kind > 0, lse = kind == 1;
                const char* rows = kind == 0 ? "probabilities" : kind == 1 ? "logits_lse" : "logits";
                const std::string args = std::string("/rows:") + rows + "/k:" + std::to_string(K) + "/n:" +
                                         std::to_string(V) + "/batch:" + std::to_string(B);
                for (int t : kestrel_bench::thread_counts()) {
                    benchmark::RegisterBenchmark(("speculative/chain_verify/kestrel" + args + "/threads:" + std::to_string(t)).c_str(),
                                                 [=](benchmark::State& s) { bench_kestrel(s, B, K, V, logits, lse, false, t); })
                        ->UseRealTime()
                        ->Unit(benchmark::kMicrosecond);
                }
                for (int t : kestrel_bench::thread_counts()) {
                    benchmark::RegisterBenchmark(("speculative/block_verify/kestrel" + args + "/threads:" + std::to_string(t)).c_str(),
                                                 [=](benchmark::State& s) { bench_kestrel(s, B, K, V, logits, lse, true, t); })
                        ->UseRealTime()
                        ->Unit(benchmark::kMicrosecond);
                }
                if (kind != 1)  // the baseline computes its own softmax either way
                    benchmark::RegisterBenchmark(("speculative/chain_verify/baseline" + args + "/threads:1").c_str(),
                                                 [=](benchmark::State& s) { bench_baseline(s, B, K, V, logits, lse); })
                        ->UseRealTime()
                        ->Unit(benchmark::kMicrosecond);
            }
        }
    }
    // Typical acceptance on the logit rows, K = 4, V = 32k and 128k.
    for (std::size_t V : quick ? std::vector<std::size_t>{32768} : std::vector<std::size_t>{32768, 131072}) {
        const std::string args = "/rows:logits/k:4/n:" + std::to_string(V) + "/batch:" + std::to_string(B);
        for (int t : kestrel_bench::thread_counts())
            benchmark::RegisterBenchmark(("speculative/typical_verify/kestrel" + args + "/threads:" + std::to_string(t)).c_str(),
                                         [=](benchmark::State& s) { bench_typical(s, B, 4, V, t); })
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("speculative/typical_verify/baseline" + args + "/threads:1").c_str(),
                                     [=](benchmark::State& s) { bench_typical_baseline(s, B, 4, V); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    }
    // K-SEQ, k = 4 candidates for one position, the same batch; tree: 64 nodes, batch 16
    // (each request holds 128 rows).
    // Logit rows (float, Kestrel computes the normalizers): K-SEQ at V = 32k and 128k, the tree
    // at 32k (quick mode: 32k only).
    for (bool logits : {false, true})
        for (std::size_t V : vs) {
            if (logits && V > 131072) continue;
            for (int t : kestrel_bench::thread_counts())
                benchmark::RegisterBenchmark((std::string("speculative/kseq_verify/kestrel/rows:") +
                                              (logits ? "logits" : "probabilities") + "/k:4/n:" + std::to_string(V) +
                                              "/batch:" + std::to_string(B) + "/threads:" + std::to_string(t))
                                                 .c_str(),
                                             [=](benchmark::State& s) { bench_kseq(s, B, 4, V, logits, t); })
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
        }
    const std::size_t tree_batch = quick ? 4 : 16;
    for (bool logits : {false, true})
        for (std::size_t V : quick || logits ? std::vector<std::size_t>{32768} : std::vector<std::size_t>{32768, 131072})
            for (int t : kestrel_bench::thread_counts())
                benchmark::RegisterBenchmark((std::string("speculative/tree_verify/kestrel/rows:") +
                                              (logits ? "logits" : "probabilities") + "/nodes:64/n:" + std::to_string(V) +
                                              "/batch:" + std::to_string(tree_batch) + "/threads:" + std::to_string(t))
                                                 .c_str(),
                                             [=](benchmark::State& s) { bench_tree(s, tree_batch, V, logits, t); })
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
    return true;
}();

}  // namespace
