// Invariance: the same tokens at 1 and 2 threads, with the batch permuted, with requests
// inserted, and (chain) with a request's verification split into chunks (emit_bonus = false
// for all but the last). Errors: every bad input of verify_chain and verify_block raises
// kestrel::invalid_argument naming the function, the request and the position, and nothing
// is written (the outputs hold their sentinels).
#include <catch2/catch.hpp>

#include <kestrel/speculative.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace ks = kestrel::speculative;

namespace {

/// A batch in the caller's memory: request b has rows target [maxk + 1][V], draft [maxk][V].
template <class T>
struct batch_data {
    std::size_t V = 0, maxk = 0;
    bool logits = false;
    std::vector<T> target, draft;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint32_t> lengths;
    std::vector<std::uint64_t> ids, pos;
    std::size_t batch() const { return lengths.size(); }

    ks::token_rows<T> trows() const {
        return logits ? ks::logit_rows(target.data(), batch(), maxk + 1, V)
                      : ks::probability_rows(target.data(), batch(), maxk + 1, V);
    }
    ks::token_rows<T> drows() const {
        return logits ? ks::logit_rows(draft.data(), batch(), maxk, V) : ks::probability_rows(draft.data(), batch(), maxk, V);
    }
    ks::draft_batch drafts() const {
        return {kestrel::matrix_view<const std::int32_t>(tokens.data(), batch(), maxk),
                kestrel::vector_view<const std::uint32_t>(lengths.data(), batch()),
                kestrel::vector_view<const std::uint64_t>(ids.data(), batch()),
                kestrel::vector_view<const std::uint64_t>(pos.data(), batch())};
    }
    /// Appends request `b` of another batch (same V and maxk).
    void append(const batch_data& o, std::size_t b) {
        target.insert(target.end(), o.target.begin() + long(b * (maxk + 1) * V), o.target.begin() + long((b + 1) * (maxk + 1) * V));
        draft.insert(draft.end(), o.draft.begin() + long(b * maxk * V), o.draft.begin() + long((b + 1) * maxk * V));
        tokens.insert(tokens.end(), o.tokens.begin() + long(b * maxk), o.tokens.begin() + long((b + 1) * maxk));
        lengths.push_back(o.lengths[b]), ids.push_back(o.ids[b]), pos.push_back(o.pos[b]);
    }
};

/// Random rows (p sharper than q, so both acceptance and rejection happen) and drafts drawn
/// from q; ragged lengths in [0, maxk].
template <class T>
batch_data<T> make_batch(std::size_t B, std::size_t maxk, std::size_t V, bool logits, std::uint64_t seed) {
    batch_data<T> d;
    d.V = V, d.maxk = maxk, d.logits = logits;
    d.target.resize(B * (maxk + 1) * V);
    d.draft.resize(B * maxk * V);
    d.tokens.assign(B * maxk, 0);
    const kestrel::counter_rng rng(seed, 0);
    std::uint64_t c = 0;
    auto fill = [&](T* row, double sharp, const T* base) {
        std::vector<double> w(V);
        double s = 0;
        for (std::size_t y = 0; y < V; ++y) {
            const double l = (base ? std::log(double(base[y])) : 0.0) + sharp * rng.normal(c++);
            w[y] = std::exp(l);
            s += w[y];
        }
        for (std::size_t y = 0; y < V; ++y) row[y] = logits ? T(std::log(w[y] / s) + 0.5) : T(w[y] / s);
    };
    for (std::size_t b = 0; b < B; ++b) {
        for (std::size_t i = 0; i <= maxk; ++i) fill(&d.target[(b * (maxk + 1) + i) * V], 2.0, nullptr);
        for (std::size_t i = 0; i < maxk; ++i) {
            T* q = &d.draft[(b * maxk + i) * V];
            const T* p = &d.target[(b * (maxk + 1) + i) * V];
            std::vector<T> pp(p, p + V);
            if (logits)
                for (auto& v : pp) v = T(std::exp(double(v) - 0.5));
            fill(q, 0.7, pp.data());
            // Draw the draft token from q's law (double cumulative sum).
            double s = 0, u = rng.uniform_double(c++);
            std::vector<double> qq(V);
            for (std::size_t y = 0; y < V; ++y) qq[y] = logits ? std::exp(double(q[y]) - 0.5) : double(q[y]), s += qq[y];
            double cum = 0;
            std::size_t x = 0;
            for (; x + 1 < V; ++x) {
                cum += qq[x] / s;
                if (u < cum && qq[x] > 0) break;
            }
            d.tokens[b * maxk + i] = static_cast<std::int32_t>(x);
        }
        d.lengths.push_back(static_cast<std::uint32_t>(rng.uniform_double(c++) * double(maxk + 1)));
        d.ids.push_back(1000 + 17 * b);
        d.pos.push_back(50 + 3 * b);
    }
    return d;
}

struct result {
    std::vector<std::int32_t> tokens;
    std::vector<ks::request_stats> stats;
    std::vector<std::uint8_t> flags;
    std::vector<std::int32_t> request_tokens(std::size_t b, std::size_t cols) const {
        return std::vector<std::int32_t>(tokens.begin() + long(b * cols), tokens.begin() + long(b * cols + stats[b].emitted));
    }
};

enum class which { chain, block };

template <class T>
result run(which w, const batch_data<T>& d, int threads, ks::verify_options opt = {}) {
    const std::size_t B = d.batch(), cols = d.maxk + 1;
    result r{std::vector<std::int32_t>(B * cols, -7), std::vector<ks::request_stats>(B), std::vector<std::uint8_t>(B * std::max<std::size_t>(d.maxk, 1), 9)};
    ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(r.tokens.data(), B, cols),
                         kestrel::vector_view<ks::request_stats>(r.stats.data(), B),
                         kestrel::matrix_view<std::uint8_t>(r.flags.data(), B, std::max<std::size_t>(d.maxk, 1))};
    opt.policy = kestrel::exec_policy{threads};
    if (w == which::chain)
        ks::verify_chain(d.trows(), d.drows(), d.drafts(), 4242, o, opt);
    else
        ks::verify_block(d.trows(), d.drows(), d.drafts(), 4242, o, opt);
    return r;
}

bool same_stats(const ks::request_stats& a, const ks::request_stats& b) {
    return a.accepted == b.accepted && a.emitted == b.emitted && a.independent_accepts == b.independent_accepts &&
           a.residual_fallbacks == b.residual_fallbacks;
}

}  // namespace

TEST_CASE("verification gives the same tokens at 1 and 2 threads, permuted, and with requests inserted") {
    for (bool logits : {false, true}) {
        for (which w : {which::chain, which::block}) {
            INFO("logits " << logits << " verifier " << int(w));
            const auto d = make_batch<float>(16, 5, 5000, logits, 11 + logits);
            const auto r1 = run(w, d, 1), r2 = run(w, d, 2);
            CHECK(r1.tokens == r2.tokens);
            CHECK(r1.flags == r2.flags);
            for (std::size_t b = 0; b < d.batch(); ++b) CHECK(same_stats(r1.stats[b], r2.stats[b]));
            // Some requests accept everything, some reject: the test covers both paths.
            std::size_t full = 0, partial = 0;
            for (std::size_t b = 0; b < d.batch(); ++b) (r1.stats[b].accepted == d.lengths[b] ? full : partial)++;
            CHECK(full > 0);
            CHECK(partial > 0);
            // Permuted batch (reversed, then rotated) with unrelated requests inserted.
            const auto extra = make_batch<float>(8, 5, 5000, logits, 99);
            batch_data<float> e;
            e.V = d.V, e.maxk = d.maxk, e.logits = logits;
            std::vector<std::size_t> where(d.batch());
            for (std::size_t j = 0; j < d.batch(); ++j) {
                const std::size_t b = (d.batch() - 1 - j + 5) % d.batch();
                if (j % 2 == 0) e.append(extra, j / 2);
                where[b] = e.batch();
                e.append(d, b);
            }
            const auto r3 = run(w, e, 2);
            for (std::size_t b = 0; b < d.batch(); ++b) {
                CHECK(r3.request_tokens(where[b], e.maxk + 1) == r1.request_tokens(b, d.maxk + 1));
                CHECK(same_stats(r3.stats[where[b]], r1.stats[b]));
            }
        }
    }
}

TEST_CASE("chain verification split into chunks emits the same tokens as one call") {
    for (bool logits : {false, true}) {
        const auto d = make_batch<double>(12, 6, 4500, logits, 5 + logits);
        auto whole = d;
        for (auto& l : whole.lengths) l = 6;  // every request drafts 6 tokens
        const auto r = run(which::chain, whole, 1);
        const std::size_t cols = whole.maxk + 1;
        for (std::size_t split : {1u, 2u, 4u}) {
            // First chunk: drafts [0, split), no bonus; second: [split, 6) from position split.
            std::vector<std::uint32_t> l1(whole.batch(), split), l2(whole.batch(), 6 - split);
            std::vector<std::uint64_t> p2(whole.batch());
            for (std::size_t b = 0; b < whole.batch(); ++b) p2[b] = whole.pos[b] + split;
            auto t1 = whole.trows(), t2 = whole.trows(), q1 = whole.drows(), q2 = whole.drows();
            t1.positions = split + 1, t1.request_stride = (whole.maxk + 1) * whole.V;
            q1.positions = split, q1.request_stride = whole.maxk * whole.V;
            t2.data += split * whole.V, t2.positions = 7 - split, t2.request_stride = (whole.maxk + 1) * whole.V;
            q2.data += split * whole.V, q2.positions = 6 - split, q2.request_stride = whole.maxk * whole.V;
            ks::draft_batch d1{kestrel::matrix_view<const std::int32_t>(whole.tokens.data(), whole.batch(), split, whole.maxk),
                               kestrel::vector_view<const std::uint32_t>(l1.data(), whole.batch()),
                               kestrel::vector_view<const std::uint64_t>(whole.ids.data(), whole.batch()),
                               kestrel::vector_view<const std::uint64_t>(whole.pos.data(), whole.batch())};
            ks::draft_batch d2{kestrel::matrix_view<const std::int32_t>(whole.tokens.data() + split, whole.batch(), 6 - split, whole.maxk),
                               kestrel::vector_view<const std::uint32_t>(l2.data(), whole.batch()),
                               kestrel::vector_view<const std::uint64_t>(whole.ids.data(), whole.batch()),
                               kestrel::vector_view<const std::uint64_t>(p2.data(), whole.batch())};
            std::vector<std::int32_t> o1(whole.batch() * cols, -7), o2(whole.batch() * cols, -7);
            std::vector<ks::request_stats> s1(whole.batch()), s2(whole.batch());
            ks::verify_options first;
            first.emit_bonus = false;
            ks::verify_chain(t1, q1, d1, 4242, {kestrel::matrix_view<std::int32_t>(o1.data(), whole.batch(), cols), kestrel::vector_view<ks::request_stats>(s1.data(), whole.batch())}, first);
            ks::verify_chain(t2, q2, d2, 4242, {kestrel::matrix_view<std::int32_t>(o2.data(), whole.batch(), cols), kestrel::vector_view<ks::request_stats>(s2.data(), whole.batch())});
            std::size_t continued = 0;
            for (std::size_t b = 0; b < whole.batch(); ++b) {
                INFO("logits " << logits << " split " << split << " request " << b);
                std::vector<std::int32_t> got(o1.begin() + long(b * cols), o1.begin() + long(b * cols + s1[b].emitted));
                if (s1[b].accepted == split) {  // all kept: the second chunk continues
                    ++continued;
                    got.insert(got.end(), o2.begin() + long(b * cols), o2.begin() + long(b * cols + s2[b].emitted));
                } else {
                    CHECK(s1[b].emitted == s1[b].accepted + 1);
                }
                CHECK(got == r.request_tokens(b, cols));
            }
            CHECK(continued > 0);
        }
    }
}

// ---- errors ------------------------------------------------------------------------------

namespace {

/// A small batch where request 1 keeps its draft at position 0 (p(x) == q(x)) and rejects it
/// at position 1 (p(x) = 0), so its rows at position 1 are read in full by both verifiers.
struct error_case {
    batch_data<double> d;
    error_case(bool logits) {
        d = make_batch<double>(3, 2, 16, false, 3);
        for (auto& l : d.lengths) l = 2;
        const std::size_t V = 16;
        double* p0 = &d.target[(1 * 3 + 0) * V];
        double* q0 = &d.draft[(1 * 2 + 0) * V];
        std::copy(q0, q0 + V, p0);  // p == q at position 0: always kept
        double* p1 = &d.target[(1 * 3 + 1) * V];
        const std::size_t x1 = static_cast<std::size_t>(d.tokens[1 * 2 + 1]);
        const double moved = p1[x1];
        p1[x1] = 0.0;
        p1[(x1 + 1) % V] += moved;  // p(x) = 0 at position 1: always rejected
        if (logits) {
            d.logits = true;
            for (auto& v : d.target) v = std::log(v) + 1.0;
            for (auto& v : d.draft) v = std::log(v) - 2.0;
        }
    }
};

template <class Mutate>
void expect_error(which w, bool logits, Mutate&& mutate, const std::vector<std::string>& words) {
    error_case c(logits);
    auto d = c.d;
    ks::token_rows<double> T = d.trows(), D = d.drows();
    ks::draft_batch db = d.drafts();
    const std::size_t B = d.batch(), cols = d.maxk + 1;
    std::vector<std::int32_t> out(B * cols, -7);
    std::vector<ks::request_stats> stats(B, ks::request_stats{99, 99, 99, 99});
    std::vector<std::uint8_t> flags(B * d.maxk, 9);
    ks::verify_outputs o{kestrel::matrix_view<std::int32_t>(out.data(), B, cols),
                         kestrel::vector_view<ks::request_stats>(stats.data(), B),
                         kestrel::matrix_view<std::uint8_t>(flags.data(), B, d.maxk)};
    ks::verify_options opt;
    mutate(d, T, D, db, o, opt);
    const std::string fn = w == which::chain ? "verify_chain" : "verify_block";
    std::string msg;
    try {
        if (w == which::chain)
            ks::verify_chain(T, D, db, 1, o, opt);
        else
            ks::verify_block(T, D, db, 1, o, opt);
    } catch (const kestrel::invalid_argument& e) {
        msg = e.what();
    }
    INFO("verifier " << fn << " logits " << logits << ": message '" << msg << "'");
    REQUIRE(!msg.empty());
    CHECK(msg.find("kestrel::" + fn) != std::string::npos);
    for (const auto& word : words) CHECK(msg.find(word) != std::string::npos);
    CHECK(std::all_of(out.begin(), out.end(), [](std::int32_t v) { return v == -7; }));
    CHECK(std::all_of(flags.begin(), flags.end(), [](std::uint8_t v) { return v == 9; }));
    for (const auto& s : stats) CHECK(s.accepted == 99);
}

using mut = std::function<void(batch_data<double>&, ks::token_rows<double>&, ks::token_rows<double>&, ks::draft_batch&,
                               ks::verify_outputs&, ks::verify_options&)>;

double& at(std::vector<double>& rows, std::size_t per_request, std::size_t b, std::size_t i, std::size_t y, std::size_t V) {
    return rows[(b * per_request + i) * V + y];
}

}  // namespace

TEST_CASE("the setup of the error tests verifies cleanly, with request 1 rejected at position 1") {
    for (bool logits : {false, true}) {
        error_case c(logits);
        for (which w : {which::chain, which::block}) {
            const auto r = run(w, c.d, 1);
            if (w == which::chain) {
                CHECK(r.stats[1].accepted == 1);
                CHECK(r.stats[1].emitted == 2);
            }
        }
    }
}

TEST_CASE("every bad input of verify_chain and verify_block is refused before anything is written") {
    const std::size_t V = 16;
    for (which w : {which::chain, which::block}) {
        // Values in a row the verifier reads in full (request 1, position 1), away from the
        // drafted token (whose value the accept test reads first).
        auto off = [&](batch_data<double>& d, std::size_t k) { return (std::size_t(d.tokens[1 * 2 + 1]) + k) % V; };
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.target, 3, 1, 1, off(d, 5), V) = -0.25; at(d.target, 3, 1, 1, off(d, 6), V) += 0.25; }), {"request 1", "position 1", "target", "negative"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.target, 3, 1, 1, off(d, 5), V) = std::nan(""); }), {"request 1", "position 1", "target", "NaN"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { for (std::size_t y = 0; y < V; ++y) at(d.target, 3, 1, 1, y, V) *= 1.1; }), {"request 1", "position 1", "target", "sums to"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { for (std::size_t y = 0; y < V; ++y) at(d.draft, 2, 1, 1, y, V) *= 0.9; }), {"request 1", "position 1", "draft", "sums to"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.draft, 2, 1, 1, off(d, 5), V) = -1.0; }), {"request 1", "position 1", "draft", "negative"});
        expect_error(w, true, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.target, 3, 1, 1, off(d, 5), V) = std::nan(""); }), {"request 1", "position 1", "target", "NaN"});
        expect_error(w, true, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.draft, 2, 1, 1, off(d, 5), V) = std::nan(""); }), {"request 1", "position 1", "draft", "NaN"});
        expect_error(w, true, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { at(d.target, 3, 1, 1, off(d, 5), V) = std::numeric_limits<double>::infinity(); }), {"request 1", "position 1", "target"});
        // Logit rows with caller log-normalizers: a NaN logit is found in the full read.
        expect_error(w, true, mut([&](auto& d, auto& T, auto& D, auto&, auto&, auto&) {
                         static std::vector<double> lz;
                         lz.assign(3 * 3, 0.0);
                         for (std::size_t b = 0; b < 3; ++b)
                             for (std::size_t i = 0; i < 3; ++i) {
                                 double m = -1e300, s2 = 0;
                                 for (std::size_t y = 0; y < V; ++y) m = std::max(m, at(d.target, 3, b, i, y, V));
                                 for (std::size_t y = 0; y < V; ++y) s2 += std::exp(at(d.target, 3, b, i, y, V) - m);
                                 lz[b * 3 + i] = m + std::log(s2);
                             }
                         T.log_normalizers = lz.data();
                         (void)D;
                         at(d.target, 3, 1, 1, off(d, 5), V) = std::nan("");
                     }), {"request 1", "position 1", "target", "NaN"});
        // A drafted token the draft row gives probability 0.
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) {
                         const auto x = std::size_t(d.tokens[1 * 2 + 1]);
                         at(d.draft, 2, 1, 1, (x + 3) % V, V) += at(d.draft, 2, 1, 1, x, V);
                         at(d.draft, 2, 1, 1, x, V) = 0.0;
                     }), {"request 1", "position 1", "draft probability 0"});
        // With sampling filters (top-k = 1 on both models): a draft outside the draft's kept set.
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto& db, auto&, auto& o) {
                         o.top_k = 1;
                         d.lengths[0] = d.lengths[2] = 0;
                         db.lengths = kestrel::vector_view<const std::uint32_t>(d.lengths.data(), 3);
                         const auto x = std::size_t(d.tokens[1 * 2 + 0]);
                         for (std::size_t y = 0; y < V; ++y) at(d.draft, 2, 1, 0, y, V) *= 0.5;
                         at(d.draft, 2, 1, 0, (x + 1) % V, V) += 0.5;  // the draft's argmax is not x
                     }), {"request 1", "position 0", "draft probability 0", "filters"});
        // Token ids out of range.
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { d.tokens[1 * 2 + 1] = 16; }), {"request 1", "position 1", "drafts.tokens", "16"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto&, auto&, auto&) { d.tokens[1 * 2 + 1] = -1; }), {"request 1", "position 1", "drafts.tokens"});
        // Draft length beyond the positions given.
        expect_error(w, false, mut([&](auto&, auto& T, auto&, auto&, auto&, auto&) { T.positions = 2; T.request_stride = 3 * V; }), {"request 0", "position 2", "target"});
        expect_error(w, false, mut([&](auto&, auto&, auto& D, auto&, auto&, auto&) { D.positions = 1; D.request_stride = 2 * V; }), {"request 0", "position 1", "draft"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto& db, auto&, auto&) { d.lengths[1] = 3; db.lengths = kestrel::vector_view<const std::uint32_t>(d.lengths.data(), 3); }), {"request 1", "drafts.lengths"});
        // Mismatched shapes.
        expect_error(w, false, mut([&](auto&, auto&, auto& D, auto&, auto&, auto&) { D.vocab = 8; }), {"draft", "vocab"});
        expect_error(w, false, mut([&](auto&, auto& T, auto&, auto&, auto&, auto&) { T.batch = 2; }), {"target", "batch"});
        expect_error(w, false, mut([&](auto& d, auto&, auto&, auto& db, auto&, auto&) { db.request_ids = kestrel::vector_view<const std::uint64_t>(d.ids.data(), 2); }), {"drafts.request_ids"});
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto& o, auto&) { o.tokens = kestrel::matrix_view<std::int32_t>(o.tokens.data(), 3, 2); }), {"outputs.tokens"});
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto& o, auto&) { o.stats = kestrel::vector_view<ks::request_stats>(o.stats.data(), 2); }), {"outputs.stats"});
        // Options.
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto&, auto& o) { o.top_p = 0.0; }), {"options.top_p"});
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto&, auto& o) { o.min_p = 1.5; }), {"options.min_p"});
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto&, auto& o) { o.temperature = -1.0; }), {"options.temperature"});
        expect_error(w, false, mut([&](auto&, auto&, auto&, auto&, auto&, auto& o) { o.row_sum_tolerance = std::nan(""); }), {"options.row_sum_tolerance"});
    }
}
