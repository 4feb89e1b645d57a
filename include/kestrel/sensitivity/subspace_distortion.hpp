// How good is a row sample as an l_p subspace embedding? For the sampled and rescaled matrix
// S A (rows scale[j] * a_{rows[j]}) and A itself, the largest relative error
//
//     | ||S A x||_p^p - ||A x||_p^p | / ||A x||_p^p
//
// over a set of test directions x:
//   random       standard Gaussian x (options.random_directions of them);
//   adversarial  the right singular directions of A with the smallest singular values
//                (eigenvectors of A^T A, options.smallest_directions of them), the coordinate
//                directions e_1..e_d, and for the options.coherent_rows rows of largest leverage
//                the direction x = (A^T A)^+ a_i that puts the largest share of ||A x||_2^2 on
//                row i (that share is tau_i): a sample that misses a coherent row fails there.
// For p = 2 it also reports the exact worst case over all x: max |lambda - 1| over the
// eigenvalues lambda of (A^T A)^{-1/2} (S A)^T (S A) (A^T A)^{-1/2} (full column rank only).
// Cost: one pass over A for A^T A and leverage, one for ||A x||_p^p of every direction.
#pragma once

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/random.hpp"
#include "../core/view.hpp"
#include "detail/matrix_common.hpp"

namespace kestrel::sensitivity {

/// Which test directions subspace_distortion uses.
struct distortion_options {
    std::size_t random_directions = 64;
    std::size_t smallest_directions = 3;
    std::size_t coherent_rows = 8;
    std::uint64_t seed = 0;
};

/// Largest relative errors of ||S A x||_p^p against ||A x||_p^p.
struct distortion_report {
    double max_error = 0.0;              ///< over every direction tested
    double max_error_random = 0.0;       ///< over the Gaussian directions
    double max_error_adversarial = 0.0;  ///< over the singular, coordinate and coherent-row directions
    /// p = 2 and full column rank: sup over all x of the relative error; NaN otherwise.
    double l2_exact = std::numeric_limits<double>::quiet_NaN();
    std::size_t directions = 0;          ///< directions with ||A x|| > 0 that were tested
};

/// Distortion of the sample (rows, scale) of A for the l_p norm, p > 0 finite. rows[j] < n,
/// scale[j] finite and >= 0, rows.size() == scale.size() >= 1.
template <class Derived>
distortion_report subspace_distortion(const Eigen::MatrixBase<Derived>& A, vector_view<const std::size_t> rows,
                                      vector_view<const double> scale, double p, const distortion_options& options = {},
                                      exec_policy policy = {}) {
    const char* f = "subspace_distortion";
    require(std::isfinite(p) && p > 0.0, f, "p", "must be finite and > 0, got ", p);
    require(options.random_directions + options.smallest_directions + options.coherent_rows <= (std::size_t(1) << 16), f,
            "options", "asks for more than 65536 directions");
    detail::check_matrix(A, f, "A", false, policy);
    require(!rows.empty(), f, "rows", "is empty (a sample needs m >= 1 rows)");
    require_size(scale.size(), rows.size(), f, "scale", "rows");
    const Eigen::Index n = A.rows(), d = A.cols();
    for (std::size_t j = 0; j < rows.size(); ++j) {
        require(rows[j] < static_cast<std::size_t>(n), f, "rows", "entry ", j, " is ", rows[j], " (A has ", n, " rows)");
        require(std::isfinite(scale[j]) && scale[j] >= 0.0, f, "scale", "entry ", j, " is ", scale[j],
                " (must be finite and >= 0)");
    }

    const Eigen::MatrixXd G = detail::weighted_gram(A, nullptr, policy);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G);
    const Eigen::VectorXd lam = eig.eigenvalues();  // ascending
    const Eigen::MatrixXd V = eig.eigenvectors();
    const double lam_max = std::max(lam(d - 1), 0.0);
    const double cut = lam_max * 1e-12 * static_cast<double>(d);
    Eigen::VectorXd inv = Eigen::VectorXd::Zero(d);  // pseudo-inverse spectrum
    Eigen::Index positive = 0;
    for (Eigen::Index j = 0; j < d; ++j)
        if (lam(j) > cut) {
            inv(j) = 1.0 / lam(j);
            ++positive;
        }

    // Directions: columns of X.
    std::vector<Eigen::VectorXd> dirs;
    std::vector<char> adversarial;
    const counter_rng rng(options.seed, 11);
    for (std::size_t k = 0; k < options.random_directions; ++k) {
        Eigen::VectorXd x(d);
        for (Eigen::Index j = 0; j < d; ++j) {
            const std::uint64_t idx = static_cast<std::uint64_t>(k) * static_cast<std::uint64_t>(d) + static_cast<std::uint64_t>(j);
            const auto z = rng.normal_pair(idx / 2);
            x(j) = idx % 2 == 0 ? z.first : z.second;
        }
        dirs.push_back(x);
        adversarial.push_back(0);
    }
    {
        std::size_t taken = 0;
        for (Eigen::Index j = 0; j < d && taken < options.smallest_directions; ++j)
            if (lam(j) > cut) {
                dirs.push_back(V.col(j));
                adversarial.push_back(1);
                ++taken;
            }
    }
    for (Eigen::Index j = 0; j < d; ++j) {
        dirs.push_back(Eigen::VectorXd::Unit(d, j));
        adversarial.push_back(1);
    }
    if (options.coherent_rows > 0 && positive > 0) {
        // Leverage tau_i = a_i^T G^+ a_i, then the top rows by leverage.
        const Eigen::MatrixXd Wm = V * inv.cwiseSqrt().asDiagonal();  // G^+ = Wm Wm^T
        std::vector<double> tau(static_cast<std::size_t>(n));
        std::vector<Eigen::MatrixXd> ys(static_cast<std::size_t>(std::max(1, effective_threads(policy))));
        detail::for_row_blocks(A, policy, [&](Eigen::Index r0, Eigen::Index len, Eigen::MatrixXd& blk) {
            Eigen::MatrixXd& Y = ys[static_cast<std::size_t>(current_loop_slot())];
            Y.noalias() = blk * Wm;
            for (Eigen::Index i = 0; i < len; ++i) tau[static_cast<std::size_t>(r0 + i)] = Y.row(i).squaredNorm();
        });
        const std::size_t t = std::min<std::size_t>(options.coherent_rows, static_cast<std::size_t>(n));
        std::vector<std::size_t> idx(static_cast<std::size_t>(n));
        std::iota(idx.begin(), idx.end(), std::size_t(0));
        std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(t), idx.end(),
                          [&](std::size_t a, std::size_t b) { return tau[a] > tau[b] || (tau[a] == tau[b] && a < b); });
        for (std::size_t k = 0; k < t; ++k) {
            const Eigen::VectorXd a = A.row(static_cast<Eigen::Index>(idx[k])).transpose().template cast<double>();
            dirs.push_back(V * inv.asDiagonal() * (V.transpose() * a));
            adversarial.push_back(1);
        }
    }
    const Eigen::Index K = static_cast<Eigen::Index>(dirs.size());
    Eigen::MatrixXd X(d, K);
    for (Eigen::Index k = 0; k < K; ++k) X.col(k) = dirs[static_cast<std::size_t>(k)];

    // ||A x_k||_p^p for every k: block partials combined in block order.
    auto scratch = detail::slot_scratch(policy);
    auto prods = detail::slot_scratch(policy);
    const Eigen::VectorXd full = deterministic_reduce(
        detail::matrix_block_count(n), policy, Eigen::VectorXd(Eigen::VectorXd::Zero(K)),
        [&](std::size_t b) -> Eigen::VectorXd {
            detail::eigen_serial_scope serial;
            const std::size_t slot = static_cast<std::size_t>(current_loop_slot());
            const Eigen::Index r0 = static_cast<Eigen::Index>(b) * detail::matrix_block_rows;
            const Eigen::Index len = std::min(detail::matrix_block_rows, n - r0);
            detail::load_rows(A, r0, len, scratch[slot]);
            Eigen::MatrixXd& Y = prods[slot];
            Y.noalias() = scratch[slot] * X;
            return Y.array().abs().pow(p).colwise().sum().transpose();
        },
        [](Eigen::VectorXd acc, const Eigen::VectorXd& v) {
            acc += v;
            return acc;
        });
    const std::size_t m = rows.size();
    Eigen::MatrixXd SA(static_cast<Eigen::Index>(m), d);
    for (std::size_t j = 0; j < m; ++j)
        SA.row(static_cast<Eigen::Index>(j)) =
            scale[j] * A.row(static_cast<Eigen::Index>(rows[j])).template cast<double>();
    const Eigen::VectorXd sampled = (SA * X).array().abs().pow(p).colwise().sum().transpose();

    distortion_report rep;
    for (Eigen::Index k = 0; k < K; ++k) {
        if (!(full(k) > 0.0)) continue;  // x in the null space of A: nothing to preserve
        const double e = std::abs(sampled(k) - full(k)) / full(k);
        ++rep.directions;
        rep.max_error = std::max(rep.max_error, e);
        if (adversarial[static_cast<std::size_t>(k)]) rep.max_error_adversarial = std::max(rep.max_error_adversarial, e);
        else rep.max_error_random = std::max(rep.max_error_random, e);
    }
    if (p == 2.0 && positive == d) {
        // (A^T A)^{-1/2} H (A^T A)^{-1/2} with H = (SA)^T SA, in the eigenbasis of A^T A.
        const Eigen::MatrixXd Wm = V * inv.cwiseSqrt().asDiagonal();
        const Eigen::MatrixXd H = SA.transpose() * SA;
        const Eigen::MatrixXd C = Wm.transpose() * H * Wm;
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ce(C, Eigen::EigenvaluesOnly);
        rep.l2_exact = std::max(std::abs(ce.eigenvalues()(0) - 1.0), std::abs(ce.eigenvalues()(d - 1) - 1.0));
    }
    return rep;
}

}  // namespace kestrel::sensitivity
