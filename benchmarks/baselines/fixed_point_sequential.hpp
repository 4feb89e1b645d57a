// Baselines and problems of the fixed_point sequential-computation benchmarks (used by
// benchmarks/fixed_point_sequential.cpp, checked against the kernels by
// tests/fixed_point/test_triangular_baselines.cpp):
//  * dense_tanh_chain: a deep feedforward chain x_t = tanh(W_t x_{t-1} + b_t) with a small dense
//    layer per step, evaluated sequentially (the baseline) or position by position for a batch.
//  * toy_corrector_lm: a toy greedy language model whose logits cost V x dim per token, with the
//    straightforward greedy decoding loop as the baseline.
//  * rotated_gaussian: a non-isotropic Gaussian data distribution x0 ~ N(mu, Q diag(s^2) Q^T) whose
//    exact denoiser D(x) = mu + Q diag(alpha s^2 / (alpha^2 s^2 + sigma^2)) Q^T (x - alpha mu)
//    costs two dense products; evaluated one state at a time (the sequential sampler's call) or a
//    window of states as one matrix product (the Picard sampler's batched call).
#pragma once

#include <Eigen/Dense>

#include <kestrel/core/random.hpp>
#include <kestrel/core/view.hpp>
#include <kestrel/diffusion/grid.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kestrel_baseline {

struct dense_tanh_chain {
    std::size_t T = 0, width = 0;
    std::vector<float> W, b;  // W_t row-major width x width, t = 1..T (index t - 1)
    dense_tanh_chain(std::size_t T_, std::size_t width_, double gain, std::uint64_t seed)
        : T(T_), width(width_), W(T_ * width_ * width_), b(T_ * width_) {
        const kestrel::counter_rng rng(seed, 0);
        // Entries N(0, gain^2 / width): spectral norm about 2 gain, so gain < 0.5 contracts.
        const double s = gain / std::sqrt(double(width));
        for (std::size_t i = 0; i < W.size(); i += 2) {
            const auto p = rng.normal_pair(i / 2);
            W[i] = float(s * p.first);
            if (i + 1 < W.size()) W[i + 1] = float(s * p.second);
        }
        const kestrel::counter_rng rb(seed, 1);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(rb.uniform_double(i) - 0.5);
    }
    /// out = tanh(W_t in + b_t), t in 1..T.
    void eval(std::size_t t, const float* in, float* out) const {
        const float* Wt = W.data() + (t - 1) * width * width;
        const float* bt = b.data() + (t - 1) * width;
        for (std::size_t i = 0; i < width; ++i) {
            float acc = bt[i];
            const float* row = Wt + i * width;
            for (std::size_t j = 0; j < width; ++j) acc += row[j] * in[j];
            out[i] = std::tanh(acc);
        }
    }
    double flop_per_eval() const { return 2.0 * double(width) * double(width); }
};

/// The baseline: x (T + 1 rows of width) from x_0, one position after the other.
inline void sequential_chain(const dense_tanh_chain& c, std::vector<float>& x) {
    for (std::size_t t = 1; t <= c.T; ++t) c.eval(t, x.data() + (t - 1) * c.width, x.data() + t * c.width);
}

/// A toy "corrector" language model: the prompt is a source sentence of n tokens; the greedy token
/// at output position i is argmax_v E_v . (E_{source_i} + gamma E_{previous output}) over V tokens
/// of embedding size dim (so it is usually the source token, but not always).
struct toy_corrector_lm {
    std::size_t V, dim;
    float gamma;
    std::vector<float> E;
    toy_corrector_lm(std::size_t V_, std::size_t dim_, float gamma_, std::uint64_t seed) : V(V_), dim(dim_), gamma(gamma_), E(V_ * dim_) {
        const kestrel::counter_rng rng(seed, 0);
        for (std::size_t i = 0; i < E.size(); ++i) E[i] = float(rng.uniform_double(i) - 0.5);
    }
    std::int32_t next(std::int32_t source_token, std::int32_t previous) const {
        std::vector<float> h(dim);
        for (std::size_t j = 0; j < dim; ++j)
            h[j] = E[std::size_t(source_token) * dim + j] + gamma * E[std::size_t(previous) * dim + j];
        std::int32_t best = 0;
        float best_logit = -1e30f;
        for (std::size_t v = 0; v < V; ++v) {
            float l = 0;
            for (std::size_t j = 0; j < dim; ++j) l += E[v * dim + j] * h[j];
            if (l > best_logit) best_logit = l, best = std::int32_t(v);
        }
        return best;
    }
};

/// The baseline: greedy decoding, one token after the other. prompt = source + separator.
inline std::vector<std::int32_t> greedy_corrector(const toy_corrector_lm& lm, const std::vector<std::int32_t>& prompt) {
    const std::size_t n = prompt.size() - 1;
    std::vector<std::int32_t> out(n);
    std::int32_t prev = prompt.back();
    for (std::size_t i = 0; i < n; ++i) prev = out[i] = lm.next(prompt[i], prev);
    return out;
}

struct rotated_gaussian {
    std::size_t d;
    Eigen::MatrixXd Q;      // orthogonal
    Eigen::VectorXd s2, mu;
    rotated_gaussian(std::size_t d_, std::uint64_t seed) : d(d_), Q(d_, d_), s2(d_), mu(d_) {
        const kestrel::counter_rng rng(seed, 0);
        Eigen::MatrixXd A(d, d);
        for (std::size_t i = 0; i < d * d; ++i) A(Eigen::Index(i / d), Eigen::Index(i % d)) = rng.normal_pair(i).first;
        Q = Eigen::HouseholderQR<Eigen::MatrixXd>(A).householderQ();
        for (std::size_t i = 0; i < d; ++i) {
            s2[Eigen::Index(i)] = 0.05 + 1.5 * rng.uniform_double(d * d + i);
            mu[Eigen::Index(i)] = rng.uniform_double(d * d + d + i) - 0.5;
        }
    }
    /// Noise predictions for the columns of X (d x L) at points p[0..L): eps = (x - alpha D) / sigma.
    void noise_batch(const Eigen::Ref<const Eigen::MatrixXd>& X, const kestrel::diffusion::grid_point* p,
                     Eigen::Ref<Eigen::MatrixXd> out) const {
        const Eigen::Index L = X.cols();
        Eigen::MatrixXd C = X;
        for (Eigen::Index c = 0; c < L; ++c) C.col(c) -= p[c].alpha * mu;
        Eigen::MatrixXd Z = Q.transpose() * C;
        for (Eigen::Index c = 0; c < L; ++c) {
            const double a = p[c].alpha, s = p[c].sigma;
            for (Eigen::Index i = 0; i < Z.rows(); ++i) Z(i, c) *= a * s2[i] / (a * a * s2[i] + s * s);
        }
        const Eigen::MatrixXd D = Q * Z;  // D - mu
        for (Eigen::Index c = 0; c < L; ++c) {
            const double a = p[c].alpha, s = p[c].sigma;
            out.col(c) = (X.col(c) - a * (D.col(c) + mu)) / s;
        }
    }
    double flop_per_eval() const { return 4.0 * double(d) * double(d); }
};

}  // namespace kestrel_baseline
