// Speculative verification benchmarks (../shared/BENCHMARKS.md):
//   speculative/chain_verify/{kestrel,baseline}/rows:{probabilities,logits,logits_lse}/k:K/n:V/batch:64/threads:t
//   speculative/block_verify/kestrel/rows:.../k:K/n:V/batch:64/threads:t
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
//     plus the bonus row when everything is kept (the rejected rows are counted once, though
//     the kernel reads them twice: normalizer, then residual);
//   block: rows 1..K-1 of both models, plus row 0 of both when nothing is kept (tau = 0) or
//     the bonus row when everything is (tau = K); logits: every drafted row of both models.
// The accept tests' single values are not counted. Counter "accepted": mean kept drafts per
// request (the baseline reports its own, which must agree).
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
            // q(y) = 0.8 base[(y + sp) % V] + 0.2 base[(y + sq) % V]
            for (std::size_t y = 0; y < V; ++y) {
                const double v = 0.8 * base[(y + sp) % V] + 0.2 * base[(y + sq) % V];
                q[y] = logits ? float(std::log(v)) : float(v);
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
    kestrel_bench::report_limits(state, read_once_bytes(d, o, block), double(B) * double(V));
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

const bool registered = [] {
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
    return true;
}();

}  // namespace
