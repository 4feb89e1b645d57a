// The inputs of speculative verification: one model's rows over the vocabulary for every
// request and drafted position, in the caller's memory, as probabilities or as logits.
//
// Layout: row (request b, position i) starts at data + b * request_stride + i * position_stride
// and holds `vocab` values. For the target model a request with draft length K needs rows
// 0..K (K + 1 rows: one per drafted token and one for the bonus token); for the draft model
// rows 0..K-1. Rows past a request's draft length are never read (ragged batches need no
// padding values).
//
// Logits: the law of a row is softmax(l / temperature). If log_normalizers is given, entry
// b * positions + i must be log(sum_y exp(l_y / temperature)) for that row in the temperature
// in use (most softmax kernels produce it); otherwise Kestrel computes it from the row, only
// for rows it needs (a chain verification stops reading at the first rejection).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../core/error.hpp"
#include "../core/view.hpp"

namespace kestrel {
namespace speculative {

enum class row_kind { probabilities, logits };

/// One model's rows [batch][positions][vocab] in user memory (see the header comment).
template <class T>
struct token_rows {
    const T* data = nullptr;
    std::size_t batch = 0, positions = 0, vocab = 0;
    std::size_t position_stride = 0;  ///< elements from one position's row to the next; 0 = vocab
    std::size_t request_stride = 0;   ///< elements from one request's rows to the next; 0 = positions * position_stride
    row_kind kind = row_kind::probabilities;
    const double* log_normalizers = nullptr;  ///< logits only, optional: [batch][positions]

    bool present() const noexcept { return data != nullptr; }
    std::size_t pos_stride() const noexcept { return position_stride ? position_stride : vocab; }
    std::size_t req_stride() const noexcept { return request_stride ? request_stride : positions * pos_stride(); }
    const T* row(std::size_t b, std::size_t i) const noexcept { return data + b * req_stride() + i * pos_stride(); }
};

/// Dense probability rows: a [batch][positions][vocab] block with no padding.
template <class T>
token_rows<T> probability_rows(const T* data, std::size_t batch, std::size_t positions, std::size_t vocab) {
    token_rows<T> r;
    r.data = data, r.batch = batch, r.positions = positions, r.vocab = vocab, r.kind = row_kind::probabilities;
    return r;
}

/// Dense logit rows, with optional log-normalizers [batch][positions].
template <class T>
token_rows<T> logit_rows(const T* data, std::size_t batch, std::size_t positions, std::size_t vocab,
                         const double* log_normalizers = nullptr) {
    token_rows<T> r;
    r.data = data, r.batch = batch, r.positions = positions, r.vocab = vocab, r.kind = row_kind::logits;
    r.log_normalizers = log_normalizers;
    return r;
}

/// Tolerance on the sum of a probability row: |sum - 1| <= row_sum_tolerance (float rows
/// summed in double; softmax outputs in float are typically within 1e-5 of 1).
inline constexpr double default_row_sum_tolerance = 1e-4;

namespace detail {

inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* function, const char* argument) {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a)
        fail_argument(function, argument, "size product ", a, " * ", b, " overflows");
    return a * b;
}

/// Shape checks of a rows object (not the values): non-null when non-empty, vocab >= 1 and
/// below 2^31 (token ids are int32), strides that hold a row, extents that do not wrap.
template <class T>
void check_rows_shape(const token_rows<T>& r, const char* function, const char* argument, std::size_t batch,
                      std::size_t min_positions) {
    require(r.data != nullptr, function, argument, "data is null");
    require(r.batch == batch, function, argument, "batch ", r.batch, " does not match the batch of the draft tokens (",
            batch, ")");
    require(r.vocab >= 1 && r.vocab <= std::size_t(std::numeric_limits<std::int32_t>::max()), function, argument,
            "vocab must lie in [1, 2^31 - 1], got ", r.vocab);
    require(r.positions >= min_positions, function, argument, "holds ", r.positions,
            " positions per request, fewer than the longest draft needs (", min_positions, ")");
    require(r.position_stride == 0 || r.position_stride >= r.vocab, function, argument, "position_stride ",
            r.position_stride, " is smaller than vocab (", r.vocab, ")");
    const std::size_t ps = r.pos_stride();
    const std::size_t per_request = checked_mul(r.positions == 0 ? 0 : r.positions - 1, ps, function, argument) + r.vocab;
    require(r.request_stride == 0 || r.batch <= 1 || r.request_stride >= per_request, function, argument,
            "request_stride ", r.request_stride, " is smaller than one request's rows (", per_request, ")");
    const std::size_t last = checked_mul(r.batch == 0 ? 0 : r.batch - 1, r.req_stride(), function, argument);
    require(last <= std::numeric_limits<std::size_t>::max() / sizeof(T) - per_request, function, argument,
            "extent overflows");
    require(r.kind == row_kind::logits || r.log_normalizers == nullptr, function, argument,
            "log_normalizers are for logit rows only");
}

}  // namespace detail

}  // namespace speculative
}  // namespace kestrel
