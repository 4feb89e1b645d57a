// A model or per-step callback that throws: the exception reaches the caller of sample() at
// 1 and 2 threads (the sampler calls them on the calling thread, between its parallel passes),
// and the workspace stays usable for the next call.
#include <catch2/catch.hpp>

#include <kestrel/diffusion.hpp>

#include <stdexcept>
#include <vector>

#include "diffusion_test_util.hpp"

using namespace kestrel;
using namespace kestrel::diffusion;

namespace {
struct model_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
}  // namespace

TEST_CASE("a model or step callback that throws reaches the caller of sample at any thread count") {
    const auto sch = noise_schedule::linear_vp();
    const auto grid = uniform_logsnr_grid(sch, 12, 1.0, 1e-3);
    const kt::gaussian_problem good;
    for (int threads : {1, 2}) {
        INFO("threads " << threads);
        sampler_options op;
        op.policy = exec_policy{threads};
        const std::size_t n = std::size_t(1) << 16;  // above the parallel threshold
        std::vector<double> x(n, 0.3);
        sampler_workspace<double> ws;
        int calls = 0;
        auto failing = [&](vector_view<const double> xs, const grid_point& p, vector_view<double> out) {
            if (++calls == 4) throw model_failure("model failed at call 4");
            good(xs, p, out);
        };
        CHECK_THROWS_AS(sample(failing, sch, grid, op, make_view(x), ws), model_failure);
        CHECK(calls == 4);  // nothing was called after the throw

        std::vector<double> y(n, 0.3);
        auto on_step = [](const auto& info) {
            if (info.index == 2) throw model_failure("callback failed");
        };
        CHECK_THROWS_AS(sample(good, sch, grid, op, make_view(y), ws, on_step), model_failure);

        // The same workspace afterwards: a full run equals a run in a fresh workspace.
        std::vector<double> a(n, 0.3), b(n, 0.3);
        sample(good, sch, grid, op, make_view(a), ws);
        sampler_workspace<double> fresh;
        sample(good, sch, grid, op, make_view(b), fresh);
        CHECK(a == b);
    }
}
