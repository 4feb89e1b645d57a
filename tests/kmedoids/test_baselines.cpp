// The benchmark baselines compute what they claim (so a fast wrong kernel cannot hide behind
// a wrong baseline). PAMMEDSIL is checked swap for swap against FastMSC in test_fastmsc.cpp;
// original PAM and CLARA are library functions tested in test_swap.cpp and
// test_fastpam2_clara_clarans.cpp.
#include <catch2/catch.hpp>

#include <kestrel/kmedoids.hpp>

#include <set>
#include <vector>

#include "baselines/kmedoids.hpp"
#include "kmedoids_test_util.hpp"

namespace km = kestrel::kmedoids;

TEST_CASE("kmedoids: the original-CLARANS baseline searches as Ng & Han describe") {
    const auto in = kmedoids_test::blob_instance(400, 5, 3, 6.0, 21);
    const auto d = in.dissimilarity();
    const auto a = kestrel_baseline::clarans_original(d, 5, 2, 0, 3);
    // Its loss is the loss of its medoids, and a run is reproducible from the seed.
    CHECK(a.loss == Approx(kmedoids_test::direct_loss(d, a.medoids)).epsilon(1e-12));
    CHECK(std::set<std::size_t>(a.medoids.begin(), a.medoids.end()).size() == 5);
    const auto b = kestrel_baseline::clarans_original(d, 5, 2, 0, 3);
    CHECK(a.medoids == b.medoids);
    CHECK(a.draws == b.draws);
    // Default maxneighbor = max(250, 1.25% of k (n - k)) = 250 here: at least 2 x 250 draws.
    CHECK(a.draws >= 500);
    // Every swap lowered the loss: the result is no worse than FasterPAM by more than CLARANS'
    // usual few percent, and with maxneighbor far above k (n - k) it is a single-swap local
    // optimum (FastPAM1 finds no improving swap from it).
    const auto full = km::fasterpam(d, km::pam_build(d, 5));
    CHECK(a.loss <= 1.05 * full.loss);
    const auto e = kestrel_baseline::clarans_original(d, 5, 1, 30 * 5 * 395, 8);
    CHECK(km::fastpam1(d, e.medoids).swaps == 0);
}
