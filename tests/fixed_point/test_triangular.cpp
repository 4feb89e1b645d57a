// Triangular (feedforward) systems and Jacobi decoding: Jacobi, Gauss-Seidel and the block
// GS-Jacobi hybrid reproduce sequential evaluation written here in the test (bit for bit on
// discrete and on exact-mode continuous problems), in at most T rounds; round counts on chains of
// known dependency depth; tolerance mode; limits reported; thread-count invariance; throwing
// callbacks.
#include <catch2/catch.hpp>

#include <kestrel/core/random.hpp>
#include <kestrel/fixed_point/jacobi_decoding.hpp>
#include <kestrel/fixed_point/triangular_system.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace fp = kestrel::fixed_point;
using kestrel::matrix_view;
using kestrel::vector_view;

namespace {

// A random finite-state autoregressive chain: x_t (width w, K states per element) is a random
// table lookup of x_{t-1} and x_{lag(t)}, lag(t) uniform in [0, t-1] (counter-based, by t).
struct random_chain {
    std::size_t T, w, K;
    std::uint64_t seed;
    std::vector<std::size_t> lag;
    std::vector<std::int32_t> table;  // [t][a][b] -> state, for the first element; others shift
    random_chain(std::size_t T_, std::size_t w_, std::size_t K_, std::uint64_t seed_)
        : T(T_), w(w_), K(K_), seed(seed_), lag(T_ + 1), table((T_ + 1) * K_ * K_) {
        const kestrel::counter_rng rng(seed, 1);
        for (std::size_t t = 1; t <= T; ++t) lag[t] = std::min<std::size_t>(t - 1, std::size_t(rng.uniform_double(t) * double(t)));
        const kestrel::counter_rng tab(seed, 2);
        for (std::size_t i = 0; i < table.size(); ++i) table[i] = std::int32_t(tab.uniform_double(i) * double(K)) % std::int32_t(K);
    }
    void eval_one(std::size_t t, matrix_view<const std::int32_t> x, std::int32_t* out) const {
        for (std::size_t j = 0; j < w; ++j) {
            const std::size_t a = std::size_t(x(t - 1, j)), b = std::size_t(x(lag[t], (j + 1) % w));
            out[j] = table[(t * K + a) * K + b];
        }
    }
    // The batched callback (counts calls).
    auto callback(std::size_t& calls) const {
        return [this, &calls](vector_view<const std::size_t> pos, matrix_view<const std::int32_t> x,
                              matrix_view<std::int32_t> out) {
            ++calls;
            for (std::size_t r = 0; r < pos.size(); ++r) eval_one(pos[r], x, out.row_data(r));
        };
    }
    // The reference: sequential evaluation, written out.
    std::vector<std::int32_t> sequential(const std::vector<std::int32_t>& x0) const {
        std::vector<std::int32_t> x((T + 1) * w, 0);
        std::copy(x0.begin(), x0.end(), x.begin());
        for (std::size_t t = 1; t <= T; ++t) eval_one(t, matrix_view<const std::int32_t>(x.data(), T + 1, w), &x[t * w]);
        return x;
    }
};

template <class V>
std::vector<V> initial(std::size_t T, std::size_t w, V x0, V guess) {
    std::vector<V> x((T + 1) * w, guess);
    std::fill(x.begin(), x.begin() + std::ptrdiff_t(w), x0);
    return x;
}

void check_report(const fp::triangular_report& r, std::size_t T) {
    CHECK(r.converged);
    CHECK(r.rounds <= T);
    REQUIRE(r.final_round.size() == T + 1);
    CHECK(r.final_round[0] == 0);
    for (std::size_t t = 1; t <= T; ++t) {
        CHECK(r.final_round[t] >= 1);
        CHECK(r.final_round[t] <= r.rounds);
        CHECK(r.final_round[t] >= r.final_round[t - 1]);
    }
    CHECK(r.final_round[T] == r.rounds);
}

}  // namespace

TEST_CASE("fixed_point: Jacobi, Gauss-Seidel and GS-Jacobi reproduce a random finite-state chain bit for bit", "[fixed_point][triangular]") {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        for (std::size_t w : {1u, 3u}) {
            const std::size_t T = 60, K = 5;
            const random_chain chain(T, w, K, seed);
            auto x0 = initial<std::int32_t>(T, w, 2, 0);
            const auto ref = chain.sequential(x0);
            fp::triangular_workspace<std::int32_t> ws;
            std::size_t calls = 0;
            auto f = chain.callback(calls);

            SECTION("Gauss-Seidel: T rounds, one evaluation each, final in order") {
                auto x = x0;
                const auto r = fp::solve_gauss_seidel(f, matrix_view<std::int32_t>(x.data(), T + 1, w), ws);
                CHECK(x == ref);
                check_report(r, T);
                CHECK(r.rounds == T);
                CHECK(r.evaluations == T);
                CHECK(calls == T);
                for (std::size_t t = 1; t <= T; ++t) CHECK(r.final_round[t] == t);
            }
            SECTION("Jacobi, whole and windowed") {
                for (std::size_t window : {0u, 1u, 4u, 17u}) {
                    auto x = x0;
                    fp::triangular_options o;
                    o.window = window;
                    calls = 0;
                    const auto r = fp::solve_jacobi(f, matrix_view<std::int32_t>(x.data(), T + 1, w), ws, o);
                    CHECK(x == ref);
                    check_report(r, T);
                    CHECK(calls == r.rounds);
                    if (window == 1) CHECK(r.rounds == T);
                }
            }
            SECTION("GS-Jacobi hybrids, both limit actions") {
                for (std::size_t block : {1u, 7u, 20u, 60u}) {
                    for (std::size_t limit : {1u, 2u, 3u, 100u}) {
                        auto x = x0;
                        const auto bs = fp::block_schedule::uniform(T, block, limit);
                        const auto r = fp::solve_gs_jacobi(f, matrix_view<std::int32_t>(x.data(), T + 1, w), bs, ws);
                        CHECK(x == ref);
                        check_report(r, T);
                        if (limit == 100) CHECK(r.blocks_finished_sequentially == 0);
                    }
                }
                // accept_iterate with one round per block of 10: each block's first round only fixes
                // its first position for sure, so with a wrong guess the run is not converged.
                auto x = x0;
                const auto bs = fp::block_schedule::uniform(T, 10, 1, fp::block_limit_action::accept_iterate);
                const auto r = fp::solve_gs_jacobi(f, matrix_view<std::int32_t>(x.data(), T + 1, w), bs, ws);
                CHECK(r.rounds == 6);
                CHECK(r.blocks_accepted_unconverged >= 1);
                CHECK_FALSE(r.converged);
                // positions marked final are exact
                for (std::size_t t = 1; t <= T; ++t)
                    if (r.final_round[t] != fp::triangular_report::never)
                        for (std::size_t j = 0; j < w; ++j) CHECK(x[t * w + j] == ref[t * w + j]);
            }
        }
    }
}

TEST_CASE("fixed_point: Jacobi round count equals the dependency depth (plus one confirming round)", "[fixed_point][triangular]") {
    // x_t = h(t, x_{max(0, t - s)}): depth(t) = ceil(t / s), D = ceil(T / s). Values are >= 1 and the
    // guess is -1, so every unfinal guess is wrong. Round k makes the depth-k values right; the
    // frozen prefix then stops at the first depth-k position that changed. After round D every value
    // is right, and the run ends unless a later round is needed to confirm: it ends at round D
    // exactly when the first depth-D position is T (nothing after it to confirm), else at D + 1.
    for (std::size_t T : {1u, 2u, 3u, 10u, 12u, 31u}) {
        for (std::size_t s : {1u, 2u, 3u, 5u, 40u}) {
            auto f = [s](vector_view<const std::size_t> pos, matrix_view<const std::int32_t> x, matrix_view<std::int32_t> out) {
                for (std::size_t r = 0; r < pos.size(); ++r) {
                    const std::size_t t = pos[r];
                    const std::size_t src = t > s ? t - s : 0;
                    out(r, 0) = (x(src, 0) * 31 + std::int32_t(t)) % 1000 + 1;
                }
            };
            std::vector<std::int32_t> x(T + 1, -1);
            x[0] = 5;
            std::vector<std::int32_t> ref = x;
            for (std::size_t t = 1; t <= T; ++t) ref[t] = (ref[t > s ? t - s : 0] * 31 + std::int32_t(t)) % 1000 + 1;
            fp::triangular_workspace<std::int32_t> ws;
            const auto r = fp::solve_jacobi(f, matrix_view<std::int32_t>(x.data(), T + 1, 1), ws);
            CHECK(x == ref);
            const std::size_t D = (T + s - 1) / s;
            const std::size_t first_of_depth_D = (D - 1) * s + 1;
            INFO("T = " << T << ", s = " << s << ", D = " << D);
            CHECK(r.rounds == (first_of_depth_D == T ? D : D + 1));
            CHECK(r.converged);

            // Starting from the answer, one round confirms it.
            auto y = ref;
            const auto r1 = fp::solve_jacobi(f, matrix_view<std::int32_t>(y.data(), T + 1, 1), ws);
            CHECK(r1.rounds == 1);
            CHECK(r1.evaluations == T);
            CHECK(y == ref);
        }
    }
}

namespace {
// A contractive continuous chain: x_t = tanh(W_t x_{t-1} + 0.5 x_{t-2}/(1+t) + c_t), width 4,
// ||W_t|| small; same operations whatever the batch.
template <class V>
struct dense_chain {
    std::size_t T, w = 4;
    std::vector<double> W, c;
    explicit dense_chain(std::size_t T_) : T(T_), W((T_ + 1) * 16), c((T_ + 1) * 4) {
        const kestrel::counter_rng rng(7, 0);
        for (std::size_t i = 0; i < W.size(); ++i) W[i] = 0.3 * (rng.uniform_double(i) - 0.5);
        for (std::size_t i = 0; i < c.size(); ++i) c[i] = rng.uniform_double(W.size() + i) - 0.5;
    }
    void eval_one(std::size_t t, matrix_view<const V> x, V* out) const {
        for (std::size_t i = 0; i < w; ++i) {
            V acc = V(c[t * w + i]);
            for (std::size_t j = 0; j < w; ++j) acc += V(W[(t * w + i) * w + j]) * x(t - 1, j);
            if (t >= 2) acc += V(0.5 / double(1 + t)) * x(t - 2, i);
            out[i] = std::tanh(acc);
        }
    }
    auto callback() const {
        return [this](vector_view<const std::size_t> pos, matrix_view<const V> x, matrix_view<V> out) {
            for (std::size_t r = 0; r < pos.size(); ++r) eval_one(pos[r], x, out.row_data(r));
        };
    }
    std::vector<V> sequential() const {
        std::vector<V> x((T + 1) * w, V(0));
        for (std::size_t j = 0; j < w; ++j) x[j] = V(0.25 * double(j + 1));
        for (std::size_t t = 1; t <= T; ++t) eval_one(t, matrix_view<const V>(x.data(), T + 1, w), &x[t * w]);
        return x;
    }
    std::vector<V> start() const {
        std::vector<V> x((T + 1) * w, V(0));
        for (std::size_t j = 0; j < w; ++j) x[j] = V(0.25 * double(j + 1));
        return x;
    }
};
}  // namespace

TEMPLATE_TEST_CASE("fixed_point: continuous chains, exact mode bit for bit and tolerance mode within its bound", "[fixed_point][triangular]", float, double) {
    using V = TestType;
    const std::size_t T = 200;
    const dense_chain<V> chain(T);
    const auto ref = chain.sequential();
    const auto f = chain.callback();
    fp::triangular_workspace<V> ws;
    {
        auto x = chain.start();
        const auto r = fp::solve_jacobi(f, matrix_view<V>(x.data(), T + 1, 4), ws);
        CHECK(x == ref);
        check_report(r, T);
        auto y = chain.start();
        const auto r2 = fp::solve_gs_jacobi(f, matrix_view<V>(y.data(), T + 1, 4), fp::block_schedule::uniform(T, 16, 3), ws);
        CHECK(y == ref);
        check_report(r2, T);
    }
    {
        // Tolerance mode: a position is accepted when its recomputation moved it by at most atol
        // (per element). The map's Lipschitz constant per position is below L = 0.3 * 4 / 2 + 0.5/3
        // < 0.77 (|W| entries <= 0.15, 4 terms; tanh' <= 1); an accepted value's error e_q then obeys
        // e_q <= atol + L e_{q-1}-ish, so e <= atol / (1 - L) < 5 atol. We allow 10 atol (plus float
        // rounding), and the contraction makes the rounds far fewer than T.
        const double atol = std::is_same_v<V, float> ? 1e-5 : 1e-10;
        fp::triangular_options o;
        o.atol = atol;
        auto x = chain.start();
        const auto r = fp::solve_jacobi(f, matrix_view<V>(x.data(), T + 1, 4), ws, o);
        CHECK(r.converged);
        double err = 0;
        for (std::size_t i = 0; i < x.size(); ++i) err = std::max(err, std::fabs(double(x[i]) - double(ref[i])));
        CHECK(err <= 10 * atol);
        CHECK(r.rounds < T / 4);
        INFO("rounds " << r.rounds);
    }
}

TEST_CASE("fixed_point: a run that hits its round limit says so, and its final prefix is exact", "[fixed_point][triangular]") {
    const std::size_t T = 40;
    const random_chain chain(T, 2, 4, 11);
    auto x0 = initial<std::int32_t>(T, 2, 1, -1);  // the guess -1 is never a value: always wrong
    const auto ref = chain.sequential(x0);
    std::size_t calls = 0;
    auto f = chain.callback(calls);
    fp::triangular_workspace<std::int32_t> ws;
    fp::triangular_options o;
    o.max_rounds = 3;
    auto x = x0;
    const auto r = fp::solve_jacobi(f, matrix_view<std::int32_t>(x.data(), T + 1, 2), ws, o);
    CHECK_FALSE(r.converged);
    CHECK(r.hit_round_limit);
    CHECK(r.rounds == 3);
    CHECK(r.final_round[T] == fp::triangular_report::never);
    std::size_t final_count = 0;
    for (std::size_t t = 1; t <= T; ++t) {
        if (r.final_round[t] == fp::triangular_report::never) continue;
        ++final_count;
        CHECK(x[2 * t] == ref[2 * t]);
        CHECK(x[2 * t + 1] == ref[2 * t + 1]);
    }
    CHECK(final_count >= 3);
    // The same limit on a hybrid that must finish blocks sequentially.
    auto y = x0;
    const auto r2 = fp::solve_gs_jacobi(f, matrix_view<std::int32_t>(y.data(), T + 1, 2), fp::block_schedule::uniform(T, 8, 1), ws, o);
    CHECK_FALSE(r2.converged);
    CHECK(r2.hit_round_limit);
    CHECK(r2.rounds == 3);
}

TEST_CASE("fixed_point: triangular solvers give identical results at 1, 2 and 3 threads", "[fixed_point][triangular]") {
    // Width 512 so that the solver's own loops run threaded; the callback batches with parallel_for.
    const std::size_t T = 48, w = 512;
    auto f = [w](vector_view<const std::size_t> pos, matrix_view<const double> x, matrix_view<double> out) {
        kestrel::parallel_for(pos.size(), kestrel::exec_policy{2}, [&](std::size_t r) {
            const std::size_t t = pos[r];
            for (std::size_t j = 0; j < w; ++j)
                out(r, j) = std::sin(0.7 * x(t - 1, j) + 0.2 * x(t - 1, (j + 1) % w)) + 1e-3 * double(t);
        });
    };
    std::vector<double> first;
    fp::triangular_report rep0;
    for (int threads : {1, 2, 3}) {
        std::vector<double> x((T + 1) * w, 0.0);
        for (std::size_t j = 0; j < w; ++j) x[j] = std::cos(double(j));
        fp::triangular_workspace<double> ws;
        fp::triangular_options o;
        o.policy = kestrel::exec_policy{threads};
        o.atol = 1e-12;
        o.window = 20;
        const auto r = fp::solve_jacobi(f, matrix_view<double>(x.data(), T + 1, w), ws, o);
        if (threads == 1) {
            first = x;
            rep0 = r;
        } else {
            CHECK(x == first);
            CHECK(r.rounds == rep0.rounds);
            CHECK(r.evaluations == rep0.evaluations);
            CHECK(r.final_round == rep0.final_round);
        }
    }
}

TEST_CASE("fixed_point: a throwing triangular callback reaches the caller at 1 and 2 threads", "[fixed_point][triangular]") {
    const std::size_t T = 30, w = 1024;
    for (int threads : {1, 2}) {
        std::size_t calls = 0;
        auto f = [&](vector_view<const std::size_t> pos, matrix_view<const double> x, matrix_view<double> out) {
            ++calls;
            kestrel::parallel_for(pos.size(), kestrel::exec_policy{threads}, [&](std::size_t r) {
                if (calls == 3 && r == pos.size() / 2) throw std::runtime_error("model failed");
                for (std::size_t j = 0; j < w; ++j) out(r, j) = 0.5 * x(pos[r] - 1, j) + 1.0;
            });
        };
        std::vector<double> x((T + 1) * w, 0.0);
        fp::triangular_workspace<double> ws;
        fp::triangular_options o;
        o.policy = kestrel::exec_policy{threads};
        CHECK_THROWS_WITH(fp::solve_jacobi(f, matrix_view<double>(x.data(), T + 1, w), ws, o), "model failed");
        calls = 0;
        CHECK_THROWS_WITH(fp::solve_gs_jacobi(f, matrix_view<double>(x.data(), T + 1, w), fp::block_schedule::uniform(T, 4, 2), ws, o),
                          "model failed");
        // The workspace stays usable.
        calls = 100;
        std::vector<double> y((T + 1) * w, 0.0);
        CHECK(fp::solve_jacobi(f, matrix_view<double>(y.data(), T + 1, w), ws, o).converged);
    }
    // And a throwing decoding model.
    fp::jacobi_decoding_workspace ws;
    std::vector<std::int32_t> prompt{1}, out(8);
    auto bad = [](vector_view<const std::int32_t>, std::size_t begin, vector_view<std::int32_t> o) {
        if (begin > 0) throw std::runtime_error("decoder failed");
        for (auto& v : o) v = 1;
        o[o.size() / 2] = 2;  // a wrong guess forces a second round
    };
    CHECK_THROWS_WITH(fp::jacobi_decode(bad, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws),
                      "decoder failed");
}

namespace {
// A toy greedy language model: the argmax of logits that depend on the last two tokens and on a
// hashed earlier context token (every position at most two calls deep in its history).
struct toy_lm {
    std::size_t V = 11;
    std::int32_t next(const std::int32_t* seq, std::size_t len) const {
        const std::int32_t a = len >= 1 ? seq[len - 1] : 0, b = len >= 2 ? seq[len - 2] : 0;
        const std::int32_t c = len >= 5 ? seq[len / 2] : 3;
        std::int32_t best = 0;
        double best_logit = -1e300;
        for (std::size_t v = 0; v < V; ++v) {
            const double logit = std::sin(1.3 * double(v) + 0.7 * a - 0.4 * b) + 0.5 * std::cos(0.9 * double(v) * double(c + 1));
            if (logit > best_logit) best_logit = logit, best = std::int32_t(v);
        }
        return best;
    }
};
}  // namespace

TEST_CASE("fixed_point: Jacobi decoding reproduces greedy decoding with every initialization", "[fixed_point][decoding]") {
    const toy_lm lm;
    const std::vector<std::int32_t> prompt{4, 7, 1};
    const std::size_t n = 40;
    // The reference: greedy decoding written here.
    std::vector<std::int32_t> seq = prompt;
    for (std::size_t t = 0; t < n; ++t) seq.push_back(lm.next(seq.data(), seq.size()));
    const std::vector<std::int32_t> ref(seq.begin() + 3, seq.end());

    std::size_t calls = 0;
    auto model = [&](vector_view<const std::int32_t> s, std::size_t begin, vector_view<std::int32_t> out) {
        ++calls;
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = lm.next(s.data(), prompt.size() + begin + i);
        return out.size();
    };
    fp::jacobi_decoding_workspace ws;
    std::vector<std::int32_t> out(n);
    auto g = fp::greedy_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, lm.V);
    CHECK(out == ref);
    CHECK(g.rounds == n);

    std::vector<std::int32_t> input(ref.begin(), ref.end());
    for (std::size_t i = 0; i < input.size(); i += 5) input[i] = (input[i] + 1) % 11;  // a noisy copy (aggressive decoding)
    for (auto init : {fp::decoding_init::fill, fp::decoding_init::copy_input, fp::decoding_init::draft}) {
        for (std::size_t window : {0u, 1u, 6u}) {
            fp::jacobi_decoding_options o;
            o.init = init;
            o.window = window;
            o.vocab_size = lm.V;
            o.fill_token = 0;
            const std::vector<std::int32_t> draft(ref.begin(), ref.begin() + 25);  // a draft right for 25 tokens
            o.source = init == fp::decoding_init::copy_input ? vector_view<const std::int32_t>(input)
                                                             : vector_view<const std::int32_t>(draft);
            std::fill(out.begin(), out.end(), -5);
            calls = 0;
            const auto r = fp::jacobi_decode(model, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, o);
            INFO("init " << int(init) << " window " << window << " rounds " << r.rounds);
            CHECK(out == ref);
            CHECK(r.converged);
            CHECK(r.rounds <= n);
            CHECK(r.rounds == calls);
            CHECK(r.final_round.size() == n);
            if (window == 1) CHECK(r.rounds == n);
            // A draft right for its first 25 tokens: those are final after round 1 (each is
            // confirmed by a prefix that is already right), so at most n - 25 + 1 rounds.
            if (init == fp::decoding_init::draft && window == 0) CHECK(r.rounds <= n - 25 + 1);
        }
    }
}
