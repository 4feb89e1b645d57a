// What every k-medoids routine returns, and the options the SWAP routines share.
//
// Deterministic rules (all algorithms, any thread count):
//  * a point's nearest medoid is the one at the smallest dissimilarity; ties go to the
//    smallest slot (position in `medoids`). labels[j] is that slot.
//  * PAM and FastPAM1 take, per iteration, the swap with the smallest loss change; ties go
//    to the smallest candidate index, then to the smallest slot. A swap is made only if its
//    change is negative. A swap replaces the medoid in slot i with the candidate, in place.
//  * Losses and loss changes are accumulated in double.
//
// Input checks (every entry point, before it returns anything; errors are
// kestrel::invalid_argument naming the function and the argument):
//  * sizes, k, medoid lists (1 <= k <= n, distinct, in range), labels, options, a thread
//    count >= 0 and symmetry_tolerance (finite, >= 0) are checked first, before any work;
//  * dissimilarities must be finite and >= 0 with d(i, i) = 0. With validate_input, the SWAP
//    routines guarantee that every entry was checked, at almost no cost: the medoid rows are
//    checked before the first assignment, and every other row inside the first pass over the
//    candidates, which reads every row anyway (a compare folded into the memory-bound scan;
//    a row found bad is never swapped in, the search winds down and the error names the first
//    bad entry in row order; rows no pass read are checked at the end). Routines that read
//    only part of the matrix (assignment, LAB, k-means++, medoid silhouette, CLARA's final
//    evaluation) check every value they read; BUILD, silhouette, PAM, alternating and
//    CLARANS check every entry.
//  * symmetry (dense matrices; the other sources are symmetric by construction), within
//    symmetry_tolerance relative: by default on a fixed sample of 64 tile pairs of 64 x 64
//    (2^18 pairs of entries; every pair below n = 640) spread evenly over the matrix, which catches
//    systematic errors (one triangle filled, a transposed or shifted block, two different
//    matrices) for a few percent of one pass; full_symmetry_check checks every pair in one
//    extra read of the matrix (validate_dissimilarity). A full check is not the default
//    because at n >= 5000 it would cost 20-40% of FasterPAM's whole SWAP (one read of the
//    matrix against three to five), and asymmetry is not a safety issue: every kernel reads
//    d(m, o) from row m of the medoid or candidate m, so an asymmetric matrix gives the
//    well-defined result for that convention (no invalid state, no undefined behaviour),
//    whereas a NaN or negative entry can (hence those are always checked in full).
//  * user code (a metric, a custom source) may throw: the exception reaches the caller at
//    any thread count (see core/parallel.hpp), and nothing is returned.
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
    bool converged = false;            ///< stopped because no improving swap (move) remained, not
                                       ///< because of max_iter; see each routine for its rule
};

struct swap_options {
    std::size_t max_iter = 1000;      ///< upper bound on passes; PAM and FastPAM1 make one swap per pass, so from
                                      ///< a random start they may need a few times k passes
    exec_policy policy = {};          ///< threads (results do not depend on it)
    bool validate_input = true;       ///< check every entry: finite, >= 0, zero diagonal (folded into the
                                      ///< first pass where the routine has one; see above)
    bool check_symmetry = true;       ///< ... and symmetric within symmetry_tolerance (relative), on a sample
    bool full_symmetry_check = false; ///< ... on every pair instead (one extra read of the matrix)
    double symmetry_tolerance = 1e-6; ///< finite and >= 0
};

}  // namespace kmedoids
}  // namespace kestrel
