// Choosing SOR's omega for a sequence of related systems from iteration counts alone
// ("Learning to Relax: Setting Solver Parameters Across a Sequence of Linear System
// Instances", Khodak, Chow, Balcan, Talwalkar).
//
// The paper's non-contextual result: run a bandit algorithm over a grid of omegas in (0, 2),
// with the cost of instance t the number of SOR iterations it took, normalized to [0, 1] by
// the iteration cap m (a run that hits the cap costs 1), and the total cost approaches that of
// the best fixed omega in hindsight (regret sublinear in the number of instances). The bandit
// algorithm used there is Tsallis-INF (Zimmert & Seldin, "Tsallis-INF: An Optimal Algorithm for
// Stochastic and Adversarial Bandits", JMLR 2021, Algorithm 1 with alpha = 1/2), implemented
// here:
//     weights  w_{t,i} = 4 (eta_t (Lhat_i - x_t))^-2, x_t < min_i Lhat_i the normalizer with
//              sum_i w_{t,i} = 1 (found by Newton's method from the left, where it is monotone),
//     eta_t = learning_rate * 2 / sqrt(t)  (t = 1, 2, ...; learning_rate = 1 is the paper's),
//     draw  I_t ~ w_t with the seeded counter-based uniform number t (same choices at any
//           thread count, on any machine),
//     update Lhat_{I_t} += cost_t / w_{t,I_t}  (importance-weighted, unbiased).
// The contextual variant of the paper (omega as a function of a per-instance feature such as
// a diagonal shift) is not implemented.
//
//   omega_bandit(grid, max_cost, seed[, learning_rate])   arms = the grid (each in (0, 2))
//   choose()                       -> arm index for the next instance (the t-th choose)
//   observe(arm, cost)             cost = iterations in [0, max_cost] (clipped at max_cost);
//                                  must follow the choose() that returned `arm`
//   probabilities()                current weights
//   run_omega_bandit(bandit, count, solve)   for t < count: arm = choose(),
//                                  cost = solve(t, omega), observe; returns the chosen omegas,
//                                  the costs and their total. solve may throw; the exception
//                                  reaches the caller and the bandit keeps its state before t.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"

namespace kestrel {
namespace fixed_point {

class omega_bandit {
public:
    omega_bandit(std::vector<double> grid, double max_cost, std::uint64_t seed, double learning_rate = 1.0)
        : grid_(std::move(grid)), max_cost_(max_cost), lr_(learning_rate), rng_(seed, 0x6f6d6567u) {
        const char* f = "omega_bandit";
        require(!grid_.empty(), f, "grid", "must hold at least one omega");
        for (std::size_t i = 0; i < grid_.size(); ++i)
            require(grid_[i] > 0.0 && grid_[i] < 2.0, f, "grid", "omega ", grid_[i], " at index ", i,
                    " must lie in (0, 2)");
        require(std::isfinite(max_cost) && max_cost > 0.0, f, "max_cost", "must be finite and > 0, got ", max_cost);
        require(std::isfinite(learning_rate) && learning_rate > 0.0, f, "learning_rate",
                "must be finite and > 0, got ", learning_rate);
        lhat_.assign(grid_.size(), 0.0);
        w_.assign(grid_.size(), 1.0 / static_cast<double>(grid_.size()));
    }

    std::size_t arms() const noexcept { return grid_.size(); }
    double omega(std::size_t arm) const {
        require(arm < grid_.size(), "omega_bandit::omega", "arm", arm, " >= ", grid_.size(), " arms");
        return grid_[arm];
    }
    const std::vector<double>& grid() const noexcept { return grid_; }
    /// Weights of the next choose() (after the last observe()).
    const std::vector<double>& probabilities() const noexcept { return w_; }
    std::size_t rounds() const noexcept { return t_; }

    /// The arm for the next instance.
    std::size_t choose() {
        require(!pending_, "omega_bandit::choose", "state", "the previous choice has not been observed");
        compute_weights(t_ + 1);
        const double u = rng_.uniform_double(t_);
        double c = 0.0;
        std::size_t arm = grid_.size() - 1;
        for (std::size_t i = 0; i < grid_.size(); ++i) {
            c += w_[i];
            if (u < c) {
                arm = i;
                break;
            }
        }
        pending_ = true;
        arm_ = arm;
        return arm;
    }

    /// The cost (iterations) of the instance solved with the arm choose() returned.
    void observe(std::size_t arm, double cost) {
        const char* f = "omega_bandit::observe";
        require(pending_, f, "state", "no choose() to observe");
        require(arm == arm_, f, "arm", arm, " is not the arm chosen (", arm_, ")");
        require(std::isfinite(cost) && cost >= 0.0, f, "cost", "must be finite and >= 0, got ", cost);
        const double loss = std::min(cost, max_cost_) / max_cost_;
        lhat_[arm] += loss / w_[arm];
        pending_ = false;
        ++t_;
        compute_weights(t_ + 1);
    }

private:
    // w_i = 4 / (eta (L_i - x))^2 with sum 1 (Zimmert & Seldin, Alg. 1, alpha = 1/2).
    void compute_weights(std::size_t t) {
        const double eta = lr_ * 2.0 / std::sqrt(static_cast<double>(t));
        const double lmin = *std::min_element(lhat_.begin(), lhat_.end());
        // At x = lmin - 2/eta the best arm alone has weight 1, so the sum is >= 1; the sum
        // increases and is convex in x on (-inf, lmin): Newton from there moves left to the root.
        double x = lmin - 2.0 / eta;
        for (int it = 0; it < 100; ++it) {
            double s = 0.0, ds = 0.0;
            for (double L : lhat_) {
                const double g = eta * (L - x);
                s += 4.0 / (g * g);
                ds += 8.0 * eta / (g * g * g);
            }
            const double step = (s - 1.0) / ds;
            x -= step;
            if (std::abs(s - 1.0) < 1e-13) break;
        }
        double sum = 0.0;
        for (std::size_t i = 0; i < lhat_.size(); ++i) {
            const double g = eta * (lhat_[i] - x);
            w_[i] = 4.0 / (g * g);
            sum += w_[i];
        }
        for (double& w : w_) w /= sum;
    }

    std::vector<double> grid_;
    double max_cost_, lr_;
    counter_rng rng_;
    std::vector<double> lhat_, w_;
    std::size_t t_ = 0, arm_ = 0;
    bool pending_ = false;
};

struct omega_bandit_run {
    std::vector<double> omegas;  ///< omega chosen for instance t
    std::vector<double> costs;   ///< its cost (iterations) as returned by solve
    double total_cost = 0.0;
};

/// Runs `count` instances: omega from the bandit, cost = solve(t, omega) (iterations, >= 0).
template <class Solve>
omega_bandit_run run_omega_bandit(omega_bandit& bandit, std::size_t count, Solve&& solve) {
    omega_bandit_run out;
    out.omegas.reserve(count);
    out.costs.reserve(count);
    for (std::size_t t = 0; t < count; ++t) {
        omega_bandit saved = bandit;
        const std::size_t arm = bandit.choose();
        const double omega = bandit.omega(arm);
        double cost;
#if KESTREL_HAS_EXCEPTIONS
        try {
            cost = static_cast<double>(solve(t, omega));
            bandit.observe(arm, cost);
        } catch (...) {
            bandit = saved;
            throw;
        }
#else
        cost = static_cast<double>(solve(t, omega));
        bandit.observe(arm, cost);
#endif
        out.omegas.push_back(omega);
        out.costs.push_back(cost);
        out.total_cost += cost;
    }
    return out;
}

}  // namespace fixed_point
}  // namespace kestrel
