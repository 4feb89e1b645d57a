// Exactness at realistic vocabularies, by sampling (fixed seeds: each test is deterministic,
// its false-alarm rate is the probability that the seeds were chosen unluckily once):
//  - chi-square on binned emitted tokens at V = 32768 (Zipf-like target, perturbed draft),
//    probability and logit rows, with and without sampling filters; the same statistic on a
//    wrong verifier (drafts kept without a test) must exceed the critical value;
//  - empirical acceptance against 1 - TV(p, q);
//  - a tail test at V = 262144: tail tokens 20.5 nats below the head, drawn by the kernel's
//    inverse CDF at their true rate (Poisson test on the count of tail hits);
//  - a precision audit: the exact law of the inverse-CDF draw of a V = 131072 row (logits
//    ~ N(0, 3) plus peaks), found by locating every token's u-interval with the real kernel,
//    is within TV 1e-12 of the true law and leaves no positive-probability token unreachable,
//    while a float cumulative sum (the usual sampler) loses tokens.
// Under AddressSanitizer (about 10x slower) the sampling tests draw a quarter as many tokens
// and the audit runs at V = 32768 (the same code; the thresholds follow the sizes).
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "optimized_build.hpp"

namespace ks = kestrel::speculative;

#if defined(KESTREL_TEST_SANITIZED)
#define SPEC_TEST_SLOW 1
#else
#define SPEC_TEST_SLOW 0
#endif

namespace {

/// Zipf-like target over V tokens (rank r has weight (r + 1)^-1.1, ranks shuffled by a keyed
/// permutation) and a draft perturbed by multiplicative noise: probabilities in double.
struct zipf_pair {
    std::vector<double> p, q;
};

zipf_pair make_zipf_pair(std::size_t V, std::uint64_t seed, double noise) {
    const kestrel::counter_rng rng(seed, 1);
    std::vector<std::size_t> rank(V);
    std::iota(rank.begin(), rank.end(), 0);
    for (std::size_t i = V - 1; i > 0; --i)  // Fisher-Yates with keyed draws
        std::swap(rank[i], rank[static_cast<std::size_t>(rng.uniform_double(i) * double(i + 1))]);
    zipf_pair z{std::vector<double>(V), std::vector<double>(V)};
    double sp = 0, sq = 0;
    for (std::size_t y = 0; y < V; ++y) {
        z.p[y] = std::pow(double(rank[y] + 1), -1.1);
        z.q[y] = z.p[y] * std::exp(noise * rng.normal(V + y));
        sp += z.p[y], sq += z.q[y];
    }
    for (auto& v : z.p) v /= sp;
    for (auto& v : z.q) v /= sq;
    return z;
}

/// Upper 1 - alpha quantile of chi-square with df degrees of freedom (Wilson-Hilferty;
/// accurate to a few percent at df >= 30, far inside the margins used here).
double chi2_critical(double df, double z_alpha) {
    const double a = 2.0 / (9.0 * df);
    return df * std::pow(1.0 - a + z_alpha * std::sqrt(a), 3.0);
}

/// Bins: tokens sorted by expected count, merged from the tail until every bin expects >= 5.
double chi_square(const std::vector<double>& law, const std::vector<std::uint64_t>& counts, std::uint64_t n,
                  std::size_t* bins_out) {
    std::vector<std::size_t> order(law.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return law[a] > law[b]; });
    double stat = 0, e = 0, o = 0;
    std::size_t bins = 0;
    for (std::size_t j = 0; j < order.size(); ++j) {
        e += law[order[j]] * double(n);
        o += double(counts[order[j]]);
        if (e >= 5.0 || j + 1 == order.size()) {
            if (e > 0) stat += (o - e) * (o - e) / e, ++bins;
            e = 0, o = 0;
        }
    }
    *bins_out = bins;
    return stat;
}

enum class rows_as { probabilities, logits };

struct sampled {
    std::vector<std::uint64_t> first_token_counts;
    std::uint64_t accepted = 0, n = 0;
};

/// n single-draft verifications (K = 1, no bonus: the emitted token follows p) of the same
/// rows, drafts drawn from the (filtered) draft law, one request id per trial. wrong = keep
/// every draft (a verifier that must fail the test).
sampled run_trials(const zipf_pair& z, rows_as kind, const ks::verify_options& opt, const std::vector<double>& q_law,
                   std::uint64_t n, std::uint64_t seed, bool wrong) {
    const std::size_t V = z.p.size();
    std::vector<float> prow(V), qrow(V);
    for (std::size_t y = 0; y < V; ++y) {
        prow[y] = kind == rows_as::logits ? float(std::log(z.p[y]) + 2.0) : float(z.p[y]);
        qrow[y] = kind == rows_as::logits ? float(std::log(z.q[y]) - 1.0) : float(z.q[y]);
    }
    // Target rows: position 0 and a bonus row (not read: emit_bonus = false).
    std::vector<float> target(2 * V);
    std::copy(prow.begin(), prow.end(), target.begin());
    std::copy(prow.begin(), prow.end(), target.begin() + static_cast<long>(V));
    std::vector<double> cum(V);
    std::partial_sum(q_law.begin(), q_law.end(), cum.begin());
    const kestrel::counter_rng draws(seed, 99);
    sampled out;
    out.first_token_counts.assign(V, 0);
    out.n = n;
    ks::verify_workspace ws;
    ks::verify_options o = opt;
    o.emit_bonus = false;
    // Logit rows come with their log-normalizers (as a softmax kernel gives them): a kept
    // draft then costs two values, a rejection one pass over both rows.
    auto lse = [&](const std::vector<float>& r) {
        long double m = -INFINITY, s = 0;
        for (float v : r) m = std::max<long double>(m, v);
        for (float v : r) s += std::exp((long double)v - m);
        return double(m + std::log(s));
    };
    const double lz_p[2] = {lse(prow), lse(prow)}, lz_q[1] = {lse(qrow)};
    const auto T = kind == rows_as::logits ? ks::logit_rows(target.data(), 1, 2, V, lz_p) : ks::probability_rows(target.data(), 1, 2, V);
    const auto D = kind == rows_as::logits ? ks::logit_rows(qrow.data(), 1, 1, V, lz_q) : ks::probability_rows(qrow.data(), 1, 1, V);
    for (std::uint64_t t = 0; t < n; ++t) {
        const double u = draws.uniform_double(t) * cum.back();
        auto x = static_cast<std::int32_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        x = std::min<std::int32_t>(x, static_cast<std::int32_t>(V - 1));
        while (q_law[static_cast<std::size_t>(x)] == 0) --x;  // past rounding: the last token with mass
        if (wrong) {
            ++out.first_token_counts[static_cast<std::size_t>(x)];
            continue;
        }
        std::uint32_t len = 1;
        std::uint64_t id = t, pos = 1000;
        std::int32_t tok[2] = {-1, -1};
        ks::request_stats st;
        ks::draft_batch db{kestrel::matrix_view<const std::int32_t>(&x, 1, 1), kestrel::vector_view<const std::uint32_t>(&len, 1),
                           kestrel::vector_view<const std::uint64_t>(&id, 1), kestrel::vector_view<const std::uint64_t>(&pos, 1)};
        ks::verify_outputs vo{kestrel::matrix_view<std::int32_t>(tok, 1, 2), kestrel::vector_view<ks::request_stats>(&st, 1)};
        ks::verify_chain(T, D, db, seed, vo, o, &ws);
        ++out.first_token_counts[static_cast<std::size_t>(tok[0])];
        out.accepted += st.accepted;
    }
    return out;
}

/// The law a row is read as (after filters), as the kernel computes it.
std::vector<double> law_of(const std::vector<double>& probs, rows_as kind, const ks::verify_options& opt, double offset) {
    const std::size_t V = probs.size();
    std::vector<float> row(V);
    for (std::size_t y = 0; y < V; ++y) row[y] = kind == rows_as::logits ? float(std::log(probs[y]) + offset) : float(probs[y]);
    ks::sampling_workspace ws;
    const auto rows = kind == rows_as::logits ? ks::logit_rows(row.data(), 1, 1, V) : ks::probability_rows(row.data(), 1, 1, V);
    const ks::detail::law_reader<float> rd{"test", 0, 1.0 / opt.temperature, 1e-4, opt.filters(), &ws};
    const auto L = rd.law(rows, 0, "row");
    std::vector<double> out(V);
    for (std::size_t y = 0; y < V; ++y) out[y] = L.prob(y);
    return out;
}

}  // namespace

TEST_CASE("chain verification at V = 32768 passes a binned chi-square test and acceptance matches 1 - TV") {
    // Probability rows: 1.5e5 trials (a rejection costs one pass over two float rows); logit
    // rows: 2e4 trials (a rejection runs a double exp per entry of both rows). Noncentrality
    // at alpha = 5e-4 and power 0.9 is about 215, so these detect a binned TV of about 0.019
    // and 0.052 (note section 3.3: N ~ 54 / TV^2); a quarter of that under AddressSanitizer. Sampling filters are covered exactly by
    // enumeration (test_sampling_params.cpp).
    const std::size_t V = 32768;
    // Two configurations, Bonferroni: each at alpha = 5e-4 (z = 3.29), family-wise 1e-3.
    const double z_alpha = 3.29;
    struct config {
        rows_as kind;
        std::uint64_t n;
        double noise;
    };
    const config configs[] = {{rows_as::probabilities, SPEC_TEST_SLOW ? 40000u : 150000u, 0.6},
                              {rows_as::logits, SPEC_TEST_SLOW ? 6000u : 20000u, 0.4}};
    std::uint64_t seed = 7;
    for (const auto& c : configs) {
        const zipf_pair z = make_zipf_pair(V, 2024, c.noise);
        ks::verify_options opt;
        opt.policy = kestrel::exec_policy{1};
        const std::uint64_t n = c.n;
        const auto p_law = law_of(z.p, c.kind, opt, 2.0), q_law = law_of(z.q, c.kind, opt, -1.0);
        const sampled s = run_trials(z, c.kind, opt, q_law, n, ++seed, false);
        std::size_t bins = 0;
        const double stat = chi_square(p_law, s.first_token_counts, s.n, &bins);
        const double crit = chi2_critical(double(bins - 1), z_alpha);
        INFO("kind " << int(c.kind) << ": chi2 " << stat << " on " << bins << " bins, critical " << crit);
        CHECK(bins > 300);
        CHECK(stat < crit);
        // Acceptance: a = sum min(p, q) of the laws as read; |a_hat - a| <= 4 sigma.
        double a = 0;
        for (std::size_t y = 0; y < V; ++y) a += std::min(p_law[y], q_law[y]);
        const double a_hat = double(s.accepted) / double(n), sigma = std::sqrt(a * (1 - a) / double(n));
        INFO("acceptance " << a_hat << " expected " << a << " sigma " << sigma);
        CHECK(std::fabs(a_hat - a) <= 4 * sigma);
        // The same test rejects a verifier that keeps every draft (its tokens follow q).
        const sampled w = run_trials(z, c.kind, opt, q_law, n, seed + 1000, true);
        std::size_t wb = 0;
        const double wstat = chi_square(p_law, w.first_token_counts, w.n, &wb);
        INFO("wrong verifier: chi2 " << wstat << " critical " << chi2_critical(double(wb - 1), z_alpha));
        CHECK(wstat > chi2_critical(double(wb - 1), z_alpha));  // rejected at the same level
    }
}

TEST_CASE("tail tokens 20.5 nats below the head are drawn at their true rate at V = 262144") {
    // One head token, the other V - 1 tokens e^-20.5 times as probable (float probabilities
    // 1.25e-9, tail mass 3.3e-4: the case where an fp32 exponential race or an fp32 running sum
    // draws none). The kernel's inverse CDF (chunk sums in double, the functions verify_chain's
    // bonus and residual draws use; the row's pass is done once, each draw re-reads one chunk)
    // draws n tokens with keyed uniforms; the tail count is Poisson(n * tail mass).
    const std::size_t V = 262144, head = 12345;
    const std::uint64_t n = SPEC_TEST_SLOW ? 60000 : 300000;
    const float tail_p = float(std::exp(-20.5) / (1.0 + double(V - 1) * std::exp(-20.5)));
    std::vector<float> probs(V, tail_p);
    probs[head] = float(1.0 / (1.0 + double(V - 1) * std::exp(-20.5)));
    long double total = 0;
    for (float v : probs) total += v;
    const ks::detail::law_reader<float> rd{"test", 0, 1.0, 1e-4};
    const auto rows = ks::probability_rows(probs.data(), 1, 1, V);
    const auto P = rd.law(rows, 0, "target");
    std::vector<double> sums;
    ks::detail::row_check pc, qc;
    const double z = ks::detail::residual_chunk_sums<float>(P, nullptr, V, 1.0, sums, pc, qc);
    const kestrel::counter_rng rng(31337, 5);
    std::uint64_t tail = 0;
    std::vector<std::uint8_t> seen(V, 0);
    for (std::uint64_t t = 0; t < n; ++t) {
        const std::size_t y = ks::detail::residual_inverse_cdf<float>(P, nullptr, V, 1.0, sums, z, rng.uniform_double(t));
        if (y != head) ++tail, seen[y] = 1;
    }
    const double tail_mass = double((total - (long double)probs[head]) / total);
    const double lambda = double(n) * tail_mass;
    // Two-sided test at alpha ~ 1e-4: |count - lambda| <= 3.9 sqrt(lambda) + 1 (normal
    // approximation with a continuity margin; lambda >= 20).
    INFO("tail hits " << tail << " expected " << lambda);
    CHECK(lambda > 19);
    CHECK(std::fabs(double(tail) - lambda) <= 3.9 * std::sqrt(lambda) + 1.0);
    // Hits spread over the tail, not one chunk: both halves of the vocabulary are hit.
    for (int h = 0; h < 2; ++h) {
        std::size_t hits = 0;
        for (std::size_t y = h * V / 2; y < (h + 1) * V / 2; ++y) hits += seen[y];
        CHECK(hits > 0);
    }
}

namespace {

/// The smallest double u in [0, 1] with fl(u * z - before) >= t, the product rounded
/// (fused = false) or not (fused = true: one rounding, as std::fma); monotone in u.
double u_at_least(double t, double z, double before = 0.0, bool fused = false) {
    auto f = [&](double u) { return fused ? std::fma(u, z, -before) : u * z - before; };
    double u = std::min(1.0, std::max(0.0, (t + before) / z));
    while (u > 0.0 && f(std::nextafter(u, -1.0)) >= t) u = std::nextafter(u, -1.0);
    while (u < 1.0 && f(u) < t) u = std::nextafter(u, 2.0);
    return u;
}

}  // namespace

TEST_CASE("precision audit: the inverse-CDF draw reaches every positive-probability token at its exact rate") {
    // The draw picks the chunk whose running chunk sum exceeds u * Z, then the first token of
    // it whose running sum from the chunk's start exceeds u * Z - before (detail/row_math.hpp). From the kernel's own
    // residual values and chunk sums, every token's interval of u follows; the real sampler is
    // then checked at the two ends of every interval of three whole chunks and of the first and
    // last token of every chunk (a u-sweep at the breakpoints: the token at the start of its
    // interval, the previous token just below it). The law so found is compared with the true
    // law (the float softmax's, summed in long double): its TV must be within 1e-12 of what a sampler exact up to the
    // uniform's 53-bit resolution reaches (that floor is itself about 1e-12 at this V). Peaks at +8 over N(0, 3) logits keep the smallest probability near
    // 1e-13: tokens below the 53-bit uniform's resolution (2^-53) cannot all be reachable by any
    // sampler with one double uniform, so the row stays above it.
    const std::size_t V = SPEC_TEST_SLOW ? 32768 : 131072;
    std::vector<float> logits(V);
    const kestrel::counter_rng rng(777, 1);
    for (std::size_t y = 0; y < V; ++y) logits[y] = float(3.0 * rng.normal(y));
    for (std::size_t y : {std::size_t(17), std::size_t(4096), 60000 % V, 99999 % V, 131000 % V}) logits[y] = 8.0f;
    // The true law is the row's law under Kestrel's float softmax (softmax.hpp: row_softmax);
    // test_float_softmax.cpp bounds its distance to the exact softmax (about 1e-8 in TV here).
    std::vector<double> truth(V);
    ks::row_softmax(kestrel::vector_view<const float>(logits), 1.0, kestrel::vector_view<double>(truth));
    double min_truth = 1;
    for (std::size_t y = 0; y < V; ++y) min_truth = std::min(min_truth, truth[y]);

    const ks::detail::law_reader<float> rd{"test", 0, 1.0, 1e-4};
    const auto rows = ks::logit_rows(logits.data(), 1, 1, V);
    const auto P = rd.law(rows, 0, "target");
    std::vector<double> sums;
    ks::detail::row_check pc, qc;
    const double z = ks::detail::residual_chunk_sums<float>(P, nullptr, V, 1.0, sums, pc, qc);
    auto sample = [&](double u) { return ks::detail::residual_inverse_cdf<float>(P, nullptr, V, 1.0, sums, z, u); };
    // Intervals [lo[y], hi[y]) of u, from the kernel's values (residual_chunk with a buffer).
    const std::size_t C = ks::detail::chunk, chunks = sums.size();
    std::vector<double> lo(V, 1.0), hi(V, 1.0), vals(C);
    double before = 0.0;
    for (std::size_t k = 0; k < chunks; ++k) {
        const std::size_t b = k * C, e = std::min(V, b + C);
        ks::detail::row_check c1, c2;
        ks::detail::residual_kernel<float>::pick(P, nullptr)(P, nullptr, V, 1.0, b, e, c1, c2, vals.data());
        const double end = before + sums[k];  // u * Z >= end goes to a later chunk
        const double u_lo = u_at_least(before, z), u_hi = u_at_least(end, z);
        // In the chunk: u * Z - before (fused) against a running sum from 0.
        double cum = 0.0, start = 0.0;
        std::size_t last = V;
        for (std::size_t y = b; y < e; ++y) {
            if (!(vals[y - b] > 0.0)) continue;
            cum += vals[y - b];
            lo[y] = y == b || start <= 0.0 ? u_lo : std::min(std::max(u_at_least(start, z, before, true), u_lo), u_hi);
            hi[y] = std::min(std::max(u_at_least(cum, z, before, true), u_lo), u_hi);
            if (last == V) lo[y] = u_lo;  // the first token with mass takes everything below its end
            start = cum;
            last = y;
        }
        if (last < V) hi[last] = u_hi;  // past the in-chunk sum: the last token with mass
        before = end;
    }
    double tv = 0;
    std::size_t unreachable = 0;
    for (std::size_t y = 0; y < V; ++y) {
        const double got = hi[y] > lo[y] ? hi[y] - lo[y] : 0.0;
        tv += std::fabs(got - truth[y]);
        if (truth[y] > 0 && !(got > 0)) ++unreachable;
    }
    tv /= 2;
    // What any sampler with one double uniform can reach: interval ends at the doubles nearest
    // the exact cumulative law (u has 53 bits, so above 1/2 the ends are 2^-53 apart and
    // every interval length is off by up to that: summed over 10^5 tokens, ~1e-12).
    double ideal = 0;
    {
        long double cum = 0;
        double prev = 0;
        for (std::size_t y = 0; y < V; ++y) {
            cum += (long double)truth[y];
            const double end = y + 1 == V ? 1.0 : double(cum);
            ideal += std::fabs((end - prev) - truth[y]);
            prev = end;
        }
        ideal /= 2;
    }
    INFO("TV " << tv << " (a sampler exact up to the uniform's resolution: " << ideal << "), unreachable "
               << unreachable << ", smallest probability " << min_truth);
    CHECK(tv < ideal + 1e-12);
    CHECK(tv < 1e-11);
    CHECK(unreachable == 0);
    CHECK(min_truth < 1e-11);  // the row holds tokens far below a float running sum's resolution
    // The real sampler at the breakpoints.
    std::vector<std::size_t> check;
    for (std::size_t k : {std::size_t(0), chunks / 2, chunks - 1})
        for (std::size_t y = k * C; y < std::min(V, (k + 1) * C); ++y) check.push_back(y);
    for (std::size_t k = 0; k < chunks; ++k) {
        check.push_back(k * C);
        check.push_back(std::min(V, (k + 1) * C) - 1);
    }
    std::size_t wrong = 0, prev_positive = V;
    std::vector<std::size_t> previous(V, V);
    for (std::size_t y = 0; y < V; ++y) {
        previous[y] = prev_positive;
        if (hi[y] > lo[y]) prev_positive = y;
    }
    for (std::size_t y : check) {
        if (!(hi[y] > lo[y])) continue;
        if (sample(lo[y]) != y) ++wrong;
        if (lo[y] > 0.0 && sample(std::nextafter(lo[y], -1.0)) != previous[y]) ++wrong;
    }
    INFO("breakpoints checked " << 2 * check.size() << ", disagreeing " << wrong);
    CHECK(wrong == 0);

    // The checker sees the usual sampler's loss: a float running sum of float probabilities,
    // searched with a float target, leaves tokens with no interval.
    std::vector<float> cum(V);
    float c = 0;
    for (std::size_t y = 0; y < V; ++y) cum[y] = (c += float(truth[y]));
    std::size_t lost = 0;
    double ftv = 0;
    for (std::size_t y = 0; y < V; ++y) {
        const double got = (double(cum[y]) - (y ? double(cum[y - 1]) : 0.0)) / double(cum[V - 1]);
        ftv += std::fabs(got - truth[y]);
        lost += truth[y] > 0 && !(got > 0);
    }
    INFO("float running sum: TV " << ftv / 2 << ", unreachable " << lost);
    CHECK(lost > 100);
    CHECK(ftv / 2 > 1e-6);
}
