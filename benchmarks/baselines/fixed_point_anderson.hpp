// Baselines for the accelerated fixed-point solvers (benchmarks and tests).
//
// anderson_from_scratch: Anderson acceleration type II as it is usually written (Walker & Ni
// (4.1), damped form) with whole-array Eigen operations: the histories Delta F and Delta X are
// n x m_k matrices whose columns are shifted when the oldest is dropped, and the least-squares
// problem min ||f_k - Delta F gamma||^2 + mu ||gamma||^2 is solved FROM SCRATCH each iterate by a
// Householder QR of the stacked matrix [Delta F; sqrt(mu) I] (mu = tikhonov * ||Delta F||_F^2).
// Same options and the same delay / periodic-restart / safeguard / extrapolation-period rules as
// kestrel::fixed_point::anderson, except the conditioning restart (the reference has none).
//
// plain_iteration: x <- (1 - a) x + a G(x) with whole-array operations and a separate norm.
#pragma once

#include <Eigen/Dense>

#include <cmath>
#include <cstddef>
#include <vector>

#include <kestrel/fixed_point/anderson.hpp>

namespace kestrel_baseline {

template <class T, class Map>
kestrel::fixed_point::fixed_point_result anderson_from_scratch(Map&& G, std::vector<T>& x0,
                                                               const kestrel::fixed_point::anderson_options& o,
                                                               std::vector<std::vector<T>>* iterates = nullptr) {
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    const Eigen::Index n = static_cast<Eigen::Index>(x0.size());
    const Eigen::Index m = o.memory;
    Vec x = Eigen::Map<Vec>(x0.data(), n), gx(n), xn(n), gn(n);
    Mat dF(n, 0), dX(n, 0);
    auto eval = [&](const Vec& a, Vec& b) { G(a.data(), b.data()); };
    kestrel::fixed_point::fixed_point_result r;
    eval(x, gx);
    ++r.evaluations;
    Vec f = gx - x;
    double fk = static_cast<double>(f.template cast<double>().norm());
    r.initial_residual_norm = r.residual_norm = fk;
    r.tolerance = o.atol + o.rtol * fk;
    const double beta = o.damping;
    std::size_t since_restart = 0;
    if (iterates) iterates->assign(1, std::vector<T>(x.data(), x.data() + n));
    for (std::size_t k = 0;; ++k) {
        if (fk <= r.tolerance) {
            r.converged = true;
            break;
        }
        if (k == o.max_iterations) break;
        const Eigen::Index used = dF.cols();
        auto step = [&](bool accelerate) {
            xn = x + T(beta) * f;
            if (accelerate) {
                const double mu = o.tikhonov * static_cast<double>(dF.template cast<double>().squaredNorm());
                Eigen::MatrixXd A(n + used, used);
                Eigen::VectorXd b(n + used);
                A.topRows(n) = dF.template cast<double>();
                A.bottomRows(used) = std::sqrt(mu) * Eigen::MatrixXd::Identity(used, used);
                b.head(n) = f.template cast<double>();
                b.tail(used).setZero();
                const Eigen::VectorXd gamma = A.householderQr().solve(b);
                xn -= ((dX + T(beta) * dF) * gamma.template cast<T>());
            }
        };
        // Alternating Anderson: extrapolate only at (k + 1) % period == 0.
        const std::size_t period = o.extrapolation_period;
        const bool accelerated = used > 0 && (period <= 1 || (k + 1) % period == 0);
        step(accelerated);
        eval(xn, gn);
        ++r.evaluations;
        Vec fn = gn - xn;
        double fnew = static_cast<double>(fn.template cast<double>().norm());
        if (accelerated && o.safeguard_factor > 0 && fnew > o.safeguard_factor * fk) {
            ++r.safeguard_events;
            dF.resize(n, 0);
            dX.resize(n, 0);
            since_restart = 0;
            xn = x + T(beta) * f;
            eval(xn, gn);
            ++r.evaluations;
            fn = gn - xn;
            fnew = static_cast<double>(fn.template cast<double>().norm());
        }
        if (m > 0 && k >= o.delay) {
            if (dF.cols() == m) {  // drop the oldest column (shift left)
                dF = Mat(dF.rightCols(m - 1));
                dX = Mat(dX.rightCols(m - 1));
            }
            dF.conservativeResize(n, dF.cols() + 1);
            dX.conservativeResize(n, dX.cols() + 1);
            dF.col(dF.cols() - 1) = fn - f;
            dX.col(dX.cols() - 1) = xn - x;
            if (o.restart_period > 0 && ++since_restart >= o.restart_period) {
                dF.resize(n, 0);
                dX.resize(n, 0);
                since_restart = 0;
                ++r.restarts;
            }
        }
        x = xn;
        f = fn;
        fk = fnew;
        r.residual_norm = fk;
        ++r.iterations;
        if (iterates) iterates->push_back(std::vector<T>(x.data(), x.data() + n));
    }
    for (Eigen::Index i = 0; i < n; ++i) x0[static_cast<std::size_t>(i)] = x[i];
    return r;
}

template <class T, class Map>
kestrel::fixed_point::fixed_point_result plain_iteration(Map&& G, std::vector<T>& x0, double a, double rtol,
                                                         std::size_t max_iterations) {
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const Eigen::Index n = static_cast<Eigen::Index>(x0.size());
    Vec x = Eigen::Map<Vec>(x0.data(), n), gx(n);
    kestrel::fixed_point::fixed_point_result r;
    for (std::size_t k = 0;; ++k) {
        G(x.data(), gx.data());
        ++r.evaluations;
        const double res = static_cast<double>((gx - x).template cast<double>().norm());
        if (k == 0) {
            r.initial_residual_norm = res;
            r.tolerance = rtol * res;
        }
        r.residual_norm = res;
        if (res <= r.tolerance) {
            r.converged = true;
            break;
        }
        if (k == max_iterations) break;
        x = T(1 - a) * x + T(a) * gx;
        ++r.iterations;
    }
    for (Eigen::Index i = 0; i < n; ++i) x0[static_cast<std::size_t>(i)] = x[i];
    return r;
}

}  // namespace kestrel_baseline
