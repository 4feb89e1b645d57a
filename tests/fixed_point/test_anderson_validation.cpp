// Every bad input of the accelerated fixed-point solvers: kestrel::invalid_argument naming the
// function and argument, before x is written.
#include <catch2/catch.hpp>

#include <kestrel/fixed_point/anderson.hpp>
#include <kestrel/fixed_point/halpern.hpp>
#include <kestrel/fixed_point/infeasibility.hpp>
#include <kestrel/fixed_point/krasnoselskii_mann.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "validation_table.hpp"

namespace kf = kestrel::fixed_point;

namespace {

const double qnan = std::numeric_limits<double>::quiet_NaN();
const double qinf = std::numeric_limits<double>::infinity();

struct row {
    std::string function, argument;
    std::function<void(std::vector<double>&)> call;  // receives x; must not modify it
};

}  // namespace

TEST_CASE("accelerated fixed-point solvers refuse bad input before writing x", "[fixed_point][anderson][validation]") {
    auto G = [](const double* x, double* g) {
        for (int i = 0; i < 4; ++i) g[i] = 0.5 * x[i] + 1.0;
    };
    auto G_nan = [](const double* x, double* g) {
        for (int i = 0; i < 4; ++i) g[i] = 0.5 * x[i];
        g[2] = qnan;
    };
    auto anderson_with = [=](auto edit) {
        return [=](std::vector<double>& x) {
            kf::anderson_options o;
            edit(o);
            kf::anderson(G, kestrel::vector_view<double>(x), o);
        };
    };
    auto km_with = [=](auto edit) {
        return [=](std::vector<double>& x) {
            kf::krasnoselskii_mann_options o;
            edit(o);
            kf::krasnoselskii_mann(G, kestrel::vector_view<double>(x), o);
        };
    };
    auto halpern_with = [=](auto edit) {
        return [=](std::vector<double>& x) {
            kf::halpern_options o;
            edit(o);
            kf::halpern(G, kestrel::vector_view<double>(x), o);
        };
    };
    using ao = kf::anderson_options;
    using ko = kf::krasnoselskii_mann_options;
    using ho = kf::halpern_options;
    const std::vector<row> table = {
        {"anderson", "options.atol", anderson_with([](ao& o) { o.atol = -1e-3; })},
        {"anderson", "options.rtol", anderson_with([](ao& o) { o.rtol = -1.0; })},
        {"anderson", "options.rtol", anderson_with([](ao& o) { o.rtol = qnan; })},
        {"anderson", "options.memory", anderson_with([](ao& o) { o.memory = -1; })},
        {"anderson", "options.memory", anderson_with([](ao& o) { o.memory = kf::anderson_max_memory + 1; })},
        {"anderson", "options.damping", anderson_with([](ao& o) { o.damping = 0.0; })},
        {"anderson", "options.damping", anderson_with([](ao& o) { o.damping = 1.5; })},
        {"anderson", "options.damping", anderson_with([](ao& o) { o.damping = qnan; })},
        {"anderson", "options.tikhonov", anderson_with([](ao& o) { o.tikhonov = -1e-8; })},
        {"anderson", "options.tikhonov", anderson_with([](ao& o) { o.tikhonov = qinf; })},
        {"anderson", "options.safeguard_factor", anderson_with([](ao& o) { o.safeguard_factor = 0.5; })},
        {"anderson", "options.safeguard_factor", anderson_with([](ao& o) { o.safeguard_factor = -2; })},
        {"anderson", "options.extrapolation_period", anderson_with([](ao& o) { o.extrapolation_period = 0; })},
        {"anderson", "policy.threads", anderson_with([](ao& o) { o.policy.threads = -1; })},
        {"anderson", "ws",
         [=](std::vector<double>& x) {
             kf::anderson_workspace<double> ws(5, 5);  // wrong size
             kf::anderson(G, kestrel::vector_view<double>(x), kf::anderson_options{}, ws);
         }},
        {"anderson", "ws",
         [=](std::vector<double>& x) {
             kf::anderson_workspace<double> ws(4, 2);  // too little memory
             kf::anderson_options o;
             o.memory = 3;
             kf::anderson(G, kestrel::vector_view<double>(x), o, ws);
         }},
        {"anderson", "x",
         [=](std::vector<double>&) {
             std::vector<double> y;
             kf::anderson(G, kestrel::vector_view<double>(y));
         }},
        {"anderson", "x",
         [=](std::vector<double>&) {
             std::vector<double> y{1.0, qnan, 0.0, 0.0};
             kf::anderson(G, kestrel::vector_view<double>(y));
         }},
        {"anderson", "G", [=](std::vector<double>& x) { kf::anderson(G_nan, kestrel::vector_view<double>(x)); }},
        {"anderson_workspace", "memory", [](std::vector<double>&) { kf::anderson_workspace<double> ws(4, -2); }},
        {"anderson_workspace", "n", [](std::vector<double>&) { kf::anderson_workspace<double> ws(0, 2); }},
        {"krasnoselskii_mann", "options.relaxation", km_with([](ko& o) { o.relaxation = 0.0; })},
        {"krasnoselskii_mann", "options.relaxation", km_with([](ko& o) { o.relaxation = 1.01; })},
        {"krasnoselskii_mann", "options.atol", km_with([](ko& o) { o.atol = -1; })},
        {"krasnoselskii_mann", "G",
         [=](std::vector<double>& x) { kf::krasnoselskii_mann(G_nan, kestrel::vector_view<double>(x)); }},
        {"halpern", "options.restart_factor", halpern_with([](ho& o) {
             o.restart = kf::restart_rule::residual;
             o.restart_factor = 1.0;
         })},
        {"halpern", "options.restart_period", halpern_with([](ho& o) {
             o.restart = kf::restart_rule::period;
             o.restart_period = 0;
         })},
        {"halpern", "options.rtol", halpern_with([](ho& o) { o.rtol = -1; })},
        {"halpern", "displacement",
         [=](std::vector<double>& x) {
             std::vector<double> v(3);
             kf::halpern(G, kestrel::vector_view<double>(x), kf::halpern_options{}, kestrel::vector_view<double>(v));
         }},
        {"halpern", "G", [=](std::vector<double>& x) { kf::halpern(G_nan, kestrel::vector_view<double>(x)); }},
        {"infimal_displacement", "iterations",
         [=](std::vector<double>& x) {
             std::vector<double> v(4);
             kf::infimal_displacement(G, kestrel::const_vector_view<double>(x), kestrel::vector_view<double>(v), 0);
         }},
        {"infimal_displacement", "v",
         [=](std::vector<double>& x) {
             std::vector<double> v(2);
             kf::infimal_displacement(G, kestrel::const_vector_view<double>(x), kestrel::vector_view<double>(v), 5);
         }},
    };
    for (const auto& r : table) {
        INFO(r.function << " / " << r.argument);
        std::vector<double> x{0.25, 0.5, 0.75, 1.0};
        const std::vector<double> before = x;
        kestrel_test::check_refusal(r.function, r.argument, [&] { r.call(x); });
        CHECK(x == before);  // nothing written (a non-finite G at x0 leaves x0 too)
    }
}

TEST_CASE("a non-finite G after some iterates is reported with the point it was evaluated at", "[fixed_point][anderson][validation]") {
    // G is finite for x[0] < 1.5 and NaN beyond; iterates increase towards 2.
    auto G = [](const double* x, double* g) { g[0] = x[0] < 1.5 ? 0.5 * x[0] + 1.0 : qnan; };
    std::vector<double> x{0.0};
    kestrel_test::check_refusal("anderson", "G", [&] {
        kf::anderson_options o;
        o.memory = 0;
        kf::anderson(G, kestrel::vector_view<double>(x), o);
    });
    CHECK(x[0] >= 1.5);  // x_1 = 1, x_2 = 1.5: the point where G failed
    CHECK(x[0] == 1.5);
}
