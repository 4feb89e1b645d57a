// Measuring a kernel on a shared machine (not part of the library).
//
// core_spinner starts a process that keeps one core busy (a shell busy loop at normal
// priority, as another user's job would) and stops it. contended_pairs times a call
// at 1 thread and at all threads, back to back in alternating order, first on the idle
// machine and then with the spinner running, and reports the medians as counters:
//   idle_speedup         t(1 thread) / t(all threads), machine idle
//   contended_slowdown   t(all threads) / t(1 thread), one core busy (target: <= 1.2)
//   contended_slowdown_max, contended_slowdown_min   the spread over the pairs
// A sample is one call repeated for at least `min_seconds`, so that a kernel of a fraction
// of a millisecond is measured over many scheduler time slices.
#pragma once

#include <benchmark/benchmark.h>

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace kestrel_bench {

class core_spinner {
public:
    // A separate program (the shell's busy loop), started with posix_spawn: unlike fork(), it
    // shares no pages with this process, so the kernel's first writes after the start pay no
    // copy-on-write faults that would bias the measurement.
    core_spinner() {
        char sh[] = "sh", c[] = "-c", loop[] = "while :; do :; done";
        char* argv[] = {sh, c, loop, nullptr};
        if (posix_spawnp(&pid_, "sh", nullptr, nullptr, argv, environ) != 0) pid_ = -1;
    }
    ~core_spinner() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            int status = 0;
            waitpid(pid_, &status, 0);
        }
    }
    core_spinner(const core_spinner&) = delete;
    core_spinner& operator=(const core_spinner&) = delete;
    bool running() const noexcept { return pid_ > 0; }

private:
    pid_t pid_ = -1;
};

/// Seconds per call of `call(threads)`, repeated for at least min_seconds.
inline double seconds_per_call(const std::function<void(int)>& call, int threads, double min_seconds) {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    long calls = 0;
    double elapsed = 0.0;
    do {
        call(threads);
        ++calls;
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < min_seconds);
    return elapsed / static_cast<double>(calls);
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

/// Paired 1-thread / all-thread samples of `call`, idle and with one core busy (see above).
inline void contended_pairs(benchmark::State& state, int all_threads, int pairs, double min_seconds,
                            const std::function<void(int)>& call) {
    std::vector<double> idle, busy;
    auto pair = [&](int i) {
        double t1, tn;
        if (i % 2 == 0) {
            t1 = seconds_per_call(call, 1, min_seconds);
            tn = seconds_per_call(call, all_threads, min_seconds);
        } else {
            tn = seconds_per_call(call, all_threads, min_seconds);
            t1 = seconds_per_call(call, 1, min_seconds);
        }
        return std::make_pair(t1, tn);
    };
    for (auto _ : state) {
        call(all_threads);  // warm up: pages touched, pool started
        for (int i = 0; i < pairs; ++i) {
            const auto [t1, tn] = pair(i);
            idle.push_back(t1 / tn);
        }
        core_spinner spinner;
        if (!spinner.running()) {
            state.SkipWithError("could not start the spinning process");
            return;
        }
        seconds_per_call(call, 1, min_seconds);  // let the spinner take its core before timing

        for (int i = 0; i < pairs; ++i) {
            const auto [t1, tn] = pair(i);
            busy.push_back(tn / t1);
        }
    }
    state.counters["idle_speedup"] = median(idle);
    state.counters["contended_slowdown"] = median(busy);
    state.counters["contended_slowdown_min"] = *std::min_element(busy.begin(), busy.end());
    state.counters["contended_slowdown_max"] = *std::max_element(busy.begin(), busy.end());
    state.counters["threads"] = all_threads;
}

}  // namespace kestrel_bench
