// What every k-medoids routine returns, and the options the SWAP routines share.
//
// Deterministic rules (all algorithms, any thread count):
//  * a point's nearest medoid is the one at the smallest dissimilarity; ties go to the
//    smallest slot (position in `medoids`). labels[j] is that slot.
//  * PAM and FastPAM1 take, per iteration, the swap with the smallest loss change; ties go
//    to the smallest candidate index, then to the smallest slot. A swap is made only if its
//    change is negative. A swap replaces the medoid in slot i with the candidate, in place.
//  * Losses and loss changes are accumulated in double.
#pragma once

#include <cstddef>
#include <vector>

#include "../core/parallel.hpp"

namespace kestrel {
namespace kmedoids {

struct clustering {
    std::vector<std::size_t> medoids;  ///< indices of the k medoids, by slot
    std::vector<std::size_t> labels;   ///< slot of each point's nearest medoid
    double loss = 0;                   ///< sum over points of the dissimilarity to their medoid
    std::size_t iterations = 0;        ///< SWAP iterations (passes over the candidates) run
    std::size_t swaps = 0;             ///< swaps performed
};

struct swap_options {
    std::size_t max_iter = 1000;      ///< upper bound on passes; PAM and FastPAM1 make one swap per pass, so from
                                      ///< a random start they may need a few times k passes
    exec_policy policy = {};          ///< threads (results do not depend on it)
    bool validate_input = true;       ///< O(n^2) check of the matrix: finite, >= 0, zero diagonal
    bool check_symmetry = true;       ///< ... and symmetric within symmetry_tolerance (relative)
    double symmetry_tolerance = 1e-6;
};

}  // namespace kmedoids
}  // namespace kestrel
