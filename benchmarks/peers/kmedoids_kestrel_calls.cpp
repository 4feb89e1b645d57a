// Kestrel's side of the R peer comparison (benchmarks/peers/kmedoids_r_pam.sh), on the very
// matrices and initial medoids the R script reads, run right after R on the same machine.
// Compiled by the peer script like the benchmark suite (-O3 -march=native -fopenmp).
//
// usage: kmedoids_kestrel_calls <dir> <n> <k> <reps> <algorithm>...   (pam fastpam1 fastpam2 fasterpam)
//
// For each algorithm and each thread count (1, and all threads when there are several), <reps>
// times (order alternating), three timings:
//   swap_s       the SWAP routine alone, validate_input = false (what the benchmarks time)
//   whole_s      the call as a user makes it by default: wrap the n x n matrix in a
//                dense_dissimilarity view, swap_options{} (validate_input = true: the input
//                check), SWAP, the returned clustering (medoids, labels, loss)
//   whole_sil_s  whole_s plus kestrel::kmedoids::silhouette of the result: R's pam() also
//                returns silhouette widths, so this is the same information R hands back
// Prints CSV lines  n,k,algorithm,threads,rep,swap_s,whole_s,whole_sil_s,swap_cpu_s,whole_cpu_s,whole_sil_cpu_s,loss
// (wall times, then CPU times of the calling thread: with 1 thread the whole call runs on it,
// and on a shared machine its CPU time is what another process's load does not inflate).
#include <kestrel/kmedoids.hpp>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace km = kestrel::kmedoids;

namespace {

struct stamp {
    double wall, cpu;
};

stamp now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return {std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(),
            double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec)};
}

stamp since(const stamp& s) {
    const stamp e = now();
    return {e.wall - s.wall, e.cpu - s.cpu};
}

km::clustering run(const std::string& algorithm, const km::dense_dissimilarity<double>& d,
                   const std::vector<std::size_t>& m0, const km::swap_options& o) {
    if (algorithm == "pam") return km::pam_swap(d, m0, o);
    if (algorithm == "fastpam1") return km::fastpam1(d, m0, o);
    if (algorithm == "fastpam2") return km::fastpam2(d, m0, o);
    if (algorithm == "fasterpam") return km::fasterpam(d, m0, o);
    std::fprintf(stderr, "unknown algorithm %s\n", algorithm.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s <dir> <n> <k> <reps> <algorithm>...\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const std::size_t n = std::strtoul(argv[2], nullptr, 10), k = std::strtoul(argv[3], nullptr, 10);
    const int reps = std::atoi(argv[4]);
    std::vector<double> matrix(n * n);
    const std::string bin = dir + "/kmedoids_n" + std::to_string(n) + ".bin";
    std::FILE* f = std::fopen(bin.c_str(), "rb");
    if (!f || std::fread(matrix.data(), sizeof(double), matrix.size(), f) != matrix.size()) {
        std::fprintf(stderr, "cannot read %s\n", bin.c_str());
        return 1;
    }
    std::fclose(f);
    std::vector<std::size_t> m0;
    const std::string ini = dir + "/kmedoids_n" + std::to_string(n) + "_k" + std::to_string(k) + ".init";
    if (std::FILE* g = std::fopen(ini.c_str(), "r")) {
        unsigned long v;
        while (std::fscanf(g, "%lu", &v) == 1) m0.push_back(v - 1);  // the file is 1-based, for R
        std::fclose(g);
    }
    if (m0.size() != k) {
        std::fprintf(stderr, "cannot read %zu medoids from %s\n", k, ini.c_str());
        return 1;
    }
    std::vector<int> threads{1};
    if (kestrel::effective_threads() > 1) threads.push_back(kestrel::effective_threads());

    for (int a = 5; a < argc; ++a) {
        const std::string algorithm = argv[a];
        for (int t : threads) {
            km::swap_options bare;
            bare.validate_input = false;
            bare.policy = kestrel::exec_policy{t};
            km::swap_options by_default;  // what a user gets without setting anything but threads
            by_default.policy = kestrel::exec_policy{t};
            for (int r = 0; r < reps; ++r) {
                stamp t_swap{}, t_whole{}, t_sil{};
                double loss = 0;
                auto swap_only = [&] {
                    const km::dense_dissimilarity<double> d(kestrel::matrix_view<const double>(matrix.data(), n, n));
                    const stamp s = now();
                    const km::clustering c = run(algorithm, d, m0, bare);
                    t_swap = since(s);
                    loss = c.loss;
                };
                auto whole = [&] {
                    const stamp s = now();
                    const km::dense_dissimilarity<double> d(kestrel::matrix_view<const double>(matrix.data(), n, n));
                    const km::clustering c = run(algorithm, d, m0, by_default);
                    t_whole = since(s);
                    const double sil = km::silhouette(d, c.labels, nullptr, kestrel::exec_policy{t});
                    t_sil = since(s);
                    if (!(sil > -2)) std::fprintf(stderr, "silhouette %g\n", sil);  // keeps the call
                };
                if (r % 2 == 0) {
                    swap_only();
                    whole();
                } else {
                    whole();
                    swap_only();
                }
                std::printf("%zu,%zu,%s,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.10g\n", n, k, algorithm.c_str(), t, r + 1,
                            t_swap.wall, t_whole.wall, t_sil.wall, t_swap.cpu, t_whole.cpu, t_sil.cpu, loss);
                std::fflush(stdout);
            }
        }
    }
    return 0;
}
