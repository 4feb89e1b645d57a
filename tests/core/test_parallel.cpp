// The parallel layer: every iteration runs once, loops stop when asked, exceptions from a
// body reach the caller at any thread count, nested and concurrent calls run serially, and
// bad thread counts are refused.
#include <catch2/catch.hpp>

#include <kestrel/core.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct user_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const int thread_counts[] = {1, 2, 3, 4};

}  // namespace

TEST_CASE("parallel loops run every iteration exactly once, over many back-to-back calls") {
    for (int threads : thread_counts) {
        const kestrel::exec_policy policy{threads};
        std::vector<std::atomic<int>> hits(257);
        for (int call = 0; call < 2000; ++call) {
            const std::size_t count = 1 + static_cast<std::size_t>(call) % hits.size();
            kestrel::parallel_for(count, policy, [&](std::size_t i) { hits[i].fetch_add(1); });
        }
        // Iteration i ran in every call whose count exceeded i.
        for (std::size_t i = 0; i < hits.size(); ++i) {
            int expected = 0;
            for (int call = 0; call < 2000; ++call)
                if (1 + static_cast<std::size_t>(call) % hits.size() > i) ++expected;
            REQUIRE(hits[i].load() == expected);
        }
    }
}

TEST_CASE("parallel_for runs every iteration once when the threads outnumber its claim ranges") {
    // parallel_for gives each participant a contiguous range to claim first, at most 8 ranges:
    // with 9 and 12 threads some helpers share a range and every thread steals; counts around
    // the range boundaries (fewer iterations than threads, one more or less than a multiple).
    for (int threads : {5, 8, 9, 12}) {
        for (std::size_t count : {std::size_t(2), std::size_t(7), std::size_t(8), std::size_t(9), std::size_t(17),
                                  std::size_t(63), std::size_t(65), std::size_t(4099)}) {
            std::vector<std::atomic<int>> hits(count);
            for (int call = 0; call < 50; ++call)
                kestrel::parallel_for(count, kestrel::exec_policy{threads}, [&](std::size_t i) { hits[i].fetch_add(1); });
            int wrong = 0;
            for (auto& h : hits) wrong += h.load() != 50;
            INFO("threads " << threads << ", count " << count);
            CHECK(wrong == 0);
        }
        // parallel_for_until keeps one range in increasing order at these counts too.
        const std::size_t n = 20000, stop_at = 777;
        std::vector<std::atomic<int>> ran(n);
        kestrel::parallel_for_until(n, kestrel::exec_policy{threads}, [&](std::size_t i) -> bool {
            ran[i]++;
            return i != stop_at;
        });
        int missing = 0;
        for (std::size_t i = 0; i <= stop_at; ++i) missing += ran[i].load() != 1;
        CHECK(missing == 0);
    }
}

TEST_CASE("current_loop_slot indexes per-thread scratch within the thread count") {
    for (int threads : thread_counts) {
        std::vector<std::atomic<int>> used(static_cast<std::size_t>(threads));
        std::atomic<int> out_of_range{0};
        kestrel::parallel_for(20000, kestrel::exec_policy{threads}, [&](std::size_t) {
            const int s = kestrel::current_loop_slot();
            if (s < 0 || s >= threads)
                out_of_range++;
            else
                used[static_cast<std::size_t>(s)]++;
        });
        CHECK(out_of_range.load() == 0);
        int total = 0;
        for (auto& u : used) total += u.load();
        CHECK(total == 20000);
    }
}

TEST_CASE("parallel_for_until runs every iteration before the first stop and starts none after it") {
    for (int threads : thread_counts) {
        const std::size_t n = 100000, stop_at = 5000;
        std::vector<std::atomic<int>> ran(n);
        kestrel::parallel_for_until(n, kestrel::exec_policy{threads}, [&](std::size_t i) -> bool {
            ran[i]++;
            return i != stop_at;
        });
        for (std::size_t i = 0; i <= stop_at; ++i) REQUIRE(ran[i].load() == 1);
        // At most one iteration per other thread can have been claimed before the stop.
        std::size_t after = 0;
        for (std::size_t i = stop_at + 1; i < n; ++i) after += static_cast<std::size_t>(ran[i].load());
        CHECK(after <= static_cast<std::size_t>(threads - 1));
    }
}

TEST_CASE("an exception thrown by a loop body reaches the caller at any thread count") {
    for (int threads : thread_counts) {
        INFO("threads " << threads);
        const kestrel::exec_policy policy{threads};
        const std::size_t n = 200000;
        std::atomic<std::size_t> started{0};
        try {
            // Every 1000th index throws, so each thread meets a throw within 1000 of its claims
            // wherever it starts (threads claim from their own ranges first; one fixed index
            // could come after most iterations when the thread whose range holds it starts late,
            // or is descheduled between its throw and the stop, on a loaded machine).
            kestrel::parallel_for(n, policy, [&](std::size_t i) {
                started++;
                if (i % 1000 == 777) throw user_error("metric failed at index 777 mod 1000");
            });
            FAIL("no exception");
        } catch (const user_error& e) {
            CHECK(std::string(e.what()) == "metric failed at index 777 mod 1000");
        }
        // The other threads stopped taking work: far fewer than n iterations started.
        CHECK(started.load() < n / 2);

        // Several bodies throwing: exactly one exception, one of theirs, reaches the caller.
        CHECK_THROWS_AS(kestrel::parallel_for(n, policy,
                                              [&](std::size_t i) {
                                                  if (i % 3 == 0) throw user_error("every third");
                                              }),
                        user_error);
        // The same through every primitive that runs user code.
        CHECK_THROWS_AS(kestrel::parallel_for_dynamic(1000, policy,
                                                      [](std::size_t i) {
                                                          if (i == 999) throw user_error("last");
                                                      }),
                        user_error);
        CHECK_THROWS_AS(kestrel::parallel_for_until(1000, policy,
                                                    [](std::size_t i) -> bool {
                                                        if (i == 3) throw user_error("until");
                                                        return true;
                                                    }),
                        user_error);
        CHECK_THROWS_AS(kestrel::parallel_chunks(1 << 20, 64, policy,
                                                 [](std::size_t, std::size_t e) {
                                                     if (e == std::size_t(1) << 20) throw user_error("chunk");
                                                 }),
                        user_error);
        CHECK_THROWS_AS(kestrel::deterministic_reduce(
                            100, policy, 0.0,
                            [](std::size_t b) -> double {
                                if (b == 50) throw user_error("reduce");
                                return 1.0;
                            },
                            [](double a, double b) { return a + b; }),
                        user_error);
        // A standard exception of another type keeps its type.
        CHECK_THROWS_AS(kestrel::parallel_for(100, policy, [](std::size_t) { throw std::bad_alloc(); }),
                        std::bad_alloc);

        // The layer is usable again afterwards and computes the right thing.
        std::atomic<long long> sum{0};
        kestrel::parallel_for(10000, policy, [&](std::size_t i) { sum += static_cast<long long>(i); });
        CHECK(sum.load() == 10000LL * 9999 / 2);
    }
}

TEST_CASE("a kestrel loop inside a loop body runs on the body's thread") {
    // (A serial outer loop, threads = 1, is plain user code: kernels called in it may thread.)
    for (int threads : {2, 3, 4}) {
        std::atomic<int> foreign{0}, inner_total{0};
        kestrel::parallel_for(64, kestrel::exec_policy{threads}, [&](std::size_t) {
            const auto me = std::this_thread::get_id();
            CHECK(kestrel::effective_threads(kestrel::exec_policy{4}) == 1);
            kestrel::parallel_for(100, kestrel::exec_policy{4}, [&](std::size_t) {
                if (std::this_thread::get_id() != me) foreign++;
                inner_total++;
            });
        });
        CHECK(foreign.load() == 0);
        CHECK(inner_total.load() == 6400);
    }
}

TEST_CASE("a loop nested in a loop body sees slot 0, and the body's slot comes back after it") {
    // Kernels size per-thread scratch by effective_threads() (1 when nested) and index it by
    // current_loop_slot(): on a pool thread (outer slot >= 1) the nested loop must say 0.
    for (int threads : {2, 3}) {
        std::atomic<int> nested_nonzero{0}, restored_wrong{0}, outer_slots_seen{0};
        kestrel::parallel_for(256, kestrel::exec_policy{threads}, [&](std::size_t i) {
            const int outer = kestrel::current_loop_slot();
            if (outer > 0) outer_slots_seen++;
            kestrel::parallel_for(10, kestrel::exec_policy{threads}, [&](std::size_t) {
                if (kestrel::current_loop_slot() != 0) nested_nonzero++;
            });
            kestrel::parallel_chunks(100, 1, kestrel::exec_policy{threads}, [&](std::size_t, std::size_t) {
                if (kestrel::current_loop_slot() != 0) nested_nonzero++;
            });
            try {
                kestrel::parallel_for(3, kestrel::exec_policy{threads}, [&](std::size_t j) {
                    if (j == 1 && i % 2 == 0) throw std::runtime_error("inner");
                });
            } catch (const std::runtime_error&) {
            }
            if (kestrel::current_loop_slot() != outer) restored_wrong++;
            // Give the helpers time to claim iterations, so pool threads run some bodies.
            std::this_thread::sleep_for(std::chrono::microseconds(20));
        });
        CHECK(nested_nonzero.load() == 0);
        CHECK(restored_wrong.load() == 0);
        INFO("bodies that ran on a pool thread: " << outer_slots_seen.load());
    }
}

TEST_CASE("loops called from several program threads at once all complete correctly") {
    constexpr int callers = 4;
    std::vector<long long> sums(callers, 0);
    std::vector<std::thread> ts;
    for (int c = 0; c < callers; ++c) {
        ts.emplace_back([c, &sums] {
            for (int rep = 0; rep < 200; ++rep) {
                std::atomic<long long> s{0};
                kestrel::parallel_for(1000, kestrel::exec_policy{2}, [&](std::size_t i) { s += static_cast<long long>(i) + c; });
                sums[static_cast<std::size_t>(c)] += s.load();
            }
        });
    }
    for (auto& t : ts) t.join();
    for (int c = 0; c < callers; ++c) CHECK(sums[static_cast<std::size_t>(c)] == 200LL * (999LL * 1000 / 2 + 1000LL * c));
}

TEST_CASE("a negative thread count is refused, naming the argument") {
    const kestrel::exec_policy bad{-2};
    CHECK_THROWS_WITH(kestrel::parallel_for(10, bad, [](std::size_t) {}),
                      "kestrel::parallel_for: argument 'policy.threads': must be >= 0 (0 = default), got -2");
    CHECK_THROWS_AS(kestrel::parallel_chunks(10, 1, bad, [](std::size_t, std::size_t) {}), kestrel::invalid_argument);
    CHECK_THROWS_WITH(kestrel::require_valid_policy(bad, "my_kernel"), Catch::Contains("kestrel::my_kernel"));
    CHECK_NOTHROW(kestrel::require_valid_policy(kestrel::exec_policy{0}, "my_kernel"));
}

TEST_CASE("parallel_chunks covers 0 to n with aligned chunks at any thread count") {
    for (int threads : thread_counts) {
        for (std::size_t n : {std::size_t(1), std::size_t(1000), std::size_t(1) << 15, (std::size_t(1) << 20) + 13}) {
            std::vector<std::atomic<int>> cover(n);
            kestrel::parallel_chunks(n, 64, kestrel::exec_policy{threads}, [&](std::size_t b, std::size_t e) {
                CHECK(b % 64 == 0);
                for (std::size_t i = b; i < e; ++i) cover[i]++;
            });
            std::size_t wrong = 0;
            for (auto& c : cover) wrong += c.load() != 1;
            REQUIRE(wrong == 0);
        }
    }
}
