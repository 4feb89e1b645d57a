// Every error path of the triangular solvers and of Jacobi decoding: kestrel::invalid_argument
// naming the public function and the argument, raised before anything is written (x and the
// output hold what they held).
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/jacobi_decoding.hpp>
#include <kestrel/fixed_point/triangular_system.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "validation_table.hpp"

namespace fp = kestrel::fixed_point;
using kestrel::matrix_view;
using kestrel::vector_view;
using kestrel_test::check_refusal;

namespace {
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}
}  // namespace

TEST_CASE("fixed_point: triangular solvers validation table", "[fixed_point][triangular][validation]") {
    const std::size_t T = 6, w = 2;
    auto good = [](vector_view<const std::size_t> pos, matrix_view<const double> x, matrix_view<double> out) {
        for (std::size_t r = 0; r < pos.size(); ++r)
            for (std::size_t j = 0; j < out.cols(); ++j) out(r, j) = 0.5 * x(pos[r] - 1, j) + 1;
    };
    // Returns NaN for position 4 (in the first round: x must stay untouched).
    auto nan_eval = [](vector_view<const std::size_t> pos, matrix_view<const double> x, matrix_view<double> out) {
        for (std::size_t r = 0; r < pos.size(); ++r)
            for (std::size_t j = 0; j < out.cols(); ++j) out(r, j) = pos[r] == 4 ? std::nan("") : x(pos[r] - 1, j);
    };
    auto inf_eval = [](vector_view<const std::size_t> pos, matrix_view<const double>, matrix_view<double> out) {
        for (std::size_t r = 0; r < pos.size(); ++r)
            for (std::size_t j = 0; j < out.cols(); ++j) out(r, j) = HUGE_VAL;
    };
    // Says it wrote one row fewer than asked.
    auto short_eval = [](vector_view<const std::size_t> pos, matrix_view<const double>, matrix_view<double> out) -> std::size_t {
        for (std::size_t r = 0; r < pos.size(); ++r)
            for (std::size_t j = 0; j < out.cols(); ++j) out(r, j) = 1;
        return pos.size() - 1;
    };
    auto negative_eval = [](vector_view<const std::size_t>, matrix_view<const double>, matrix_view<double>) -> int { return -1; };

    enum class which { jacobi, gauss_seidel, hybrid };
    struct row {
        const char* argument;
        std::function<void(std::vector<double>&, std::size_t& rows, fp::triangular_options&, fp::block_schedule&)> setup;
        int eval = 0;  // 0 good, 1 NaN, 2 inf, 3 short count, 4 negative count
    };
    const std::vector<row> rows = {
        {"x", [](auto&, auto& n, auto&, auto&) { n = 1; }},  // T = 0
        {"x", [](auto& x, auto&, auto&, auto&) { x[1] = std::nan(""); }},       // x_0
        {"x", [](auto& x, auto&, auto&, auto&) { x[9] = HUGE_VAL; }},           // the guess
        {"options.atol", [](auto&, auto&, auto& o, auto&) { o.atol = -1e-9; }},
        {"options.atol", [](auto&, auto&, auto& o, auto&) { o.atol = std::nan(""); }},
        {"options.rtol", [](auto&, auto&, auto& o, auto&) { o.rtol = -1; }},
        {"options.rtol", [](auto&, auto&, auto& o, auto&) { o.rtol = HUGE_VAL; }},
        {"policy.threads", [](auto&, auto&, auto& o, auto&) { o.policy.threads = -2; }},
        {"eval", [](auto&, auto&, auto&, auto&) {}, 1},
        {"eval", [](auto&, auto&, auto&, auto&) {}, 2},
        {"eval", [](auto&, auto&, auto&, auto&) {}, 3},
        {"eval", [](auto&, auto&, auto&, auto&) {}, 4},
    };
    for (which kind : {which::jacobi, which::gauss_seidel, which::hybrid}) {
        const char* fn = kind == which::jacobi ? "solve_jacobi" : kind == which::gauss_seidel ? "solve_gauss_seidel" : "solve_gs_jacobi";
        for (const auto& rw : rows) {
            std::vector<double> x((T + 1) * w, 0.0);
            std::size_t nrows = T + 1;
            fp::triangular_options o;
            fp::block_schedule b = fp::block_schedule::uniform(T, 3, 2);
            rw.setup(x, nrows, o, b);
            const auto before = x;
            fp::triangular_workspace<double> ws;
            const matrix_view<double> X(x.data(), nrows, w);
            INFO(fn << " argument " << rw.argument << " eval " << rw.eval);
            auto run = [&](auto&& f) {
                if (kind == which::jacobi) fp::solve_jacobi(f, X, ws, o);
                else if (kind == which::gauss_seidel) fp::solve_gauss_seidel(f, X, ws, o);
                else fp::solve_gs_jacobi(f, X, b, ws, o);
            };
            check_refusal(fn, rw.argument, [&] {
                switch (rw.eval) {
                    case 0: run(good); break;
                    case 1: run(nan_eval); break;
                    case 2: run(inf_eval); break;
                    case 3: run(short_eval); break;
                    default: run(negative_eval); break;
                }
            });
            // Argument errors and a bad first-round output leave x as it was. (Gauss-Seidel meets
            // position 4 in its fourth round, after writing positions 1-3: only x_4.. are untouched.)
            if (!(kind == which::gauss_seidel && rw.eval == 1)) CHECK(same_bits(x, before));
        }
    }

    // Bad block lists.
    const std::vector<std::pair<const char*, std::function<void(fp::block_schedule&)>>> blocks = {
        {"blocks.sizes", [](auto& b) { b.sizes.clear(); b.max_rounds.clear(); }},
        {"blocks.sizes", [](auto& b) { b.sizes = {3, 0, 3}; b.max_rounds = {1, 1, 1}; }},
        {"blocks.sizes", [](auto& b) { b.sizes = {3, 2}; b.max_rounds = {1, 1}; }},
        {"blocks.sizes", [](auto& b) { b.sizes = {3, 4}; b.max_rounds = {1, 1}; }},
        {"blocks.sizes", [](auto& b) { b.sizes = {SIZE_MAX, 7}; b.max_rounds = {1, 1}; }},  // a sum that wraps
        {"blocks.max_rounds", [](auto& b) { b.sizes = {3, 3}; b.max_rounds = {1}; }},
        {"blocks.max_rounds", [](auto& b) { b.sizes = {3, 3}; b.max_rounds = {1, 0}; }},
        {"blocks.on_limit", [](auto& b) { b.on_limit = static_cast<fp::block_limit_action>(5); }},
    };
    for (const auto& [arg, setup] : blocks) {
        std::vector<double> x((T + 1) * w, 0.0);
        auto b = fp::block_schedule::uniform(T, 3, 2);
        setup(b);
        fp::triangular_workspace<double> ws;
        INFO("argument " << arg);
        check_refusal("solve_gs_jacobi", arg, [&] { fp::solve_gs_jacobi(good, matrix_view<double>(x.data(), T + 1, w), b, ws); });
        CHECK(same_bits(x, std::vector<double>((T + 1) * w, 0.0)));
    }
    check_refusal("block_schedule::uniform", "block", [] { fp::block_schedule::uniform(10, 0, 1); });

    // Integer states are compared exactly: a tolerance is refused.
    std::vector<int> xi(T + 1, 0);
    fp::triangular_workspace<int> wsi;
    fp::triangular_options oi;
    oi.atol = 0.5;
    auto ieval = [](vector_view<const std::size_t> pos, matrix_view<const int>, matrix_view<int> out) {
        for (std::size_t r = 0; r < pos.size(); ++r) out(r, 0) = 1;
    };
    check_refusal("solve_jacobi", "options.atol", [&] { fp::solve_jacobi(ieval, matrix_view<int>(xi.data(), T + 1, 1), wsi, oi); });
    // Width 0.
    check_refusal("solve_jacobi", "x", [&] { fp::solve_jacobi(ieval, matrix_view<int>(xi.data(), T + 1, 0), wsi); });
}

TEST_CASE("fixed_point: Jacobi decoding validation table", "[fixed_point][decoding][validation]") {
    const std::vector<std::int32_t> prompt{1, 2};
    auto good = [](vector_view<const std::int32_t>, std::size_t, vector_view<std::int32_t> out) {
        for (auto& v : out) v = 3;
    };
    auto out_of_vocab = [](vector_view<const std::int32_t>, std::size_t, vector_view<std::int32_t> out) {
        for (auto& v : out) v = 3;
        out[out.size() - 1] = 50;
    };
    auto negative = [](vector_view<const std::int32_t>, std::size_t, vector_view<std::int32_t> out) {
        for (auto& v : out) v = -1;
    };
    auto short_count = [](vector_view<const std::int32_t>, std::size_t, vector_view<std::int32_t> out) -> std::size_t {
        for (auto& v : out) v = 3;
        return out.size() + 1;
    };
    const std::vector<std::int32_t> bad_source{1, 99};
    const std::vector<std::int32_t> bad_prompt{1, 20};
    struct row {
        const char* argument;
        std::function<void(fp::jacobi_decoding_options&, std::size_t& n, const std::vector<std::int32_t>*& p)> setup;
        int model = 0;
    };
    const std::vector<row> rows = {
        {"output", [](auto&, auto& n, auto&) { n = 0; }},
        {"options.init", [](auto& o, auto&, auto&) { o.init = static_cast<fp::decoding_init>(4); }},
        {"options.fill_token", [](auto& o, auto&, auto&) { o.fill_token = 10; }},
        {"options.fill_token", [](auto& o, auto&, auto&) { o.fill_token = -3; }},
        {"options.source", [&](auto& o, auto&, auto&) { o.init = fp::decoding_init::copy_input; o.source = vector_view<const std::int32_t>(bad_source); }},
        {"prompt", [&](auto&, auto&, auto& p) { p = &bad_prompt; }},
        {"model", [](auto&, auto&, auto&) {}, 1},
        {"model", [](auto&, auto&, auto&) {}, 2},
        {"model", [](auto&, auto&, auto&) {}, 3},
    };
    for (const auto& rw : rows) {
        fp::jacobi_decoding_options o;
        o.vocab_size = 10;
        std::size_t n = 6;
        const std::vector<std::int32_t>* p = &prompt;
        rw.setup(o, n, p);
        std::vector<std::int32_t> out(n, 77);
        fp::jacobi_decoding_workspace ws;
        INFO("argument " << rw.argument << " model " << rw.model);
        check_refusal("jacobi_decode", rw.argument, [&] {
            const vector_view<const std::int32_t> pv(*p);
            const vector_view<std::int32_t> ov(out);
            switch (rw.model) {
                case 0: fp::jacobi_decode(good, pv, ov, ws, o); break;
                case 1: fp::jacobi_decode(out_of_vocab, pv, ov, ws, o); break;
                case 2: fp::jacobi_decode(negative, pv, ov, ws, o); break;
                default: fp::jacobi_decode(short_count, pv, ov, ws, o); break;
            }
        });
        CHECK(out == std::vector<std::int32_t>(n, 77));
    }
    std::vector<std::int32_t> out(4, 77);
    fp::jacobi_decoding_workspace ws;
    check_refusal("greedy_decode", "model", [&] {
        fp::greedy_decode(out_of_vocab, vector_view<const std::int32_t>(prompt), vector_view<std::int32_t>(out), ws, 10);
    });
}
