// Views of user memory, argument errors, and parallel loops.
#include <catch2/catch.hpp>

#include <kestrel/core.hpp>

#include <Eigen/Core>

#include <atomic>
#include <numeric>
#include <vector>

#if KESTREL_HAS_OPENMP
#include <omp.h>
#endif

using kestrel::matrix_view;
using kestrel::vector_view;

TEST_CASE("vector_view wraps raw pointers, std::vector and contiguous Eigen objects without copying") {
    std::vector<float> v(5, 1.0f);
    vector_view<float> a(v);
    CHECK(a.data() == v.data());
    CHECK(a.size() == 5);
    vector_view<const float> c = a;  // mutable -> read-only
    CHECK(c.data() == v.data());
    const std::vector<double> cv(3, 2.0);
    vector_view<const double> cd(cv);
    CHECK(cd[2] == 2.0);

    Eigen::VectorXd e = Eigen::VectorXd::LinSpaced(4, 0, 3);
    vector_view<double> ev(e);
    CHECK(ev.data() == e.data());
    ev[1] = 10;
    CHECK(e[1] == 10);
    Eigen::MatrixXf m(3, 4);  // column-major, no padding: contiguous
    CHECK(vector_view<float>(m).size() == 12);
    Eigen::Map<Eigen::ArrayXd> map(e.data(), 4);
    CHECK(vector_view<const double>(map).data() == e.data());

    // Non-contiguous Eigen objects are refused with a message.
    Eigen::MatrixXd big(5, 5);
    CHECK_THROWS_WITH(vector_view<double>(big.row(1)), Catch::Contains("not contiguous"));
    CHECK_THROWS_WITH(vector_view<double>(big.block(0, 0, 2, 2)), Catch::Contains("not contiguous"));
    CHECK(vector_view<double>(big.col(3)).data() == big.data() + 15);

    CHECK_THROWS_WITH(vector_view<double>(nullptr, 3),
                      Catch::Contains("kestrel::vector_view") && Catch::Contains("null pointer with size 3"));
    CHECK(vector_view<double>(nullptr, 0).empty());
    CHECK_THROWS_WITH(a.subview(3, 3), Catch::Contains("exceeds size 5"));
    CHECK(a.subview(1, 4).data() == v.data() + 1);
}

TEST_CASE("matrix_view is row-major with a row stride, from pointers, vectors and row-major Eigen") {
    std::vector<double> v(12);
    std::iota(v.begin(), v.end(), 0.0);
    matrix_view<double> m(v, 3, 4);
    CHECK(m(2, 1) == 9.0);
    CHECK(m.row(1)[0] == 4.0);
    CHECK(m.flat().size() == 12);
    matrix_view<const double> padded(v.data(), 2, 3, 5);  // rows start every 5 elements
    CHECK(padded(1, 2) == 7.0);
    CHECK(!padded.contiguous());
    CHECK_THROWS_WITH(padded.flat(), Catch::Contains("not contiguous"));
    CHECK_THROWS_WITH(matrix_view<double>(v, 5, 4), Catch::Contains("size 12 does not match rows * cols (20)"));
    CHECK_THROWS_WITH(matrix_view<double>(v.data(), 3, 4, 2), Catch::Contains("row stride 2"));

    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> e(3, 5);
    e.setZero();
    e(1, 2) = 4.0f;
    matrix_view<const float> ev(e);
    CHECK(ev(1, 2) == 4.0f);
    CHECK(ev.row_stride() == 5);
    matrix_view<const float> blk(e.block(1, 1, 2, 3));
    CHECK(blk(0, 1) == 4.0f);
    CHECK(blk.row_stride() == 5);
}

TEST_CASE("argument errors name the function, the argument and the value") {
    CHECK_THROWS_AS(kestrel::require_positive(-2.5, "my_kernel", "eta"), std::invalid_argument);
    CHECK_THROWS_WITH(kestrel::require_positive(-2.5, "my_kernel", "eta"),
                      "kestrel::my_kernel: argument 'eta': must be > 0, got -2.5");
    CHECK_THROWS_WITH(kestrel::require_in_range(std::nan(""), 0.0, 1.0, "f", "p"), Catch::Contains("must lie in [0, 1]"));
    CHECK_THROWS_WITH(kestrel::require_finite(INFINITY, "f", "x"), Catch::Contains("must be finite"));
    CHECK_THROWS_WITH(kestrel::require_size(3, 4, "f", "x", "y's size"), "kestrel::f: argument 'x': size 3 does not match y's size (4)");
    CHECK_NOTHROW(kestrel::require_nonnegative(0.0, "f", "x"));
}

TEST_CASE("parallel_for visits every index once, deterministic_reduce is thread-count invariant") {
    for (int threads : {1, 2, 3}) {
        std::vector<std::atomic<int>> hits(1001);
        for (auto& h : hits) h = 0;
        kestrel::parallel_for(hits.size(), kestrel::exec_policy{threads}, [&](std::size_t i) { hits[i]++; });
        for (auto& h : hits) REQUIRE(h == 1);
        std::vector<std::atomic<int>> cover(100003);
        for (auto& h : cover) h = 0;
        kestrel::parallel_chunks(cover.size(), 64, kestrel::exec_policy{threads}, [&](std::size_t b, std::size_t e) {
            REQUIRE(b % 64 == 0);
            for (std::size_t i = b; i < e; ++i) cover[i]++;
        });
        for (auto& h : cover) REQUIRE(h == 1);
    }
    auto reduce = [](int threads) {
        return kestrel::deterministic_reduce(
            1000, kestrel::exec_policy{threads}, 0.0, [](std::size_t b) { return 1.0 / (1.0 + b * 0.37); },
            [](double a, double b) { return a + b; });
    };
    CHECK(reduce(1) == reduce(2));
    CHECK(reduce(1) == reduce(0));
}

TEST_CASE("a kernel called inside the caller's parallel region opens no nested team") {
#if KESTREL_HAS_OPENMP
    std::atomic<int> inner_team_size_max{0};
    std::atomic<int> wrong_thread{0};
#pragma omp parallel num_threads(2)
    {
        CHECK(kestrel::effective_threads(kestrel::exec_policy{4}) == 1);
        const int me = omp_get_thread_num();
        kestrel::parallel_for(8, kestrel::exec_policy{2}, [&](std::size_t) {
            int s = omp_get_num_threads();
            int cur = inner_team_size_max.load();
            while (s > cur && !inner_team_size_max.compare_exchange_weak(cur, s)) {
            }
            if (omp_get_thread_num() != me) wrong_thread++;
        });
    }
    CHECK(inner_team_size_max.load() == 2);  // the caller's team, not a nested one
    CHECK(wrong_thread.load() == 0);
    CHECK(kestrel::effective_threads(kestrel::exec_policy{2}) == 2);
#else
    CHECK(kestrel::effective_threads(kestrel::exec_policy{4}) == 1);
#endif
}

TEST_CASE("build_info reports the configuration") {
    CHECK(kestrel::build_info::version_major == 0);
    CHECK(kestrel::build_info::version_minor == 1);
    CHECK(kestrel::build_info::openmp == (KESTREL_HAS_OPENMP != 0));
    CHECK(kestrel::build_info::xsimd == (KESTREL_HAS_XSIMD != 0));
    CHECK(kestrel::build_info::exceptions);
}
